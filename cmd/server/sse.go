package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// sseKeepalive is the longest the SSE stream stays silent: proxies and
// browsers drop connections that say nothing.
const sseKeepalive = 15 * time.Second

// sseHandler serves `GET /v1/{name=vcenters/*/tasks/*}:watch` as
// Server-Sent Events when the caller sends `Accept: text/event-stream`
// (grpc-gateway has no SSE). It watches through the same in-process gRPC
// connection as the rest of the facade, so it shares the task's poller.
//
// Frames: `event: task` with the Task JSON as data and an increasing `id`;
// `event: error` with a google.rpc.Status JSON when the watch fails after it
// started; a `: keepalive` comment when idle. The stream closes after the
// terminal task event. A reconnect with Last-Event-ID gets the current
// snapshot first and ids that keep increasing.
type sseHandler struct {
	tasks     vasagwv1.TaskServiceClient
	marshaler runtime.Marshaler
	mux       *runtime.ServeMux
	log       *slog.Logger
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
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), ssePrefix), sseSuffix)
	md := metadata.MD{}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		md.Set(requestIDHeader, id)
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	stream, err := h.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: name})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		// Nothing sent yet: answer with a plain HTTP error, which also tells
		// an EventSource not to reconnect.
		h.fail(w, r, err)
		return
	}
	if header, err := stream.Header(); err == nil {
		if v := header.Get(requestIDHeader); len(v) > 0 {
			w.Header().Set("X-Request-Id", v[0])
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	seq := lastEventID(r)
	bw := bufio.NewWriter(w)
	send := func(event string, data []byte) error {
		seq++
		bw.WriteString("event: " + event + "\n")
		bw.WriteString("id: " + strconv.FormatUint(seq, 10) + "\n")
		for _, line := range bytes.Split(data, []byte("\n")) {
			bw.WriteString("data: ")
			bw.Write(line)
			bw.WriteString("\n")
		}
		bw.WriteString("\n")
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	sendTask := func(t *vasagwv1.Task) error {
		b, err := h.marshaler.Marshal(t)
		if err != nil {
			return err
		}
		return send("task", b)
	}

	type recv struct {
		t   *vasagwv1.Task
		err error
	}
	next := make(chan recv)
	go func() {
		for {
			t, err := stream.Recv()
			select {
			case next <- recv{t, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	if err := sendTask(first); err != nil {
		return
	}
	if terminalState(first) {
		return
	}
	keepalive := h.keepalive
	if keepalive <= 0 {
		keepalive = sseKeepalive
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := io.WriteString(bw, ": keepalive\n\n"); err != nil {
				return
			}
			if bw.Flush() != nil || rc.Flush() != nil {
				return
			}
		case m := <-next:
			if m.err != nil {
				if errors.Is(m.err, io.EOF) {
					return
				}
				st := status.Convert(m.err)
				b, err := h.marshaler.Marshal(st.Proto())
				if err == nil {
					_ = send("error", b)
				}
				return
			}
			if err := sendTask(m.t); err != nil {
				return
			}
			if terminalState(m.t) {
				return
			}
			tick.Reset(keepalive)
		}
	}
}

// fail answers with the gateway's usual error body before any event was sent.
func (h *sseHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(r.Context(), h.mux, h.marshaler, w, r, err)
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
