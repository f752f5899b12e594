package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// manualClock is a simulator clock that moves only when a test says so.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Now()} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// westProviders are a second simulator's providers, with ids of their own
// so that a test can tell whose answer it got.
func westProviders() []smssim.Provider {
	defaults := smssim.DefaultProviders()
	a, b := defaults[0], defaults[1]
	a.ID, b.ID = "vp-west-1", "vp-west-2"
	b.ReconnectDuration = time.Hour // a reconnect that stays running
	return []smssim.Provider{a, b}
}

func startSim(t *testing.T, opts smssim.Options) *smssim.Server {
	t.Helper()
	srv, err := smssim.Start(opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// openSession opens a session on srv; the caller closes it.
func openSession(t *testing.T, srv *smssim.Server) *vcenter.Session {
	t.Helper()
	pw := srv.Password
	s, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      srv.URL,
		Username: srv.Username,
		Password: func() (string, error) { return pw, nil },
		CAFile:   srv.CAFile,
		// A down simulator must fail calls quickly.
		DialTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeSession(s *vcenter.Session) { _ = s.Close(context.Background()) }

func vcenterOf(id string, srv *smssim.Server, s *vcenter.Session) service.VCenter {
	return service.VCenter{ID: id, URL: srv.URL.String(), Upstream: s, Session: s}
}

// gateway is a Service over real gRPC on a loopback socket.
type gateway struct {
	svc       *service.Service
	providers vasagwv1.VasaProviderServiceClient
	tasks     vasagwv1.TaskServiceClient
	vcenters  vasagwv1.VCenterServiceClient
}

func startGateway(t *testing.T, opts service.Options, vcs ...service.VCenter) *gateway {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TaskPollInterval == 0 {
		opts.TaskPollInterval = 20 * time.Millisecond
	}
	// New takes the first vCenter; SetVCenter the rest, with their URLs
	// and sessions.
	opts.VCenters = map[string]service.Upstream{vcs[0].ID: vcs[0].Upstream}
	svc, err := service.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, vc := range vcs {
		if err := svc.SetVCenter(vc); err != nil {
			t.Fatal(err)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	svc.Register(gs)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		svc.Close()
		gs.Stop()
		<-served
	})
	return &gateway{
		svc:       svc,
		providers: vasagwv1.NewVasaProviderServiceClient(conn),
		tasks:     vasagwv1.NewTaskServiceClient(conn),
		vcenters:  vasagwv1.NewVCenterServiceClient(conn),
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// reasonOf returns the ErrorInfo reason of a gRPC error.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func wantError(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || reasonOf(err) != reason {
		t.Errorf("%s: %v, want %v %s", what, err, code, reason)
	}
}

func providerIDs(t *testing.T, g *gateway, vcenterID string) []string {
	t.Helper()
	resp, err := g.providers.ListVasaProviders(testContext(t), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/" + vcenterID})
	if err != nil {
		t.Fatalf("list providers of %s: %v", vcenterID, err)
	}
	var ids []string
	for _, p := range resp.GetVasaProviders() {
		ids = append(ids, p.GetName())
	}
	return ids
}

// twoVCenters is a gateway in front of two simulators, east and west.
type twoVCenters struct {
	*gateway
	east, west       *smssim.Server
	eastUp, westUp   *vcenter.Session
	eastClk, westClk *manualClock
}

func startTwo(t *testing.T) *twoVCenters {
	t.Helper()
	f := &twoVCenters{eastClk: newManualClock(), westClk: newManualClock()}
	f.east = startSim(t, smssim.Options{Now: f.eastClk.Now})
	f.west = startSim(t, smssim.Options{Providers: westProviders(), Now: f.westClk.Now})
	f.eastUp, f.westUp = openSession(t, f.east), openSession(t, f.west)
	t.Cleanup(func() { closeSession(f.eastUp); closeSession(f.westUp) })
	f.gateway = startGateway(t, service.Options{}, vcenterOf("east", f.east, f.eastUp), vcenterOf("west", f.west, f.westUp))
	return f
}

func TestTwoVCentersEachListTheirOwnProviders(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	if got, want := providerIDs(t, f.gateway, "east"), []string{
		"vcenters/east/vasaProviders/vp-1", "vcenters/east/vasaProviders/vp-2", "vcenters/east/vasaProviders/vp-3",
		"vcenters/east/vasaProviders/vp-4", "vcenters/east/vasaProviders/vp-5", "vcenters/east/vasaProviders/vp-6",
	}; !slices.Equal(got, want) {
		t.Errorf("east lists %v, want %v", got, want)
	}
	if got, want := providerIDs(t, f.gateway, "west"), []string{"vcenters/west/vasaProviders/vp-west-1", "vcenters/west/vasaProviders/vp-west-2"}; !slices.Equal(got, want) {
		t.Errorf("west lists %v, want %v", got, want)
	}
	ctx := testContext(t)
	// A provider of one vCenter is not found through the other.
	_, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/east/vasaProviders/vp-west-1"})
	wantError(t, "east's vp-west-1", err, codes.NotFound, "PROVIDER_NOT_FOUND")
	// A task id is the vCenter's own.
	task, err := f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/west/vasaProviders/vp-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: task.GetName()}); err != nil || got.GetTarget() != "vcenters/west/vasaProviders/vp-west-2" {
		t.Errorf("GetTask(%s) = %v, %v; want the west task", task.GetName(), got, err)
	}
}

func TestUnknownVCenterIsNotFound(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	ctx := testContext(t)
	_, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/north"})
	wantError(t, "list north", err, codes.NotFound, "VCENTER_NOT_FOUND")
	_, err = f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/north/vasaProviders/vp-1"})
	wantError(t, "get north's vp-1", err, codes.NotFound, "VCENTER_NOT_FOUND")
	_, err = f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/north/vasaProviders/vp-1"})
	wantError(t, "reconnect north's vp-1", err, codes.NotFound, "VCENTER_NOT_FOUND")
	_, err = f.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: "vcenters/north/tasks/task-1"})
	wantError(t, "get north's task", err, codes.NotFound, "VCENTER_NOT_FOUND")
	stream, err := f.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: "vcenters/north/tasks/task-1"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantError(t, "watch north's task", err, codes.NotFound, "VCENTER_NOT_FOUND")
	_, err = f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/north"})
	wantError(t, "get north", err, codes.NotFound, "VCENTER_NOT_FOUND")
	_, err = f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/"})
	wantError(t, "get an empty name", err, codes.InvalidArgument, "INVALID_REQUEST")
}

