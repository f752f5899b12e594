// Package rest owns the REST facade of the gRPC API: grpc-gateway's mux
// over the in-process gRPC connection, task watches as Server-Sent Events,
// the rendering of every REST error as a google.rpc.Status, the checks a
// request passes before it becomes a gRPC call (UTF-8, Accept, body size),
// the OpenAPI document, and the browser rules (CORS). It reaches the
// service only through gRPC, so that every REST call passes the same
// interceptors as a gRPC call; internal/server mounts it on the REST
// listener.
package rest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// MaxBodyBytes bounds a REST request body; the API's bodies are tiny.
const MaxBodyBytes = 1 << 20

// jsonMarshaler renders messages as protojson does (lowerCamelCase, enums
// by name) and refuses unknown fields in request bodies.
func jsonMarshaler() *runtime.JSONPb {
	return &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
}

// Options configure [NewHandler].
type Options struct {
	// Logger receives the facade's own log lines (malformed requests).
	Logger *slog.Logger
	// SSEKeepalive, when positive, replaces how long an SSE stream stays
	// silent before a keepalive comment (15s; tests shorten it).
	SSEKeepalive time.Duration
}

// Conn is the facade's connection to the gRPC services: a gRPC client
// connection that can also run a server-streaming method on the caller's
// goroutine (internal/server's in-process channel), which the SSE watches
// use so that an idle watcher holds no stream of its own. onHeader gets
// the response header when the server sends it, send each message as it
// is sent (it must be done with it when it returns; an error from it ends
// the call); the result is the call's status.
type Conn interface {
	grpc.ClientConnInterface
	ServeServerStream(ctx context.Context, method string, req any, onHeader func(metadata.MD), send func(any) error) error
}

// NewHandler returns the REST facade over conn: grpc-gateway's mux, and
// Server-Sent Events for task watches, behind the checks that turn a bad
// path, query or Accept header into an INVALID_REQUEST. The listener's
// body limit and CORS are [LimitBody] and [CORS], which the server wraps
// around this and its sibling handlers.
func NewHandler(ctx context.Context, conn Conn, opts Options) (http.Handler, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	marshaler := jsonMarshaler()
	files := []protoreflect.FileDescriptor{vasagwv1.File_vasagw_v1_vasa_provider_service_proto, vasagwv1.File_vasagw_v1_task_service_proto, vasagwv1.File_vasagw_v1_vcenter_service_proto}
	var mux *runtime.ServeMux
	queryCheck := queryMiddleware(routeTable(files...), func(w http.ResponseWriter, r *http.Request, err error) {
		runtime.HTTPError(r.Context(), mux, marshaler, w, r, err)
	})
	mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		// Path parameters are unescaped after routing, so a moId's `:` sent
		// as %3A reaches the service as `:` without being read as a verb.
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptReserved),
		runtime.WithErrorHandler(errorHandler(log)),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		// Labels the REST metrics and spans with the matched route pattern.
		runtime.WithMiddlewares(telemetry.RouteMiddleware, queryCheck),
	)
	verbs := verbRoutes(files...)
	if err := vasagwv1.RegisterVasaProviderServiceHandlerClient(ctx, mux, vasagwv1.NewVasaProviderServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("register the REST facade: %w", err)
	}
	if err := vasagwv1.RegisterTaskServiceHandlerClient(ctx, mux, vasagwv1.NewTaskServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("register the REST facade: %w", err)
	}
	if err := vasagwv1.RegisterVCenterServiceHandlerClient(ctx, mux, vasagwv1.NewVCenterServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("register the REST facade: %w", err)
	}
	watch := sseWatch{conn: conn, marshaler: marshaler, mux: mux, keepalive: opts.SSEKeepalive}
	sse := &sseHandler{watch}
	providerSSE := &providerSSEHandler{watch}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && sse.matches(r) {
			telemetry.SetRoute(r.Context(), routeSSEWatch)
			sse.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && providerSSE.matches(r) {
			telemetry.SetRoute(r.Context(), routeSSEProviderWatch)
			providerSSE.ServeHTTP(w, r)
			return
		}
		if field, ok := validUTF8(r); !ok {
			// A proto string must be UTF-8: left to grpc-gateway, such a path
			// or query value would fail as INTERNAL when the request is
			// marshalled for the in-process call.
			runtime.DefaultHTTPErrorHandler(r.Context(), mux, marshaler, w, r,
				service.InvalidRequest(field, field+" is not valid UTF-8"))
			return
		}
		if want, ok := wrongVerbMethod(r, verbs); ok {
			w.Header().Set("Allow", want)
			routingErrorHandler(r.Context(), mux, marshaler, w, r, http.StatusMethodNotAllowed)
			return
		}
		if !acceptsJSON(r) {
			runtime.DefaultHTTPErrorHandler(r.Context(), mux, marshaler, w, r,
				service.InvalidRequest("Accept", "this API answers application/json (and text/event-stream for watches)"))
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// incomingHeader forwards the request id and the standard headers
// grpc-gateway forwards by default.
func incomingHeader(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "X-Request-Id" {
		return telemetry.RequestIDHeader, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// outgoingHeader returns the request id as X-Request-Id; other gRPC
// response metadata keeps grpc-gateway's Grpc-Metadata- prefix.
func outgoingHeader(key string) (string, bool) {
	switch key {
	case telemetry.RequestIDHeader:
		return "X-Request-Id", true
	case "content-type":
		return "", false // the gRPC content type means nothing to a REST caller
	}
	return runtime.MetadataHeaderPrefix + key, true
}

// validUTF8 reports whether the request's path and query values are valid
// UTF-8 once unescaped, and if not, which of them is not.
func validUTF8(r *http.Request) (string, bool) {
	if !utf8.ValidString(r.URL.Path) {
		return "path", false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "query", false
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return "query", false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return k, false
			}
		}
	}
	return "", true
}

// acceptsJSON reports whether the request's Accept header, if any, admits
// a JSON answer. A caller that asks only for, say, XML gets a clear
// INVALID_ARGUMENT rather than JSON it said it cannot read.
func acceptsJSON(r *http.Request) bool {
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") && !strings.Contains(params, "q=0.") {
				continue // explicitly refused
			}
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "", "*/*", "application/*", "application/json", "text/event-stream":
				return true
			}
		}
	}
	return false
}

// acceptsEventStream reports whether the request asks for Server-Sent
// Events.
func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}
