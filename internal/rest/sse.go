package rest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// routeSSEWatch labels SSE task watches in the REST metrics and spans, as
// grpc-gateway labels the NDJSON watch of the same route.
const routeSSEWatch = "/v1/{name=vcenters/*/tasks/*}:watch"

// sseKeepalive is the longest the SSE stream stays silent: proxies and
// browsers drop connections that say nothing.
const sseKeepalive = 15 * time.Second

// sseHandler serves `GET /v1/{name=vcenters/*/tasks/*}:watch` as
// Server-Sent Events when the caller sends `Accept: text/event-stream`
// (grpc-gateway has no SSE). It watches through the same in-process gRPC
// connection as the rest of the facade, so it shares the task's poller, and
// with [Conn.ServeServerStream], so the watch runs on the HTTP handler's
// goroutine: an idle watcher is that goroutine, its connection and the
// service's subscription, nothing more.
//
// Frames: `event: task` with the Task JSON as data and an increasing `id`;
// `event: error` with a google.rpc.Status JSON when the watch fails after it
// started; a `: keepalive` comment when idle. The stream closes after the
// terminal task event. A reconnect with Last-Event-ID gets the current
// snapshot first and ids that keep increasing.
type sseHandler struct {
	sseWatch
}

// sseWatch is what the SSE watches share: the in-process connection they
// watch through, and how they answer (the marshaler, the mux whose error
// rendering an error before the first event gets, the keepalive interval).
type sseWatch struct {
	conn      Conn
	marshaler runtime.Marshaler
	mux       *runtime.ServeMux
	keepalive time.Duration
}

const (
	ssePrefix = "/v1/"
	sseSuffix = ":watch"
)

// matches reports whether r is a task watch that asks for SSE.
func (h *sseHandler) matches(r *http.Request) bool {
	p := r.URL.EscapedPath()
	return strings.HasPrefix(p, ssePrefix+"vcenters/") && strings.HasSuffix(p, sseSuffix) &&
		strings.Contains(p, "/tasks/") && acceptsEventStream(r)
}

func (h *sseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), ssePrefix), sseSuffix)
	h.serve(w, r, vasagwv1.TaskService_WatchTask_FullMethodName, &vasagwv1.WatchTaskRequest{Name: name}, "task",
		func(m proto.Message) bool {
			t, ok := m.(*vasagwv1.Task)
			return ok && terminalState(t)
		})
}

// serve runs the server-streaming method with req over the in-process
// connection, on this goroutine, and sends each message as an `event:
// name` frame. The answer becomes a stream with the first message: an
// error before it is a plain HTTP error (which also tells an EventSource not
// to reconnect), one after it an `event: error` frame. When last reports
// true for a message, the stream ends after it (nil: only the service or
// the caller ends it).
func (h *sseWatch) serve(w http.ResponseWriter, r *http.Request, method string, req proto.Message, name string, last func(proto.Message) bool) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	md := metadata.MD{}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		md.Set(telemetry.RequestIDHeader, id)
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	var (
		out       *sseWriter
		header    metadata.MD
		ended     bool
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
		msg, ok := m.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "watch sent %T", m)
		}
		if out == nil {
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
		b, err := h.marshaler.Marshal(msg)
		if err != nil {
			return err
		}
		if err := out.event(name, b); err != nil {
			return err
		}
		if last != nil && last(msg) {
			// The watch ends here for this caller; the service sees its
			// stream cancelled, as when a client goes away.
			ended = true
			cancel()
			return context.Canceled
		}
		return nil
	}
	err := h.conn.ServeServerStream(ctx, method, req, func(md metadata.MD) { header = md }, send)
	switch {
	case out == nil && err != nil:
		h.fail(w, r, err)
	case out == nil:
		h.fail(w, r, status.Error(codes.Internal, "the watch ended before its first event"))
	case ended || err == nil || r.Context().Err() != nil || ctx.Err() != nil:
	default:
		if b, merr := h.marshaler.Marshal(status.Convert(err).Proto()); merr == nil {
			_ = out.event("error", b)
		}
	}
}

// sseWriter writes the frames of one SSE stream. Events and keepalive
// comments come from two places (the stream and a timer), so writes are
// serialised, and nothing is written once the handler has returned.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	mu      sync.Mutex
	seq     uint64
	closed  bool
	every   time.Duration
	timer   *time.Timer
	onError func()
}

// event writes one `event:`/`id:`/`data:` frame and flushes it.
func (s *sseWriter) event(name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	s.seq++
	var b bytes.Buffer
	b.Grow(len(data) + 64)
	b.WriteString("event: " + name + "\nid: " + strconv.FormatUint(s.seq, 10) + "\n")
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if s.timer != nil {
		s.timer.Reset(s.every)
	}
	return s.writeLocked(b.Bytes())
}

// startKeepalive sends a `: keepalive` comment after every interval of
// silence; a failed write calls onError.
func (s *sseWriter) startKeepalive(every time.Duration, onError func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.every, s.onError = every, onError
	s.timer = time.AfterFunc(every, s.keepalive)
}

func (s *sseWriter) keepalive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if err := s.writeLocked([]byte(": keepalive\n\n")); err != nil {
		s.onError()
		return
	}
	s.timer.Reset(s.every)
}

func (s *sseWriter) writeLocked(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// close stops the keepalive; the ResponseWriter is not touched after it.
func (s *sseWriter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// fail answers with the gateway's usual error body before any event was
// sent, through the mux's error handler, as every REST error is (so a
// RetryInfo also becomes Retry-After).
func (h *sseWatch) fail(w http.ResponseWriter, r *http.Request, err error) {
	runtime.HTTPError(r.Context(), h.mux, h.marshaler, w, r, err)
}

// lastEventID returns the Last-Event-ID a reconnecting EventSource sends,
// so that ids keep increasing across reconnects; 0 when absent or invalid.
func lastEventID(r *http.Request) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(r.Header.Get("Last-Event-ID")), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func terminalState(t *vasagwv1.Task) bool {
	s := t.GetState()
	return s == vasagwv1.Task_STATE_SUCCEEDED || s == vasagwv1.Task_STATE_FAILED
}
