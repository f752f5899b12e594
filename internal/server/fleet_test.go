package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
)

// TestProviderWatchFanOutOverREST: 1,000 provider watchers over REST, half
// NDJSON and half SSE (`event: provider`), each get the snapshot, then
// SNAPSHOT_COMPLETE, then a status change made in the simulator; the
// simulator's QueryProvider count shows the one refresh loop, not one per
// watcher.
func TestProviderWatchFanOutOverREST(t *testing.T) {
	const interval = 200 * time.Millisecond
	g := startGateway(t, "--provider-poll-interval="+interval.String())
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()

	const watchers = 1000
	ready := make(chan struct{}, watchers)
	changed := make(chan struct{}, watchers)
	var eg errgroup.Group
	for i := range watchers {
		sse := i%2 == 1
		eg.Go(func() error { return followProviders(ctx, client, g.base, sse, ready, changed) })
	}
	for i := range watchers {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Fatalf("only %d of %d watchers got SNAPSHOT_COMPLETE within a minute", i, watchers)
		}
	}

	start, lists := time.Now(), g.sim.Sim.Calls("QueryProvider")
	p := smssim.DefaultProviders()[0]
	p.Info.Status = smssim.StatusDisconnected
	g.sim.Sim.AddProvider(p) // vp-1 goes down
	for i := range watchers {
		select {
		case <-changed:
		case <-time.After(time.Minute):
			t.Fatalf("only %d of %d watchers saw vp-1 disconnected within a minute", i, watchers)
		}
	}
	elapsed := time.Since(start)
	if n := g.sim.Sim.Calls("QueryProvider") - lists; n > int(elapsed/interval)+2 {
		t.Errorf("%d watchers over %v: %d QueryProvider, more than one loop makes (%d)", watchers, elapsed, n, int(elapsed/interval)+2)
	}
	cancel()
	if err := eg.Wait(); err != nil {
		t.Error(err)
	}
}

// followProviders watches the default vCenter's providers over REST
// (NDJSON, or SSE) and signals ready at SNAPSHOT_COMPLETE (after all six
// providers) and changed when vp-1 shows disconnected after it.
func followProviders(ctx context.Context, client *http.Client, base string, sse bool, ready, changed chan<- struct{}) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/vcenters/default/vasaProviders:watch", nil)
	if err != nil {
		return err
	}
	if sse {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("watch: HTTP %d", resp.StatusCode)
	}
	type event struct {
		Type         string `json:"type"`
		VasaProvider struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"vasaProvider"`
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	upserted, complete := 0, false
	for sc.Scan() {
		line := sc.Text()
		var ev event
		switch {
		case sse && strings.HasPrefix(line, "event: "):
			if line != "event: provider" {
				return fmt.Errorf("SSE event %q", line)
			}
			continue
		case sse && strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				return err
			}
		case !sse && line != "":
			var wrapped struct {
				Result *event `json:"result"`
			}
			if err := json.Unmarshal([]byte(line), &wrapped); err != nil || wrapped.Result == nil {
				return fmt.Errorf("NDJSON line %.200s: %v", line, err)
			}
			ev = *wrapped.Result
		default:
			continue
		}
		switch {
		case !complete && ev.Type == "TYPE_UPSERTED":
			upserted++
		case !complete && ev.Type == "TYPE_SNAPSHOT_COMPLETE":
			if upserted != 6 {
				return fmt.Errorf("SNAPSHOT_COMPLETE after %d providers, want 6", upserted)
			}
			complete = true
			ready <- struct{}{}
		case complete && ev.VasaProvider.Name == "vcenters/default/vasaProviders/vp-1" && ev.VasaProvider.Status == "STATUS_DISCONNECTED":
			changed <- struct{}{}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("watch ended: %v", sc.Err())
}

// TestProviderMetricsAndSSEResume: the admin listener exports every
// provider from the snapshot (up with its status, the certificate's expiry)
// and the loop's own series, and an SSE provider watch resumed with
// Last-Event-ID numbers its events on from there.
func TestProviderMetricsAndSSEResume(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--provider-poll-interval=200ms", "--auto-reconnect")
	metrics := func() string { _, _, b := get(t, g.admin+"/metrics"); return b }
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(metrics(), `vasagw_vasa_provider_up{provider="vp-1",status="connected",vcenter="default"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("no vasagw_vasa_provider_up for vp-1:\n%s", metrics())
		}
		time.Sleep(20 * time.Millisecond)
	}
	body := metrics()
	for _, want := range []string{
		`vasagw_vasa_provider_up{provider="vp-4",status="disconnected",vcenter="default"} 0`,
		`vasagw_vasa_provider_certificate_expiry_timestamp_seconds{provider="vp-3",vcenter="default"}`,
		`vasagw_vasa_provider_refreshes_total{vcenter="default"}`,
		`vasagw_vasa_provider_snapshot_age_seconds{vcenter="default"}`,
		`vasagw_vasa_provider_auto_reconnects_total{outcome="recovery_needed",vcenter="default"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	var expiry float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, `vasagw_vasa_provider_certificate_expiry_timestamp_seconds{provider="vp-3",`) {
			if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &expiry); err != nil {
				t.Fatal(err)
			}
		}
	}
	if expiry <= 0 || expiry > float64(time.Now().Unix()) {
		t.Errorf("vp-3's certificate expiry %v is not in the past (its certificate expired)", expiry)
	}

	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/v1/vcenters/default/vasaProviders:watch?filter=status%20%3D%20STATUS_CONNECTED", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "41")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() && len(lines) < 2 {
		if line := sc.Text(); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) < 2 || lines[0] != "event: provider" || lines[1] != "id: 42" {
		t.Errorf("a watch resumed after event 41 begins %q, want event: provider, id: 42", lines)
	}

	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders:watch?filter=status%20%3D", "", "Accept", "text/event-stream")
	if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"filter"`) {
		t.Errorf("a bad filter on an SSE watch = %d %s, want 400 naming filter", r.code, r.body)
	}
}