// TestOneVCenterDown: while east is down its calls are UNAVAILABLE and
// GetVCenter says so; west answers throughout; east serves again when it
// returns.
func TestOneVCenterDown(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	ctx := testContext(t)
	providerIDs(t, f.gateway, "east") // logged in
	before, err := f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"})
	if err != nil {
		t.Fatal(err)
	}
	if before.GetState() != vasagwv1.VCenter_STATE_READY || before.GetLastError() != nil || before.GetLastReadyTime() == nil {
		t.Fatalf("east before the outage: %v", before)
	}
	if before.GetSmsVersion() != smssim.APIVersion {
		t.Errorf("east's sms_version %q, want the simulator's %q", before.GetSmsVersion(), smssim.APIVersion)
	}
	if _, err := f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"}); err != nil {
		t.Fatal(err)
	}
	if n := f.east.Sim.Calls("QueryAboutInfo"); n != 1 {
		t.Errorf("QueryAboutInfo called %d times for two GetVCenter of one login, want 1", n)
	}

	f.east.Down()
	_, err = f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/east"})
	wantError(t, "list east while down", err, codes.Unavailable, "VCENTER_UNREACHABLE")
	_, err = f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/east/vasaProviders/vp-1"})
	wantError(t, "get east's vp-1 while down", err, codes.Unavailable, "VCENTER_UNREACHABLE")
	if got := providerIDs(t, f.gateway, "west"); len(got) != 2 {
		t.Errorf("west while east is down lists %v", got)
	}
	down, err := f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"})
	if err != nil {
		t.Fatal(err)
	}
	if down.GetState() != vasagwv1.VCenter_STATE_UNREACHABLE {
		t.Errorf("east while down: state %v, want STATE_UNREACHABLE", down.GetState())
	}
	if down.GetSmsVersion() != smssim.APIVersion {
		t.Errorf("east while down: sms_version %q, want the last one known", down.GetSmsVersion())
	}
	if down.GetLastError().GetCode() != int32(codes.Unavailable) || reasonOf(status.FromProto(down.GetLastError()).Err()) != "VCENTER_UNREACHABLE" {
		t.Errorf("east while down: last_error %v, want UNAVAILABLE VCENTER_UNREACHABLE", down.GetLastError())
	}
	if !down.GetLastReadyTime().AsTime().Equal(before.GetLastReadyTime().AsTime()) && down.GetLastReadyTime().AsTime().Before(before.GetLastReadyTime().AsTime()) {
		t.Errorf("last_ready_time went back while down: %v -> %v", before.GetLastReadyTime(), down.GetLastReadyTime())
	}
	list, err := f.vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]vasagwv1.VCenter_State{}
	for _, vc := range list.GetVcenters() {
		states[vc.GetName()] = vc.GetState()
	}
	if states["vcenters/east"] != vasagwv1.VCenter_STATE_UNREACHABLE || states["vcenters/west"] != vasagwv1.VCenter_STATE_READY {
		t.Errorf("ListVCenters while east is down: %v", states)
	}

	if err := f.east.Up(); err != nil {
		t.Fatal(err)
	}
	if got := providerIDs(t, f.gateway, "east"); len(got) != 6 {
		t.Errorf("east after it returned lists %v", got)
	}
	after, err := f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetState() != vasagwv1.VCenter_STATE_READY || after.GetLastError() != nil {
		t.Errorf("east after it returned: %v, want STATE_READY and no last_error", after)
	}
	if after.GetLastReadyTime().AsTime().Before(before.GetLastReadyTime().AsTime()) {
		t.Errorf("last_ready_time %v is before %v", after.GetLastReadyTime(), before.GetLastReadyTime())
	}
}

