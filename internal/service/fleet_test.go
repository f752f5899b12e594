package service

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// offsetClock is the wall clock plus an offset the test moves forward, so
// that the fleet's snapshot can be made stale without waiting.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// fleetFixture is the service over a real gRPC server on 127.0.0.1:0, in
// front of the SMS simulator through a real session.
type fleetFixture struct {
	sim       *smssim.Server
	svc       *Service
	clock     *offsetClock
	providers vasagwv1.VasaProviderServiceClient
	tasks     vasagwv1.TaskServiceClient
	logs      *syncBuffer
}

type fleetConfig struct {
	providers     []smssim.Provider // nil: the default seed
	interval      time.Duration     // provider poll interval
	maxAge        time.Duration
	autoReconnect bool
}

func newFleetFixture(t *testing.T, cfg fleetConfig) *fleetFixture {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{Providers: cfg.providers})
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
	clock := &offsetClock{}
	logs := &syncBuffer{}
	svc, err := New(Options{
		VCenters:             map[string]Upstream{"default": up},
		TaskPollInterval:     10 * time.Millisecond,
		WatchLinger:          10 * time.Millisecond,
		ProviderPollInterval: cfg.interval,
		ProviderMaxAge:       cfg.maxAge,
		AutoReconnect:        map[string]bool{"default": cfg.autoReconnect},
		Now:                  clock.Now,
		Logger:               slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		svc.Close()
		srv.Stop()
	})
	f := &fleetFixture{
		sim: sim, svc: svc, clock: clock, logs: logs,
		providers: vasagwv1.NewVasaProviderServiceClient(conn),
		tasks:     vasagwv1.NewTaskServiceClient(conn),
	}
	f.awaitRefreshes(t, 1)
	return f
}