// TestProviderWatchLeavesNothingBehind: provider watches over gRPC, NDJSON
// and SSE whose callers go away leave no goroutine behind (not parallel:
// goleak compares the whole process).
func TestProviderWatchLeavesNothingBehind(t *testing.T) {
	sim := startSim(t)
	cfg := gatewayConfig(t, sim, "--provider-poll-interval=1h")
	g := &gateway{sim: sim}
	startRun(t, cfg, g)
	hc := &http.Client{Transport: &http.Transport{}}

	// A first watch, so that the loop's first refresh is over before the
	// baseline is taken.
	ready, changed := make(chan struct{}, 3), make(chan struct{}, 3)
	ctx, cancel := context.WithCancel(testContext(t))
	first := make(chan error, 1)
	go func() { first <- followProviders(ctx, hc, g.base, true, ready, changed) }()
	<-ready
	cancel()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	hc.CloseIdleConnections()
	// And the gRPC client connection, which dials on first use.
	if _, err := g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"}); err != nil {
		t.Fatal(err)
	}
	baseline := warmBaseline(t, g)

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 3)
	go func() { done <- followProviders(ctx, hc, g.base, false, ready, changed) }()
	go func() { done <- followProviders(ctx, hc, g.base, true, ready, changed) }()
	go func() {
		stream, err := g.providers.WatchVasaProviders(ctx, &vasagwv1.WatchVasaProvidersRequest{Parent: "vcenters/default"})
		if err != nil {
			done <- err
			return
		}
		for {
			ev, err := stream.Recv()
			if err != nil {
				done <- nil // ended by the cancel below
				return
			}
			if ev.GetType() == vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE {
				ready <- struct{}{}
			}
		}
	}()
	for range 3 {
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("a watch ended before its snapshot: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("no snapshot within a minute")
		}
	}
	cancel()
	for range 3 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	hc.CloseIdleConnections()
	goleak.VerifyNone(t, append(baseline, pooledUpstream...)...)
}
