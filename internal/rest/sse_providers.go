package rest

import (
	"net/http"
	"strings"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/service"
)

// routeSSEProviderWatch labels SSE provider watches in the REST metrics and
// spans, as grpc-gateway labels the NDJSON watch of the same route.
const routeSSEProviderWatch = "/v1/{parent=vcenters/*}/vasaProviders:watch"

const providerWatchSuffix = "/vasaProviders:watch"

// providerSSEHandler serves `GET /v1/{parent=vcenters/*}/vasaProviders:watch`
// (with `?filter=`) as Server-Sent Events when the caller sends `Accept:
// text/event-stream`, through the same in-process gRPC connection as the
// rest of the facade.
//
// Frames: `event: provider` with a VasaProviderEvent JSON as data (the
// event itself, not wrapped) and an increasing `id`; `event: error` with a
// google.rpc.Status JSON when the watch fails after it started; a `:
// keepalive` comment when idle. The stream has no last event: it runs
// until the caller leaves or the gateway ends it. A reconnect with
// Last-Event-ID gets the whole snapshot again (UPSERTED each, then
// SNAPSHOT_COMPLETE) with ids that keep increasing.
type providerSSEHandler struct {
	sseWatch
}

// matches reports whether r is a provider watch that asks for SSE.
func (h *providerSSEHandler) matches(r *http.Request) bool {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, ssePrefix+"vcenters/") || !strings.HasSuffix(p, providerWatchSuffix) {
		return false
	}
	vc := strings.TrimSuffix(strings.TrimPrefix(p, ssePrefix+"vcenters/"), providerWatchSuffix)
	return vc != "" && !strings.Contains(vc, "/") && acceptsEventStream(r)
}

func (h *providerSSEHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parent := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), ssePrefix), providerWatchSuffix)
	query := r.URL.Query()
	for key := range query {
		if key != "filter" {
			h.fail(w, r, service.InvalidRequest(key, "unknown query parameter "+key))
			return
		}
	}
	if len(query["filter"]) > 1 {
		h.fail(w, r, service.InvalidRequest("filter", "filter is given more than once"))
		return
	}
	h.serve(w, r, vasagwv1.VasaProviderService_WatchVasaProviders_FullMethodName,
		&vasagwv1.WatchVasaProvidersRequest{Parent: parent, Filter: query.Get("filter")}, "provider", nil)
}
