package service

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/auth/authtest"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// grpcFixture is the service on a real gRPC server on 127.0.0.1:0, in front
// of the SMS simulator over real SOAP, behind the real auth interceptor.
type grpcFixture struct {
	sim    *smssim.Server
	issuer *authtest.Issuer // nil: the gateway authenticates no one
	addr   string
}

// newGRPCFixture starts the fixture; with tokens, callers authenticate with
// bearer tokens and the subjects alice, bob and carol are operators.
func newGRPCFixture(t *testing.T, tokens bool) *grpcFixture {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	pw := sim.Password
	up, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      sim.URL,
		Username: sim.Username,
		Password: func() (string, error) { return pw, nil },
		CAFile:   sim.CAFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close(context.Background()) })
	svc, err := New(Options{VCenters: map[string]Upstream{"default": up}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)

	f := &grpcFixture{sim: sim}
	opts := auth.InterceptorOptions{Methods: map[string]auth.Role{
		vasagwv1.VasaProviderService_ReconnectProvider_FullMethodName: auth.RoleOperator,
		vasagwv1.TaskService_WatchTask_FullMethodName:                 auth.RoleViewer,
	}}
	if tokens {
		f.issuer = authtest.NewIssuer(t, "https://idp.example.com", "vasagw")
		verifier, err := auth.NewTokenVerifier(context.Background(), auth.TokenConfig{
			Issuer: f.issuer.URL, Audience: f.issuer.Audience, JWKSFile: f.issuer.WriteJWKS(t, t.TempDir()),
		})
		if err != nil {
			t.Fatal(err)
		}
		policy, err := auth.ParsePolicy([]byte("roles: {operator: {subjects: [alice, bob, carol]}}"))
		if err != nil {
			t.Fatal(err)
		}
		if opts.Authenticator, err = auth.NewAuthenticator(auth.AuthenticatorOptions{Tokens: verifier, Policy: policy}); err != nil {
			t.Fatal(err)
		}
	}
	interceptor, err := auth.NewInterceptor(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptor.Unary()), grpc.ChainStreamInterceptor(interceptor.Stream()))
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	f.addr = lis.Addr().String()
	return f
}

// grpcClient is one caller's connection.
type grpcClient struct {
	vasagwv1.VasaProviderServiceClient
	tasks vasagwv1.TaskServiceClient
}

// client returns a client on a connection of its own; with tokens, every
// call carries sub's token.
func (f *grpcFixture) client(t *testing.T, sub string) grpcClient {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if f.issuer != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(f.issuer.Token(t, sub))))
	}
	conn, err := grpc.NewClient(f.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return grpcClient{VasaProviderServiceClient: vasagwv1.NewVasaProviderServiceClient(conn), tasks: vasagwv1.NewTaskServiceClient(conn)}
}

// bearerToken sends a token over plaintext, as a test on loopback may.
type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// waitDone watches a task until it has finished.
func waitDone(ctx context.Context, t *testing.T, c grpcClient, task string) {
	t.Helper()
	stream, err := c.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task})
	if err != nil {
		t.Fatal(err)
	}
	for {
		tk, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch %s: %v", task, err)
		}
		if terminal(tk.GetState()) {
			return
		}
	}
}

func (f *grpcFixture) upstreamReconnects() int {
	return f.sim.Sim.Calls("VasaProviderReconnect_Task")
}

func reconnectWith(ctx context.Context, c grpcClient, provider, requestID string) (*vasagwv1.Task, error) {
	return c.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + provider, RequestId: requestID})
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkRequestIDReused checks err is INVALID_ARGUMENT REQUEST_ID_REUSED with
// a BadRequest naming request_id, and that it names no other target.
func checkRequestIDReused(t *testing.T, err error, others ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("error %v, want INVALID_ARGUMENT", err)
	}
	var reason, field string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			if len(d.GetFieldViolations()) > 0 {
				field = d.GetFieldViolations()[0].GetField()
			}
		}
	}
	if reason != "REQUEST_ID_REUSED" || field != "request_id" {
		t.Errorf("reason %q field %q, want REQUEST_ID_REUSED request_id", reason, field)
	}
	for _, o := range others {
		if strings.Contains(st.Message(), o) || strings.Contains(st.String(), o) {
			t.Errorf("the refusal names %s: %v", o, st)
		}
	}
}

