package rest

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/telemetry"
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
	conn      Conn
	marshaler runtime.Marshaler
	mux       *runtime.ServeMux
	keepalive time.Duration
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
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
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
	md := metadata.MD{}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		md.Set(telemetry.RequestIDHeader, id)
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	var (
		out       *sseWriter
		header    metadata.MD
		keepalive = h.keepalive
	)
	if keepalive <= 0 {
		keepalive = sseKeepalive
	}
	defer func() {
		if out != nil {
			out.close()
		}
	}()
	send := func(m any) error {
		ev, ok := m.(*vasagwv1.VasaProviderEvent)
		if !ok {
			return status.Errorf(codes.Internal, "watch sent %T", m)
		}
		if out == nil {
			// The first event: only now is the answer a stream; an error
			// before it is a plain HTTP error.
			if v := header.Get(telemetry.RequestIDHeader); len(v) > 0 {
				w.Header().Set("X-Request-Id", v[0])
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
			out = &sseWriter{w: w, rc: http.NewResponseController(w), seq: lastEventID(r)}
			// The keepalive runs on a timer, not a goroutine. A failed write
			// cancels the watch.
			out.startKeepalive(keepalive, cancel)
		}
		b, err := h.marshaler.Marshal(ev)
		if err != nil {
			return err
		}
		return out.event("provider", b)
	}
	err := h.conn.ServeServerStream(ctx, vasagwv1.VasaProviderService_WatchVasaProviders_FullMethodName,
		&vasagwv1.WatchVasaProvidersRequest{Parent: parent, Filter: query.Get("filter")}, func(md metadata.MD) { header = md }, send)
	switch {
	case out == nil && err != nil:
		// Nothing sent yet: a plain HTTP error, which also tells an
		// EventSource not to reconnect.
		h.fail(w, r, err)
	case out == nil:
		h.fail(w, r, status.Error(codes.Internal, "the watch ended without an event"))
	case err == nil || r.Context().Err() != nil || ctx.Err() != nil:
	default:
		if b, merr := h.marshaler.Marshal(status.Convert(err).Proto()); merr == nil {
			_ = out.event("error", b)
		}
	}
}

func (h *providerSSEHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(r.Context(), h.mux, h.marshaler, w, r, err)
}