func TestVCenterStates(t *testing.T) {
	t.Parallel()
	srv := startSim(t, smssim.Options{})
	pw := srv.Password
	configs := map[string]vcenter.SessionConfig{
		"refused": {URL: srv.URL, Username: srv.Username, CAFile: srv.CAFile, Password: func() (string, error) { return "wrong", nil }},
		"untrusted": {URL: srv.URL, Username: srv.Username, Password: func() (string, error) { return pw, nil },
			Thumbprint: "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"},
		"fresh": {URL: srv.URL, Username: srv.Username, CAFile: srv.CAFile, Password: func() (string, error) { return pw, nil }},
	}
	var vcs []service.VCenter
	for id, cfg := range configs {
		s, err := vcenter.NewSession(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeSession(s) })
		vcs = append(vcs, service.VCenter{ID: id, URL: srv.URL.String(), Upstream: s, Session: s})
	}
	g := startGateway(t, service.Options{}, vcs...)
	ctx := testContext(t)
	for _, id := range []string{"refused", "untrusted"} {
		_, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/" + id})
		if err == nil {
			t.Fatalf("list providers of %s succeeded", id)
		}
	}
	tests := []struct {
		name   string
		state  vasagwv1.VCenter_State
		reason string
	}{
		{name: "fresh", state: vasagwv1.VCenter_STATE_CONNECTING},
		{name: "refused", state: vasagwv1.VCenter_STATE_AUTH_FAILED, reason: "VCENTER_AUTH_FAILED"},
		{name: "untrusted", state: vasagwv1.VCenter_STATE_CERTIFICATE_UNTRUSTED, reason: "VCENTER_CERTIFICATE_UNTRUSTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := g.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/" + tt.name})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetState() != tt.state {
				t.Errorf("state %v, want %v", got.GetState(), tt.state)
			}
			if reason := reasonOf(status.FromProto(got.GetLastError()).Err()); reason != tt.reason {
				t.Errorf("last_error reason %q, want %q (%v)", reason, tt.reason, got.GetLastError())
			}
			if got.GetSmsVersion() != "" {
				t.Errorf("sms_version %q of a vCenter that never answered", got.GetSmsVersion())
			}
			if got.GetUrl() != srv.URL.String() {
				t.Errorf("url %q, want %q", got.GetUrl(), srv.URL.String())
			}
		})
	}
}

func TestListVCentersPages(t *testing.T) {
	t.Parallel()
	srv := startSim(t, smssim.Options{})
	s := openSession(t, srv)
	t.Cleanup(func() { closeSession(s) })
	ids := []string{"a", "b-2", "c", "d", "e"}
	var vcs []service.VCenter
	for _, id := range ids {
		vcs = append(vcs, service.VCenter{ID: id, URL: "https://user:secret@" + id + ".example.test/sdk", Upstream: s})
	}
	g := startGateway(t, service.Options{}, vcs...)
	ctx := testContext(t)
	var got []string
	token := ""
	for range len(ids) + 1 {
		resp, err := g.vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetVcenters()) > 2 {
			t.Fatalf("page of %d, want at most 2", len(resp.GetVcenters()))
		}
		for _, vc := range resp.GetVcenters() {
			got = append(got, vc.GetName())
			if vc.GetUrl() != "https://"+vc.GetName()[len("vcenters/"):]+".example.test/sdk" {
				t.Errorf("%s: url %q, want it without user information", vc.GetName(), vc.GetUrl())
			}
			if vc.GetState() != vasagwv1.VCenter_STATE_CONNECTING {
				t.Errorf("%s: state %v, want STATE_CONNECTING for a vCenter without a session", vc.GetName(), vc.GetState())
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if len(got) == 2 {
			// A vCenter removed between pages shifts nothing.
			g.svc.RemoveVCenter("a")
		}
	}
	want := []string{"vcenters/a", "vcenters/b-2", "vcenters/c", "vcenters/d", "vcenters/e"}
	if !slices.Equal(got, want) {
		t.Errorf("pages gave %v, want %v", got, want)
	}
	_, err := g.vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{PageToken: "garbage"})
	wantError(t, "a bad page token", err, codes.InvalidArgument, "INVALID_REQUEST")
	_, err = g.vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{PageSize: -1})
	wantError(t, "a negative page size", err, codes.InvalidArgument, "INVALID_REQUEST")
}