// TestRequestIDScopedPerCaller: a request_id belongs to the caller who sent
// it. The same caller resending it gets the same task; another caller with
// the same id gets its own task, and never learns of the first caller's
// use; the same caller reusing it for another target is REQUEST_ID_REUSED.
func TestRequestIDScopedPerCaller(t *testing.T) {
	t.Parallel()
	f := newGRPCFixture(t, true)
	ctx := testCtx(t)
	alice, alice2, bob, carol := f.client(t, "alice"), f.client(t, "alice"), f.client(t, "bob"), f.client(t, "carol")
	const id = "6f1c1c4e-2b9e-4f57-8d0a-3e6b2a1d9c40"

	a, err := reconnectWith(ctx, alice, "vp-1", id)
	if err != nil {
		t.Fatal(err)
	}
	// Once alice's task has finished, a reconnect by anyone else starts a
	// new task rather than joining hers.
	waitDone(ctx, t, alice, a.GetName())
	again, err := reconnectWith(ctx, alice2, "vp-1", strings.ToUpper(id))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetName() != a.GetName() {
		t.Errorf("alice's retry on another connection got %s, first call %s", again.GetName(), a.GetName())
	}
	if n := f.upstreamReconnects(); n != 1 {
		t.Errorf("upstream reconnects after alice's retry = %d, want 1", n)
	}

	b, err := reconnectWith(ctx, bob, "vp-1", id)
	if err != nil {
		t.Fatal(err)
	}
	if b.GetName() == a.GetName() {
		t.Errorf("bob's call with alice's request id got alice's task %s", a.GetName())
	}
	if n := f.upstreamReconnects(); n != 2 {
		t.Errorf("upstream reconnects after bob's call = %d, want 2", n)
	}
	// Bob's retry gets bob's task.
	if b2, err := reconnectWith(ctx, bob, "vp-1", id); err != nil || b2.GetName() != b.GetName() {
		t.Errorf("bob's retry = %v, %v; want %s", b2.GetName(), err, b.GetName())
	}

	// Carol sends the id for another provider: her own call, not a reuse.
	if _, err := reconnectWith(ctx, carol, "vp-2", id); err != nil {
		t.Errorf("carol's call with an id others used for vp-1: %v", err)
	}

	// Alice reuses her id for another provider.
	before := f.upstreamReconnects()
	_, err = reconnectWith(ctx, alice, "vp-2", id)
	checkRequestIDReused(t, err, "vp-1", "alice", "bob", "carol")
	if n := f.upstreamReconnects(); n != before {
		t.Errorf("a reused request id reached vCenter: %d reconnects, want %d", n, before)
	}
	// The reuse did not re-point the id.
	if a2, err := reconnectWith(ctx, alice, "vp-1", id); err != nil || a2.GetName() != a.GetName() {
		t.Errorf("alice's retry after the reuse = %v, %v; want %s", a2.GetName(), err, a.GetName())
	}
}

