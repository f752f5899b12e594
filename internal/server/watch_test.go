package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
)

// fakeClock is the simulator's clock under the test's control: a task
// changes only when the test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// streamGRPC calls onMsg for each message of a gRPC watch until it ends.
func streamGRPC(ctx context.Context, c vasagwv1.TaskServiceClient, name string, onMsg func(*vasagwv1.Task)) error {
	stream, err := c.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: name})
	if err != nil {
		return err
	}
	for {
		t, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		onMsg(t)
	}
}

// streamNDJSON calls onMsg for each `{"result": Task}` line of a REST watch.
func streamNDJSON(ctx context.Context, hc *http.Client, base, name string, onMsg func(*vasagwv1.Task)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/"+name+":watch", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return err
		}
		if line.Error != nil {
			return fmt.Errorf("stream error %s", line.Error)
		}
		t := &vasagwv1.Task{}
		if err := protojson.Unmarshal(line.Result, t); err != nil {
			return err
		}
		onMsg(t)
	}
	return sc.Err()
}

// streamSSE calls onMsg for each `event: task` of an SSE watch.
func streamSSE(ctx context.Context, hc *http.Client, base, name string, onMsg func(*vasagwv1.Task)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/"+name+":watch", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	event, data := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "error" {
				return fmt.Errorf("stream error %s", data)
			}
			if event == "task" {
				t := &vasagwv1.Task{}
				if err := protojson.Unmarshal([]byte(data), t); err != nil {
					return err
				}
				onMsg(t)
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	return sc.Err()
}

// recorder keeps what one subscriber received.
type recorder struct {
	kind string
	task int

	mu   sync.Mutex
	msgs []*vasagwv1.Task
	err  error
	done bool
}

func (r *recorder) add(t *vasagwv1.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, t)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// waitUntil polls cond (a test helper, never shipped code) until it holds
// or the deadline passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// TestWatchFanOut: 1,000 subscribers (gRPC, NDJSON and SSE mixed) on 10
// tasks all see every change in order, and vCenter is polled about once
// per task per interval however many subscribe.
func TestWatchFanOut(t *testing.T) {
	const (
		tasks    = 10
		watchers = 1000
		interval = 100 * time.Millisecond
		duration = 10 * time.Second // each step below moves a task by a tenth
	)
	clock := newFakeClock()
	providers := smssim.DefaultProviders()
	for i := range tasks {
		id := fmt.Sprintf("vp-fan-%d", i)
		providers = append(providers, smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: duration})
	}
	// All watchers are anonymous here, which the per-caller stream cap
	// leaves alone (it has tests of its own).
	g := startGatewayWith(t, smssim.Options{Providers: providers, Now: clock.Now}, "--task-poll-interval="+interval.String())
	ctx := testContext(t)

	names := make([]string, tasks)
	taskIDs := make([]string, tasks)
	for i := range tasks {
		task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: fmt.Sprintf("vcenters/default/vasaProviders/vp-fan-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		names[i] = task.GetName()
		taskIDs[i] = task.GetName()[strings.LastIndex(task.GetName(), "/")+1:]
	}
	before := make([]int, tasks)
	for i, id := range taskIDs {
		before[i] = g.sim.Sim.CallsOn("QuerySmsTaskInfo", id)
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	t.Cleanup(hc.CloseIdleConnections)
	recs := make([]*recorder, watchers)
	var wg sync.WaitGroup
	start := time.Now()
	for j := range watchers {
		r := &recorder{kind: []string{"grpc", "ndjson", "sse"}[j%3], task: j % tasks}
		recs[j] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch r.kind {
			case "grpc":
				err = streamGRPC(ctx, g.tasks, names[r.task], r.add)
			case "ndjson":
				err = streamNDJSON(ctx, hc, g.base, names[r.task], r.add)
			case "sse":
				err = streamSSE(ctx, hc, g.base, names[r.task], r.add)
			}
			r.mu.Lock()
			r.err, r.done = err, true
			r.mu.Unlock()
		}()
	}
	allHave := func(n int) func() bool {
		return func() bool {
			for _, r := range recs {
				if r.count() < n {
					return false
				}
			}
			return true
		}
	}
	// Every subscriber has its first snapshot before anything changes.
	waitUntil(t, "every subscriber's first snapshot", time.Minute, allHave(1))
	// Each step changes every task exactly once; every subscriber must see it.
	steps := 0
	for virtual := time.Duration(0); virtual < duration; virtual += duration / 10 {
		clock.Advance(duration / 10)
		steps++
		waitUntil(t, fmt.Sprintf("step %d reaching every subscriber", steps), time.Minute, allHave(steps+1))
	}
	wg.Wait()
	elapsed := time.Since(start)

	for i := range tasks {
		var first *recorder
		for _, r := range recs {
			if r.task != i {
				continue
			}
			if r.err != nil {
				t.Fatalf("%s subscriber of task %d: %v", r.kind, i, r.err)
			}
			if first == nil {
				first = r
				checkProgression(t, r.msgs, vasagwv1.Task_STATE_SUCCEEDED)
				if len(r.msgs) != steps+1 {
					t.Errorf("task %d: %d messages, want %d (one per step and the first snapshot)", i, len(r.msgs), steps+1)
				}
				continue
			}
			if len(r.msgs) != len(first.msgs) {
				t.Fatalf("task %d: %s subscriber saw %d messages, %s subscriber %d", i, r.kind, len(r.msgs), first.kind, len(first.msgs))
			}
			for k := range r.msgs {
				if !proto.Equal(r.msgs[k], first.msgs[k]) {
					t.Fatalf("task %d message %d: %s subscriber saw %v, %s subscriber %v", i, k, r.kind, r.msgs[k], first.kind, first.msgs[k])
				}
			}
		}
	}
	// At most one poll per task per interval (less 10% jitter), plus a
	// small constant for the first immediate poll and the last one.
	limit := int(elapsed/(interval*9/10)) + 3
	for i, id := range taskIDs {
		polls := g.sim.Sim.CallsOn("QuerySmsTaskInfo", id) - before[i]
		t.Logf("task %s: %d polls for %d subscribers in %s (limit %d)", id, polls, watchers/tasks, elapsed.Round(time.Millisecond), limit)
		if polls > limit {
			t.Errorf("task %s polled %d times in %s, limit %d", id, polls, elapsed, limit)
		}
	}
}