// watchFirst opens a watch and returns it once its first snapshot came.
func watchFirst(t *testing.T, ctx context.Context, g *gateway, task string) grpc.ServerStreamingClient[vasagwv1.Task] {
	t.Helper()
	stream, err := g.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first snapshot of %s: %v", task, err)
	}
	return stream
}

// endOf reads a watch to its end and returns the error that ended it (nil
// for a terminal task).
func endOf(stream grpc.ServerStreamingClient[vasagwv1.Task]) (*vasagwv1.Task, error) {
	var last *vasagwv1.Task
	for {
		t, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return last, err
		}
		last = t
	}
}

// TestRemovedVCenterEndsItsWatches: removing west ends its open watch with
// NOT_FOUND VCENTER_NOT_FOUND; calls naming it are NOT_FOUND; east's watch
// and calls go on.
func TestRemovedVCenterEndsItsWatches(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	ctx := testContext(t)
	westTask, err := f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/west/vasaProviders/vp-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	eastTask, err := f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/east/vasaProviders/vp-2"})
	if err != nil {
		t.Fatal(err)
	}
	westWatch := watchFirst(t, ctx, f.gateway, westTask.GetName())
	eastWatch := watchFirst(t, ctx, f.gateway, eastTask.GetName())

	removed, ok := f.svc.RemoveVCenter("west")
	if !ok || removed.ID != "west" || removed.Upstream != f.westUp {
		t.Fatalf("RemoveVCenter(west) = %+v, %v", removed, ok)
	}
	if _, err := endOf(westWatch); status.Code(err) != codes.NotFound || reasonOf(err) != "VCENTER_NOT_FOUND" {
		t.Errorf("west's watch ended with %v, want NOT_FOUND VCENTER_NOT_FOUND", err)
	}
	_, err = f.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: westTask.GetName()})
	wantError(t, "west's task after removal", err, codes.NotFound, "VCENTER_NOT_FOUND")
	_, err = f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/west"})
	wantError(t, "west after removal", err, codes.NotFound, "VCENTER_NOT_FOUND")
	if _, ok := f.svc.RemoveVCenter("west"); ok {
		t.Error("removing west twice reported a removal")
	}

	// East's watch is untouched: it ends when its task does.
	f.eastClk.Advance(time.Hour)
	last, err := endOf(eastWatch)
	if err != nil || last.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Errorf("east's watch ended with %v after %v, want a succeeded task", err, last)
	}
	list, err := f.vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{})
	if err != nil || len(list.GetVcenters()) != 1 || list.GetVcenters()[0].GetName() != "vcenters/east" {
		t.Errorf("ListVCenters after removing west: %v, %v", list, err)
	}
}

// TestReplacedVCenterKeepsItsWatches: a vCenter replaced by a new session
// (new settings) keeps its open watches, which poll the new session once
// the old one is closed.
func TestReplacedVCenterKeepsItsWatches(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	ctx := testContext(t)
	task, err := f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/west/vasaProviders/vp-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	watch := watchFirst(t, ctx, f.gateway, task.GetName())

	next := openSession(t, f.west)
	t.Cleanup(func() { closeSession(next) })
	if err := f.svc.SetVCenter(vcenterOf("west", f.west, next)); err != nil {
		t.Fatal(err)
	}
	closeSession(f.westUp)
	f.westClk.Advance(2 * time.Hour)
	last, err := endOf(watch)
	if err != nil || last.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("watch across the replacement ended with %v after %v, want a succeeded task", err, last)
	}
	// The old session is closed: only the new one can have polled.
	if st := next.Status(); st.Generation == 0 || st.State != vcenter.StateReady {
		t.Errorf("the new session did not serve the polls: %+v", st)
	}
}

