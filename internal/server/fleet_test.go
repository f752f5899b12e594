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

	"golang.org/x/sync/errgroup"

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
