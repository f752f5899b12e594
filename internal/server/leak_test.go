package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/store/redisstore/redistest"
)

// The leak tests are not parallel: goleak compares the process's
// goroutines, so nothing else may run beside them (Go runs parallel tests
// only after the sequential ones).

// openWatches starts one gRPC, one NDJSON and one SSE watch of task and
// returns once each has its first snapshot; done receives each watch's end.
func openWatches(t *testing.T, ctx context.Context, g *gateway, hc *http.Client, task string) <-chan error {
	t.Helper()
	first := make(chan struct{}, 3)
	done := make(chan error, 3)
	notify := func() func(*vasagwv1.Task) {
		sent := false
		return func(*vasagwv1.Task) {
			if !sent {
				sent = true
				first <- struct{}{}
			}
		}
	}
	go func() { done <- streamGRPC(ctx, g.tasks, task, notify()) }()
	go func() { done <- streamNDJSON(ctx, hc, g.base, task, notify()) }()
	go func() { done <- streamSSE(ctx, hc, g.base, task, notify()) }()
	for range 3 {
		select {
		case <-first:
		case err := <-done:
			t.Fatalf("a watch ended before its first message: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("no first message within a minute")
		}
	}
	return done
}

func reconnectSlow(t *testing.T, g *gateway, duration time.Duration) string {
	t.Helper()
	g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-leak", Info: disconnectedInfo("vp-leak"), ReconnectDuration: duration})
	task, err := g.providers.ReconnectProvider(testContext(t), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-leak"})
	if err != nil {
		t.Fatal(err)
	}
	return task.GetName()
}

func TestWatchLeavesNothingBehind(t *testing.T) {
	t.Run("client goes away", func(t *testing.T) {
		sim := startSim(t)
		cfg := gatewayConfig(t, sim)
		g := &gateway{sim: sim}
		startRun(t, cfg, g, WatchLinger(10*time.Millisecond))
		task := reconnectSlow(t, g, time.Hour)
		hc := &http.Client{Transport: &http.Transport{}}
		baseline := warmBaseline(t, g)

		ctx, cancel := context.WithCancel(context.Background())
		done := openWatches(t, ctx, g, hc, task)
		cancel()
		for range 3 {
			<-done
		}
		hc.CloseIdleConnections()
		goleak.VerifyNone(t, append(baseline, pooledUpstream...)...)
	})

	t.Run("task completes", func(t *testing.T) {
		sim := startSim(t)
		cfg := gatewayConfig(t, sim, "--task-poll-interval=100ms")
		g := &gateway{sim: sim}
		startRun(t, cfg, g, WatchLinger(10*time.Millisecond))
		task := reconnectSlow(t, g, 2*time.Second)
		hc := &http.Client{Transport: &http.Transport{}}
		baseline := warmBaseline(t, g)

		done := openWatches(t, testContext(t), g, hc, task)
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("watch: %v", err)
			}
		}
		hc.CloseIdleConnections()
		goleak.VerifyNone(t, append(baseline, pooledUpstream...)...)
	})

	t.Run("server shuts down", func(t *testing.T) {
		sim := startSim(t)
		baseline := []goleak.Option{goleak.IgnoreCurrent()}
		cfg := gatewayConfig(t, sim)
		g := &gateway{sim: sim}
		startRun(t, cfg, g)
		task := reconnectSlow(t, g, time.Hour)
		hc := &http.Client{Transport: &http.Transport{}}

		done := openWatches(t, testContext(t), g, hc, task)
		g.stop()
		for range 3 {
			if err := <-done; err == nil {
				t.Errorf("a watch ended without an error at shutdown")
			}
		}
		if err := g.wait(); err != nil {
			t.Fatal(err)
		}
		g.conn.Close()
		hc.CloseIdleConnections()
		goleak.VerifyNone(t, append(baseline, pooledUpstream...)...)
	})
}

// TestSharedRunLeavesNothingBehind: a gateway sharing state on Redis
// (its check, the task feed's subscription, the pollers' leases, a
// stream's heartbeat) leaves no goroutine behind when it shuts down with
// watches open.
func TestSharedRunLeavesNothingBehind(t *testing.T) {
	rd := redistest.Start(t)
	sim := startSim(t)
	baseline := []goleak.Option{goleak.IgnoreCurrent()}
	cfg := gatewayConfig(t, sim, "--redis-url="+rd.URL(), "--redis-key-prefix=leak:")
	g := &gateway{sim: sim}
	startRun(t, cfg, g)
	// Redis seen up, so the pollers lease their tasks and publish.
	hs := healthpb.NewHealthClient(g.conn)
	for {
		resp, err := hs.Check(testContext(t), &healthpb.HealthCheckRequest{Service: redisHealthService})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	task := reconnectSlow(t, g, time.Hour)
	hc := &http.Client{Transport: &http.Transport{}}

	done := openWatches(t, testContext(t), g, hc, task)
	g.stop()
	for range 3 {
		if err := <-done; err == nil {
			t.Errorf("a watch ended without an error at shutdown")
		}
	}
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}
	g.conn.Close()
	hc.CloseIdleConnections()
	goleak.VerifyNone(t, append(baseline, pooledUpstream...)...)
}

// startSim starts a simulator that runs tasks at normal speed.
func startSim(t *testing.T) *smssim.Server {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// pooledUpstream ignores the upstream HTTP client's pooled keep-alive
// connections to vCenter: the session opens more under concurrency and
// keeps them for reuse, which is not a leak. (Anywhere in the stack: a
// read loop may be caught inside its TLS read.)
var pooledUpstream = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
}

// warmBaseline makes one REST call, so the upstream session and its
// connections exist, and returns the goroutines to ignore.
func warmBaseline(t *testing.T, g *gateway) []goleak.Option {
	t.Helper()
	if r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", ""); r.code != http.StatusOK {
		t.Fatalf("warm-up call: %d %s", r.code, r.body)
	}
	http.DefaultClient.CloseIdleConnections()
	return []goleak.Option{goleak.IgnoreCurrent()}
}
