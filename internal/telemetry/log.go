package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// RequestIDHeader is the gRPC metadata key of a caller's request id (REST:
// X-Request-Id); the gateway makes one when the caller sent none, logs it
// with every line of the call, and returns it.
const RequestIDHeader = "x-request-id"

// NewLogger returns the process logger at level (debug, info, warn or
// error): JSON, or text for format "text" and for "auto" when w is a
// terminal. Every line logged with a call's context carries its request
// id and, when traced, its trace and span ids.
func NewLogger(format, levelName string, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(levelName))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	text := format == "text"
	if f, ok := w.(*os.File); ok && format == "auto" {
		text = isTerminal(f)
	}
	if text {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{h})
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

type requestIDKey struct{}

// contextHandler adds the request id of the call, and its trace and span
// ids when the call is traced, to every record logged with its context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// withRequestID takes the caller's request id from the incoming metadata
// (or makes one), puts it in the context for the logs, and sends it back as
// a response header.
func withRequestID(ctx context.Context) context.Context {
	var id string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 && validRequestID(v[0]) {
			id = v[0]
		}
	}
	if id == "" {
		id = newRequestID()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
	return context.WithValue(ctx, requestIDKey{}, id)
}

// validRequestID keeps caller-chosen ids printable and short, so they are
// safe to log.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestIDUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx = withRequestID(ctx)
		resp, err := handler(ctx, req)
		if err != nil {
			log.DebugContext(ctx, "call failed", "method", info.FullMethod, "error", err)
		}
		return resp, err
	}
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s contextStream) Context() context.Context { return s.ctx }

func requestIDStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := withRequestID(ss.Context())
		err := handler(srv, contextStream{ss, ctx})
		if err != nil {
			log.DebugContext(ctx, "stream ended with an error", "method", info.FullMethod, "error", err)
		}
		return err
	}
}