// TestRequestIDAnonymousCallersShareAScope: a gateway that authenticates no
// one sees every caller as the one anonymous identity, on any connection.
func TestRequestIDAnonymousCallersShareAScope(t *testing.T) {
	t.Parallel()
	f := newGRPCFixture(t, false)
	ctx := testCtx(t)
	one, two := f.client(t, ""), f.client(t, "")
	const id = "0d7e8c1a-5b4f-4e2a-9c3d-7f6a5b4c3d2e"
	a, err := reconnectWith(ctx, one, "vp-1", id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := reconnectWith(ctx, two, "vp-1", id)
	if err != nil {
		t.Fatal(err)
	}
	if a.GetName() != b.GetName() || f.upstreamReconnects() != 1 {
		t.Errorf("anonymous retry got %s (first %s), %d upstream reconnects; want the same task, 1", b.GetName(), a.GetName(), f.upstreamReconnects())
	}
	_, err = reconnectWith(ctx, two, "vp-2", id)
	checkRequestIDReused(t, err, "vp-1")
}

// TestRequestIDsByOperation: the operation is part of what an id stands
// for, so the lifecycle RPCs can share the store: an id recorded by one
// operation is a reuse for another on the same target, and races resolve
// to the first record.
func TestRequestIDsByOperation(t *testing.T) {
	t.Parallel()
	r := requestIDs{store: NewMemoryRequestStore(), ttl: time.Hour}
	const target = "vcenters/default/vasaProviders/vp-1"
	ctx := auth.NewContext(context.Background(), &auth.Caller{Kind: auth.KindToken, Subject: "alice"})
	if task, err := r.remember(ctx, opReconnect, "default", target, "id-1", "task-1"); err != nil || task != "task-1" {
		t.Fatalf("remember = %q, %v", task, err)
	}
	_, _, err := r.prior(ctx, "sync", "default", target, "id-1")
	checkRequestIDReused(t, err)
	_, err = r.remember(ctx, "sync", "default", target, "id-1", "task-2")
	checkRequestIDReused(t, err)
	// A concurrent duplicate that lost the race answers with the winner's task.
	if task, err := r.remember(ctx, opReconnect, "default", target, "id-1", "task-3"); err != nil || task != "task-1" {
		t.Errorf("remember after the first = %q, %v; want task-1", task, err)
	}
	if task, ok, err := r.prior(ctx, opReconnect, "default", target, "id-1"); err != nil || !ok || task != "task-1" {
		t.Errorf("prior = %q, %v, %v; want task-1", task, ok, err)
	}
	// No request id: nothing is remembered.
	if _, ok, err := r.prior(ctx, opReconnect, "default", target, ""); ok || err != nil {
		t.Errorf("prior of no id = %v, %v", ok, err)
	}
}

// TestMemoryRequestStore: records live for their TTL (the service's is an
// hour), the first record wins, and the store is bounded, dropping the
// oldest first.
func TestMemoryRequestStore(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m := newMemoryRequestStore(3, func() time.Time { return now })
	ctx := context.Background()
	key := func(caller, id string) RequestKey { return RequestKey{Caller: caller, RequestID: id} }
	rec := func(task string) RequestRecord { return RequestRecord{Operation: opReconnect, Target: "t", Task: task} }
	get := func(k RequestKey) string {
		r, ok, err := m.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return r.Task
	}
	put := func(k RequestKey, task string) string {
		r, err := m.PutIfAbsent(ctx, k, rec(task), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return r.Task
	}

	if got := put(key("token:alice", "x"), "a"); got != "a" {
		t.Errorf("first put = %q", got)
	}
	if got := put(key("token:alice", "x"), "b"); got != "a" {
		t.Errorf("second put = %q, want the first record", got)
	}
	if got := get(key("token:bob", "x")); got != "" {
		t.Errorf("bob sees alice's record %q", got)
	}
	now = now.Add(59 * time.Minute)
	if got := get(key("token:alice", "x")); got != "a" {
		t.Errorf("after 59 minutes: %q, want a", got)
	}
	now = now.Add(2 * time.Minute)
	if got := get(key("token:alice", "x")); got != "" {
		t.Errorf("after 61 minutes: %q, want expired", got)
	}
	if got := put(key("token:alice", "x"), "c"); got != "c" {
		t.Errorf("put after expiry = %q, want c", got)
	}
	put(key("token:alice", "y"), "d")
	put(key("token:alice", "z"), "e")
	put(key("token:alice", "w"), "f") // the store holds 3: the oldest (x) goes
	if got := get(key("token:alice", "x")); got != "" {
		t.Errorf("oldest record survived the bound: %q", got)
	}
	if got := get(key("token:alice", "w")); got != "f" || m.Len() != 3 {
		t.Errorf("newest = %q, len %d; want f, 3", got, m.Len())
	}

	d := Options{VCenters: map[string]Upstream{"default": nil}}
	d.setDefaults()
	if d.RequestIDTTL < time.Hour {
		t.Errorf("default request id TTL %v, want at least an hour", d.RequestIDTTL)
	}
}