// fleet returns the default vCenter's fleet.
func (f *fleetFixture) fleet(t *testing.T) *fleet {
	t.Helper()
	fl, err := f.svc.fleet("default", "vcenters/default")
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

// awaitRefreshes waits until the loop has completed n full refreshes.
func (f *fleetFixture) awaitRefreshes(t *testing.T, n int64) {
	t.Helper()
	fl := f.fleet(t)
	deadline := time.Now().Add(time.Minute)
	for fl.refreshes.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the fleet loop made %d refreshes, want %d", fl.refreshes.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// manyProviders returns n connected providers, vp-0000 to vp-(n-1), that
// share one certificate (generating one each would take seconds).
func manyProviders(n int) []smssim.Provider {
	base := smssim.DefaultProviders()[0]
	out := make([]smssim.Provider, n)
	for i := range out {
		p := base
		p.ID = fmt.Sprintf("vp-%04d", i)
		p.Info.Name = fmt.Sprintf("array-%04d", i)
		p.Info.Uid = fmt.Sprintf("uid-%04d", i)
		out[i] = p
	}
	return out
}

func fleetCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestFleetConcurrentGetsMakeOneCall: 200 concurrent identical Gets of a
// provider whose entry is stale make one QueryProviderInfo; while it is
// fresh they make none.
func TestFleetConcurrentGetsMakeOneCall(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{interval: time.Hour, maxAge: time.Minute})
	ctx := fleetCtx(t)
	gets := func() {
		t.Helper()
		var g errgroup.Group
		for range 200 {
			g.Go(func() error {
				p, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
				if err == nil && p.GetStatus() != vasagwv1.VasaProvider_STATUS_CONNECTED {
					err = fmt.Errorf("vp-1 is %v", p.GetStatus())
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}

	before := f.sim.Sim.CallsOn("QueryProviderInfo", "vp-1")
	gets()
	if n := f.sim.Sim.CallsOn("QueryProviderInfo", "vp-1") - before; n != 0 {
		t.Errorf("200 Gets from a fresh snapshot made %d upstream calls, want 0", n)
	}

	f.clock.Advance(2 * time.Minute) // older than the freshness bound
	before = f.sim.Sim.CallsOn("QueryProviderInfo", "vp-1")
	gets()
	if n := f.sim.Sim.CallsOn("QueryProviderInfo", "vp-1") - before; n != 1 {
		t.Errorf("200 concurrent Gets of a stale provider made %d upstream calls, want 1", n)
	}
}

// TestFleetGetUnknownProvider: a provider the snapshot does not hold is
// confirmed with vCenter, and is NOT_FOUND PROVIDER_NOT_FOUND as before.
func TestFleetGetUnknownProvider(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{interval: time.Hour, maxAge: time.Hour})
	_, err := f.providers.GetVasaProvider(fleetCtx(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-nope"})
	if status.Code(err) != codes.NotFound || reasonOf(err) != "PROVIDER_NOT_FOUND" {
		t.Fatalf("Get of an unknown provider = %v, want NOT_FOUND PROVIDER_NOT_FOUND", err)
	}
	if n := f.sim.Sim.CallsOn("QueryProviderInfo", "vp-nope"); n != 1 {
		t.Errorf("the unknown provider was confirmed with %d upstream calls, want 1", n)
	}
	if _, ok := f.fleet(t).current().entries["vp-nope"]; ok {
		t.Error("a guessed id was remembered in the snapshot")
	}

	// A provider registered since the last refresh is found.
	p := smssim.DefaultProviders()[0]
	p.ID = "vp-new"
	f.sim.Sim.AddProvider(p)
	got, err := f.providers.GetVasaProvider(fleetCtx(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-new"})
	if err != nil || got.GetName() != "vcenters/default/vasaProviders/vp-new" {
		t.Fatalf("Get of a new provider = %v, %v", got, err)
	}
}

// TestFleetConcurrentListsMakeOneRefresh: 100 concurrent lists of 1,000
// providers over a stale snapshot cost one refresh: 1 QueryProvider and
// 1,000 QueryProviderInfo.
func TestFleetConcurrentListsMakeOneRefresh(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{providers: manyProviders(1000), interval: time.Hour, maxAge: time.Minute})
	ctx := fleetCtx(t)
	f.clock.Advance(2 * time.Minute)
	lists, infos := f.sim.Sim.Calls("QueryProvider"), f.sim.Sim.Calls("QueryProviderInfo")
	var g errgroup.Group
	for range 100 {
		g.Go(func() error {
			resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 1000})
			if err == nil && len(resp.GetVasaProviders()) != 1000 {
				err = fmt.Errorf("listed %d providers, want 1000", len(resp.GetVasaProviders()))
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := f.sim.Sim.Calls("QueryProvider") - lists; n != 1 {
		t.Errorf("100 concurrent lists made %d QueryProvider, want 1", n)
	}
	if n := f.sim.Sim.Calls("QueryProviderInfo") - infos; n != 1000 {
		t.Errorf("100 concurrent lists made %d QueryProviderInfo, want 1000", n)
	}
}

// TestFleetWalkPinsGeneration: walking 1,000 providers page by page makes
// no QueryProvider (the walk reads the snapshot the first page came from),
// sees each provider once, in order; a provider registered during the
// walk does not shift it; and the last token has no successor.
func TestFleetWalkPinsGeneration(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{providers: manyProviders(1000), interval: time.Hour, maxAge: time.Hour})
	ctx := fleetCtx(t)
	lists := f.sim.Sim.Calls("QueryProvider")
	var seen []string
	token := ""
	for page := 0; ; page++ {
		resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 50, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.GetVasaProviders() {
			seen = append(seen, strings.TrimPrefix(p.GetName(), "vcenters/default/vasaProviders/"))
		}
		if page == 3 {
			// A new provider sorts into the pages already read; the
			// refresh that finds it makes a new generation.
			p := manyProviders(1)[0]
			p.ID = "vp-0001a"
			f.sim.Sim.AddProvider(p)
			if err := f.fleet(t).refresh(ctx); err != nil {
				t.Fatal(err)
			}
			lists = f.sim.Sim.Calls("QueryProvider")
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if n := f.sim.Sim.Calls("QueryProvider") - lists; n != 0 {
		t.Errorf("the walk made %d QueryProvider, want 0", n)
	}
	if len(seen) != 1000 {
		t.Fatalf("the walk saw %d providers, want 1000", len(seen))
	}
	for i, id := range seen {
		if want := fmt.Sprintf("vp-%04d", i); id != want {
			t.Fatalf("provider %d of the walk is %s, want %s", i, id, want)
		}
	}
	if gen := f.fleet(t).current().generation; gen < 2 {
		t.Errorf("the new provider did not make a new generation (%d)", gen)
	}
}

// TestFleetListFilter: the filter applies to List, pages count only
// matches, and a bad filter is INVALID_ARGUMENT naming `filter`.
func TestFleetListFilter(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{interval: time.Hour, maxAge: time.Hour})
	ctx := fleetCtx(t)
	var names []string
	token := ""
	for {
		resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{
			Parent: "vcenters/default", PageSize: 2, PageToken: token,
			Filter: "status = STATUS_DISCONNECTED OR certificate_status != CERTIFICATE_STATUS_VALID",
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.GetVasaProviders() {
			names = append(names, p.GetDisplayName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if got := strings.Join(names, ","); got != "array-b,array-c,array-d,array-e" {
		t.Errorf("filtered walk = %s", got)
	}
	_, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", Filter: "status = NOPE"})
	checkInvalidRequest(t, err, "filter")
	_, err = f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", Filter: "status = STATUS_CONNECTED", PageToken: encodePageToken("vcenters/default", "", 1, "vp-1")})
	checkInvalidRequest(t, err, "page_token")
}

// watchEvents collects a provider watch's events.
type watchEvents struct {
	mu     sync.Mutex
	events []*vasagwv1.VasaProviderEvent
	change chan struct{}
}

func startWatch(ctx context.Context, t *testing.T, c vasagwv1.VasaProviderServiceClient, filter string) (*watchEvents, <-chan error) {
	t.Helper()
	stream, err := c.WatchVasaProviders(ctx, &vasagwv1.WatchVasaProvidersRequest{Parent: "vcenters/default", Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	w := &watchEvents{change: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				done <- err
				return
			}
			w.mu.Lock()
			w.events = append(w.events, ev)
			w.mu.Unlock()
			select {
			case w.change <- struct{}{}:
			default:
			}
		}
	}()
	return w, done
}

// await waits until some event satisfies ok and returns it.
func (w *watchEvents) await(t *testing.T, what string, ok func(*vasagwv1.VasaProviderEvent) bool) *vasagwv1.VasaProviderEvent {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		w.mu.Lock()
		for _, ev := range w.events {
			if ok(ev) {
				w.mu.Unlock()
				return ev
			}
		}
		w.mu.Unlock()
		select {
		case <-w.change:
		case <-deadline:
			t.Fatalf("no %s within a minute", what)
		}
	}
}

func (w *watchEvents) snapshot() []*vasagwv1.VasaProviderEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*vasagwv1.VasaProviderEvent(nil), w.events...)
}

func isEvent(typ vasagwv1.VasaProviderEvent_Type, provider string, st vasagwv1.VasaProvider_Status) func(*vasagwv1.VasaProviderEvent) bool {
	return func(ev *vasagwv1.VasaProviderEvent) bool {
		return ev.GetType() == typ && ev.GetVasaProvider().GetName() == "vcenters/default/vasaProviders/"+provider &&
			(st == vasagwv1.VasaProvider_STATUS_UNSPECIFIED || ev.GetVasaProvider().GetStatus() == st)
	}
}

// TestFleetWatchFanOut: 1,000 watchers get the matching providers, then
// SNAPSHOT_COMPLETE, then a status change made in the simulator; a
// filtered watcher gets DELETED for a provider that stops matching; and
// the simulator's call count shows one loop, not one per watcher.
func TestFleetWatchFanOut(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	f := newFleetFixture(t, fleetConfig{interval: interval, maxAge: time.Hour})
	ctx, cancel := context.WithCancel(fleetCtx(t))
	defer cancel()

	const watchers = 1000
	all := make([]*watchEvents, watchers)
	for i := range all {
		all[i], _ = startWatch(ctx, t, f.providers, "")
	}
	connected, connectedDone := startWatch(ctx, t, f.providers, "status = STATUS_CONNECTED")
	for i, w := range all {
		w.await(t, fmt.Sprintf("SNAPSHOT_COMPLETE for watcher %d", i), func(ev *vasagwv1.VasaProviderEvent) bool {
			return ev.GetType() == vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE
		})
	}
	connected.await(t, "SNAPSHOT_COMPLETE", func(ev *vasagwv1.VasaProviderEvent) bool {
		return ev.GetType() == vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE
	})
	if evs := all[0].snapshot(); len(evs) != 7 {
		t.Fatalf("the initial snapshot is %d events, want 6 UPSERTED and SNAPSHOT_COMPLETE", len(evs))
	}
	if evs := connected.snapshot(); len(evs) != 3 {
		t.Fatalf("the filtered snapshot is %d events, want vp-1, vp-6 and SNAPSHOT_COMPLETE", len(evs))
	}

	fl := f.fleet(t)
	refreshes, lists := fl.refreshes.Load(), f.sim.Sim.Calls("QueryProvider")
	p := smssim.DefaultProviders()[0]
	p.Info.Status = smssim.StatusDisconnected
	f.sim.Sim.AddProvider(p) // vp-1 goes down
	for i, w := range all {
		w.await(t, fmt.Sprintf("vp-1 disconnected for watcher %d", i),
			isEvent(vasagwv1.VasaProviderEvent_TYPE_UPSERTED, "vp-1", vasagwv1.VasaProvider_STATUS_DISCONNECTED))
	}
	connected.await(t, "DELETED vp-1 for the filtered watcher", isEvent(vasagwv1.VasaProviderEvent_TYPE_DELETED, "vp-1", 0))
	if n, loops := int64(f.sim.Sim.Calls("QueryProvider")-lists), fl.refreshes.Load()-refreshes; n > loops+1 {
		t.Errorf("%d watchers caused %d QueryProvider over %d refreshes of the loop", watchers, n, loops)
	}
	for i, w := range all[:10] {
		evs := w.snapshot()
		var n int
		for _, ev := range evs {
			if ev.GetVasaProvider().GetName() == "vcenters/default/vasaProviders/vp-1" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("watcher %d got %d events for vp-1, want its snapshot and its one change", i, n)
		}
	}
	cancel()
	if err := <-connectedDone; status.Code(err) != codes.Canceled {
		t.Errorf("the watch ended with %v", err)
	}
}

// TestFleetWatchEndsAndLeaksNothing: closing the service ends every
// provider watch with UNAVAILABLE, and no goroutine stays behind.
func TestFleetWatchEndsAndLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("watch", func(t *testing.T) {
		f := newFleetFixture(t, fleetConfig{interval: 50 * time.Millisecond, maxAge: time.Hour})
		ctx := fleetCtx(t)
		var dones []<-chan error
		for range 20 {
			w, done := startWatch(ctx, t, f.providers, "")
			w.await(t, "SNAPSHOT_COMPLETE", func(ev *vasagwv1.VasaProviderEvent) bool {
				return ev.GetType() == vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE
			})
			dones = append(dones, done)
		}
		f.svc.Close()
		for _, done := range dones {
			if err := <-done; status.Code(err) != codes.Unavailable {
				t.Errorf("watch ended with %v, want UNAVAILABLE", err)
			}
		}
		if st := f.svc.FleetStats(); len(st) != 0 {
			t.Errorf("fleets still running after Close: %+v", st)
		}
	})
}

// TestFleetReconnectThenGetIsConnected: once a reconnect task has
// succeeded, an immediate Get shows the provider connected, though the
// snapshot is otherwise trusted for an hour.
func TestFleetReconnectThenGetIsConnected(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{interval: time.Hour, maxAge: time.Hour})
	f.sim.Sim.SetSpeed(20)
	ctx := fleetCtx(t)
	name := "vcenters/default/vasaProviders/vp-2"
	if p, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: name}); err != nil || p.GetStatus() != vasagwv1.VasaProvider_STATUS_DISCONNECTED {
		t.Fatalf("vp-2 before = %v, %v", p, err)
	}
	task, err := f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := f.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for !terminal(task.GetState()) {
		if task, err = stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if task.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("reconnect = %v", task)
	}
	p, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: name})
	if err != nil || p.GetStatus() != vasagwv1.VasaProvider_STATUS_CONNECTED {
		t.Fatalf("vp-2 right after its reconnect succeeded = %v, %v", p.GetStatus(), err)
	}
	resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", Filter: `display_name = "array-b"`})
	if err != nil || len(resp.GetVasaProviders()) != 1 || resp.GetVasaProviders()[0].GetStatus() != vasagwv1.VasaProvider_STATUS_CONNECTED {
		t.Fatalf("List right after the reconnect = %v, %v", resp, err)
	}
}

// TestFleetAutoReconnect: with auto-reconnect on, a provider the simulator
// shows disconnected comes back with no caller request (audited as
// vasagw/auto-reconnect); an InvalidCertificate provider is tried once,
// then left, and its event says recovery is needed.
func TestFleetAutoReconnect(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, fleetConfig{interval: 50 * time.Millisecond, maxAge: time.Hour, autoReconnect: true})
	f.sim.Sim.SetSpeed(20)
	ctx, cancel := context.WithCancel(fleetCtx(t))
	defer cancel()
	w, _ := startWatch(ctx, t, f.providers, "")

	w.await(t, "vp-2 connected", isEvent(vasagwv1.VasaProviderEvent_TYPE_UPSERTED, "vp-2", vasagwv1.VasaProvider_STATUS_CONNECTED))
	ev := w.await(t, "vp-3 recovery needed", func(ev *vasagwv1.VasaProviderEvent) bool {
		return isEvent(vasagwv1.VasaProviderEvent_TYPE_UPSERTED, "vp-3", 0)(ev) && ev.GetRecoveryNeeded()
	})
	if reason := errorReason(ev.GetAutoReconnectError()); reason != "INVALID_CERTIFICATE" {
		t.Errorf("vp-3's auto-reconnect error reason = %q, want INVALID_CERTIFICATE", reason)
	}
	refreshes := f.fleet(t).refreshes.Load()
	f.awaitRefreshes(t, refreshes+5)
	if n := f.sim.Sim.CallsOn("VasaProviderReconnect_Task", "vp-3"); n != 1 {
		t.Errorf("vp-3 (InvalidCertificate) was reconnected %d times, want once", n)
	}
	if n := f.sim.Sim.CallsOn("VasaProviderReconnect_Task", "vp-1"); n != 0 {
		t.Errorf("connected vp-1 was reconnected %d times", n)
	}
	if n := f.sim.Sim.CallsOn("VasaProviderReconnect_Task", "vp-2"); n != 1 {
		t.Errorf("vp-2 was reconnected %d times, want once", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"caller":"vasagw/auto-reconnect","provider":"vcenters/default/vasaProviders/vp-2"`) {
		t.Errorf("no audit line names vasagw/auto-reconnect for vp-2:\n%s", logs)
	}
	counts := f.svc.FleetStats()[0].AutoReconnects
	if counts[autoSucceeded] < 1 || counts[autoRecoveryNeeded] != 1 {
		t.Errorf("auto-reconnect counts = %v", counts)
	}
}

// TestAutoBackoff: the wait doubles per failure up to its cap.
func TestAutoBackoff(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {4, 4 * time.Minute}, {30, maxAutoReconnectBackoff}} {
		if got := autoBackoff(30*time.Second, tt.failures); got != tt.want {
			t.Errorf("autoBackoff(30s, %d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// syncBuffer is a log sink tests can read while the service writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
