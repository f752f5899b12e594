package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// seenCall is what a server interceptor saw of one call.
type seenCall struct {
	method    string
	inProcess bool
	value     any // the test's context value, if it crossed over
	md        metadata.MD
}

type callRecorder struct {
	mu    sync.Mutex
	calls []seenCall
}

type testValueKey struct{}

func (r *callRecorder) see(ctx context.Context, method string) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, seenCall{method: method, inProcess: isInProcess(ctx), value: ctx.Value(testValueKey{}), md: md})
}

func (r *callRecorder) take() []seenCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *callRecorder) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		r.see(ctx, info.FullMethod)
		if err := grpc.SetHeader(ctx, metadata.Pairs("x-seen", "unary")); err != nil {
			return nil, err
		}
		grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "unary"))
		return handler(ctx, req)
	}
}

func (r *callRecorder) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		r.see(ss.Context(), info.FullMethod)
		if err := ss.SetHeader(metadata.Pairs("x-seen", "stream")); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// TestInProcessMarksItsCallsOnly: the in-process channel's calls, unary and
// streaming, reach the interceptors marked (the trust of sealed REST
// identities rests on it), with the caller's metadata but none of its
// context values; a network caller's calls are never marked, whatever
// metadata it sends.
func TestInProcessMarksItsCallsOnly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rec := &callRecorder{}
	hs := health.NewServer()
	defer hs.Shutdown()

	srv := grpc.NewServer(grpc.Creds(insecure.NewCredentials()), grpc.ChainUnaryInterceptor(rec.unary()), grpc.ChainStreamInterceptor(rec.stream()))
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	sealed := 0
	ch := newInProcess(inProcessOptions{
		Unary:  []grpc.UnaryServerInterceptor{rec.unary()},
		Stream: []grpc.StreamServerInterceptor{rec.stream()},
		Seal: func(ctx context.Context) context.Context {
			sealed++
			return metadata.AppendToOutgoingContext(ctx, "x-sealed", "yes")
		},
	})
	healthpb.RegisterHealthServer(ch, hs)

	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), testValueKey{}, "client only"), time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-caller", "c1")
	req := &healthpb.HealthCheckRequest{}

	// Over the network, with the forged marks a caller might try.
	network := healthpb.NewHealthClient(cc)
	forged := metadata.AppendToOutgoingContext(ctx, "x-sealed", "yes", clientAddrMetadataKey, "10.0.0.1:1")
	if _, err := network.Check(forged, req); err != nil {
		t.Fatal(err)
	}
	ws, err := network.Watch(forged, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Recv(); err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.take() {
		if c.inProcess {
			t.Errorf("network call %s marked in-process", c.method)
		}
	}

	// In process: Invoke, NewStream and ServeServerStream.
	inproc := healthpb.NewHealthClient(ch)
	var header, trailer metadata.MD
	var p peer.Peer
	resp, err := inproc.Check(ctx, req, grpc.Header(&header), grpc.Trailer(&trailer), grpc.Peer(&p))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v", resp, err)
	}
	if got := header.Get("x-seen"); len(got) != 1 || got[0] != "unary" {
		t.Errorf("header x-seen = %q", got)
	}
	if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "unary" {
		t.Errorf("trailer x-trailer = %q", got)
	}
	if _, ok := p.AuthInfo.(inProcessAuthInfo); !ok {
		t.Errorf("peer %+v is not the in-process peer", p)
	}
	sctx, scancel := context.WithCancel(ctx)
	st, err := inproc.Watch(sctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch Recv = %v, %v", m, err)
	}
	if h, err := st.Header(); err != nil || len(h.Get("x-seen")) != 1 {
		t.Errorf("stream header = %v, %v", h, err)
	}
	scancel()
	if _, err := st.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel = %v, want Canceled", err)
	}
	var pushed []*healthpb.HealthCheckResponse
	var pushHeader metadata.MD
	stop := errors.New("enough")
	err = ch.ServeServerStream(ctx, healthpb.Health_Watch_FullMethodName, req,
		func(md metadata.MD) { pushHeader = md },
		func(m any) error { pushed = append(pushed, m.(*healthpb.HealthCheckResponse)); return stop })
	if err == nil || len(pushed) != 1 || len(pushHeader.Get("x-seen")) != 1 {
		t.Errorf("ServeServerStream = %v, %d messages, header %v", err, len(pushed), pushHeader)
	}
	calls := rec.take()
	if len(calls) != 3 || sealed != 3 {
		t.Fatalf("%d in-process calls seen, %d sealed, want 3", len(calls), sealed)
	}
	for _, c := range calls {
		if !c.inProcess {
			t.Errorf("in-process call %s not marked", c.method)
		}
		if c.value != nil {
			t.Errorf("in-process call %s sees the client's context value %v", c.method, c.value)
		}
		if got := c.md.Get("x-caller"); len(got) != 1 || got[0] != "c1" {
			t.Errorf("in-process call %s metadata x-caller = %q", c.method, got)
		}
		if got := c.md.Get("x-sealed"); len(got) != 1 {
			t.Errorf("in-process call %s was not sealed: %v", c.method, c.md)
		}
	}

	// A status error crosses as it is; an unknown method is Unimplemented.
	if _, err := inproc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no-such"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(no-such) = %v, want NotFound", err)
	}
	if err := ch.Invoke(ctx, "/no.Such/Method", req, &healthpb.HealthCheckResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method = %v, want Unimplemented", err)
	}
	// A stream follows changes until its caller cancels, and leaves no
	// goroutine behind (the deferred goleak check).
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	st2, err := inproc.Watch(wctx, &healthpb.HealthCheckRequest{Service: "later"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st2.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		t.Fatalf("Watch(later) = %v, %v", m, err)
	}
	hs.SetServingStatus("later", healthpb.HealthCheckResponse_SERVING)
	if m, err := st2.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch(later) second = %v, %v", m, err)
	}
	wcancel()
	if _, err := st2.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel = %v, want Canceled", err)
	}
}