// TestVCenterHooks: a follower sees the vCenters present, then every
// change in order, and nothing after it stopped.
func TestVCenterHooks(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(what string) func(service.VCenter) {
		return func(vc service.VCenter) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, what+" "+vc.ID)
		}
	}
	stop := f.svc.FollowVCenters(service.VCenterHooks{Added: record("added"), Removed: record("removed")})
	north := service.VCenter{ID: "north", URL: "https://north.example.test/sdk", Upstream: f.eastUp, AutoReconnect: true}
	if err := f.svc.SetVCenter(north); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetVCenter(north); err != nil {
		t.Fatal(err)
	}
	f.svc.RemoveVCenter("north")
	f.svc.RemoveVCenter("south") // unknown: no event
	stop()
	if err := f.svc.SetVCenter(north); err != nil {
		t.Fatal(err)
	}
	want := []string{"added east", "added west", "added north", "removed north", "added north", "removed north"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}
	for _, vc := range f.svc.VCenters() {
		if vc.ID == "north" && !vc.AutoReconnect {
			t.Error("north lost its autoReconnect")
		}
	}
}

func TestSetVCenterRefusesBadEntries(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	for _, vc := range []service.VCenter{
		{ID: "", Upstream: f.eastUp},
		{ID: "East", Upstream: f.eastUp},
		{ID: "a_b", Upstream: f.eastUp},
		{ID: string(make([]byte, 64)), Upstream: f.eastUp},
		{ID: "ok"},
	} {
		if err := f.svc.SetVCenter(vc); err == nil {
			t.Errorf("SetVCenter(%q, upstream %v) succeeded", vc.ID, vc.Upstream != nil)
		}
	}
	if n := len(f.svc.VCenters()); n != 2 {
		t.Errorf("%d vCenters after refused entries, want 2", n)
	}
}

// TestCallsDuringChanges: calls to east go on, all answered, while another
// vCenter is added, replaced and removed over and over (run with -race).
func TestCallsDuringChanges(t *testing.T) {
	t.Parallel()
	f := startTwo(t)
	ctx := testContext(t)
	g, gctx := errgroup.WithContext(ctx)
	done := make(chan struct{})
	for range 4 {
		g.Go(func() error {
			for {
				select {
				case <-done:
					return nil
				default:
				}
				if _, err := f.providers.ListVasaProviders(gctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/east"}); err != nil {
					return err
				}
				if _, err := f.vcenters.ListVCenters(gctx, &vasagwv1.ListVCentersRequest{}); err != nil {
					return err
				}
			}
		})
	}
	for i := range 50 {
		up := f.westUp
		if i%2 == 1 {
			up = f.eastUp
		}
		if err := f.svc.SetVCenter(service.VCenter{ID: "churn", Upstream: up}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			f.svc.RemoveVCenter("churn")
		}
	}
	close(done)
	if err := g.Wait(); err != nil {
		t.Fatalf("a call to east failed while another vCenter changed: %v", err)
	}
}

// TestAddRemoveLeavesNothingBehind: 20 cycles of adding a vCenter, watching
// one of its tasks and removing it leave no goroutine behind. Not parallel:
// goleak compares the whole process.
func TestAddRemoveLeavesNothingBehind(t *testing.T) {
	srv := startSim(t, smssim.Options{Providers: westProviders()})
	base := openSession(t, srv)
	t.Cleanup(func() { closeSession(base) })
	g := startGateway(t, service.Options{}, vcenterOf("base", srv, base))
	ctx := testContext(t)
	// One call at a time to base before the count: two at once could have
	// its transport dial a second connection in the background that comes
	// up after the count, which is no leak.
	if _, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/base/vasaProviders/vp-west-1"}); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()

	for i := range 20 {
		s := openSession(t, srv)
		if err := g.svc.SetVCenter(vcenterOf("cycle", srv, s)); err != nil {
			t.Fatal(err)
		}
		task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/cycle/vasaProviders/vp-west-2"})
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		watch := watchFirst(t, ctx, g, task.GetName())
		g.svc.RemoveVCenter("cycle")
		if _, err := endOf(watch); status.Code(err) != codes.NotFound {
			t.Fatalf("cycle %d: watch ended with %v, want NOT_FOUND", i, err)
		}
		closeSession(s)
	}
	// A session's pooled upstream connections are the session's, closed
	// with it: a dial that the base vCenter's parallel provider reads
	// started may complete after the snapshot above and pool one more.
	pooled := []goleak.Option{
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	}
	if err := goleak.Find(append(pooled, ignore)...); err != nil {
		t.Error(err)
	}
	if pollers, subs := g.svc.WatchStats(); pollers != 0 || subs != 0 {
		t.Errorf("%d pollers and %d subscribers left", pollers, subs)
	}
}
