package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// The watch benchmarks measure the gateway in a process of its own, a child
// running [TestBenchGatewayProcess], so that the numbers are the server's
// alone (not the 10,000 clients' as well) and so that 10,000 HTTP/1.1 SSE
// connections cost 10,000 file descriptors on each side instead of 20,000
// in one process (this machine's limit is 20,000). The child's simulator
// runs on a clock only the benchmark moves, so idle watchers stay idle and
// a change happens at a known instant.

// benchGatewayEnv makes [TestBenchGatewayProcess] run; its value is the
// --task-poll-interval.
const benchGatewayEnv = "VASAGW_BENCH_GATEWAY"

// benchFlagsEnv, when set, replaces the watch benchmarks' limit flags of
// [TestBenchGatewayProcess] with its own, separated by spaces (the
// hardening tests run the child with the default limits, or none).
const benchFlagsEnv = "VASAGW_BENCH_GATEWAY_FLAGS"

// watchProfileEnv, when set, names a directory where BenchmarkIdleWatchers
// saves the child's heap profile with every watcher open
// (heap-idle-TRANSPORT.pprof), to see what a watcher holds.
const watchProfileEnv = "VASAGW_WATCH_PROFILE_DIR"

// benchReadyPrefix starts the child's line that says where it listens.
const benchReadyPrefix = "VASAGW_BENCH_READY "

// benchAddrs is what the child tells the benchmark.
type benchAddrs struct {
	GRPC    string `json:"grpc"`
	HTTP    string `json:"http"`
	Control string `json:"control"`
}

// benchStats is the child's footprint after a full GC.
type benchStats struct {
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Goroutines int    `json:"goroutines"`
}

// TestBenchGatewayProcess is the gateway process of the watch benchmarks,
// not a test: it skips unless a benchmark started it. It serves the real
// Run in front of a simulator on a frozen clock, plus a control server
// (stats, clock, new reconnect tasks), until its stdin closes.
func TestBenchGatewayProcess(t *testing.T) {
	interval := os.Getenv(benchGatewayEnv)
	if interval == "" {
		t.Skip("the gateway process of the watch benchmarks; runs only when they start it")
	}
	clock := newFakeClock()
	limits := []string{
		"--max-streams-per-caller=0",       // 10,000 anonymous watchers are one caller
		"--max-streams-per-anonymous-ip=0", // ... from one address
		"--max-connections=0",              // grpc-conn-each and sse hold 10,000 connections
	}
	if v, ok := os.LookupEnv(benchFlagsEnv); ok {
		limits = strings.Fields(v)
	}
	g := startGatewayWith(t, smssim.Options{Now: clock.Now}, append([]string{
		"--task-poll-interval=" + interval,
		"--log-level=error", // debug logs of 10,000 streams would be the heap measured
	}, limits...)...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(benchStats{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine()})
	})
	mux.HandleFunc("GET /heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("POST /advance", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		clock.Advance(d)
	})
	var seq atomic.Int64
	mux.HandleFunc("POST /reconnect", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("duration"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := fmt.Sprintf("vp-bench-%d", seq.Add(1))
		g.sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: d})
		task, err := g.providers.ReconnectProvider(r.Context(), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + id})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, task.GetName())
	})
	control := httptest.NewServer(mux)
	defer control.Close()
	b, err := json.Marshal(benchAddrs{GRPC: g.conn.Target(), HTTP: g.base, Control: control.URL})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", benchReadyPrefix, b)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// benchGateway is the benchmark's handle on the child gateway process.
type benchGateway struct {
	benchAddrs
	hc *http.Client
}

// startBenchGateway runs the gateway in a child process with the given
// --task-poll-interval until the benchmark ends; flags, when given,
// replace the watch benchmarks' limit flags.
func startBenchGateway(b testing.TB, interval string, flags ...string) *benchGateway {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchGatewayProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchGatewayEnv+"="+interval)
	if flags != nil {
		cmd.Env = append(cmd.Env, benchFlagsEnv+"="+strings.Join(flags, " "))
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child shuts the gateway down and exits
		if err := cmd.Wait(); err != nil {
			b.Errorf("gateway process: %v", err)
		}
	})
	ready := make(chan benchAddrs, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), benchReadyPrefix); ok {
				var a benchAddrs
				if json.Unmarshal([]byte(rest), &a) == nil {
					ready <- a
				}
			}
		}
	}()
	g := &benchGateway{hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}}
	select {
	case g.benchAddrs = <-ready:
	case <-time.After(2 * time.Minute):
		b.Fatal("the gateway process did not start within 2 minutes")
	}
	b.Cleanup(g.hc.CloseIdleConnections)
	return g
}

func (g *benchGateway) post(b *testing.B, path string, form url.Values) string {
	b.Helper()
	resp, err := g.hc.PostForm(g.Control+path, form)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %s %s %v", path, resp.Status, body, err)
	}
	return string(body)
}

// reconnect starts a reconnect task of a new provider and returns its name.
func (g *benchGateway) reconnect(b *testing.B, d time.Duration) string {
	return g.post(b, "/reconnect", url.Values{"duration": {d.String()}})
}

// advance moves the child's simulator clock.
func (g *benchGateway) advance(b *testing.B, d time.Duration) {
	g.post(b, "/advance", url.Values{"d": {d.String()}})
}

// saveHeap saves the child's heap profile, after a GC, in the file name.
func (g *benchGateway) saveHeap(b testing.TB, name string) {
	b.Helper()
	if err := fetchTo(context.Background(), g.Control+"/heap", name); err != nil {
		b.Fatal(err)
	}
}

func (g *benchGateway) stats(b testing.TB) benchStats {
	b.Helper()
	resp, err := g.hc.Get(g.Control + "/stats")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var s benchStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchWatcher opens one watch of task and calls onMsg with each message's
// arrival time; it returns once the first message (the snapshot) has
// arrived, and the watch goes on in the background until ctx is done.
type benchWatcher func(ctx context.Context, task string, onMsg func(time.Time)) error

// grpcWatcher watches over conns, round robin.
func grpcWatcher(conns []*grpc.ClientConn) benchWatcher {
	var next atomic.Uint64
	return func(ctx context.Context, task string, onMsg func(time.Time)) error {
		c := vasagwv1.NewTaskServiceClient(conns[next.Add(1)%uint64(len(conns))])
		stream, err := c.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task})
		if err != nil {
			return err
		}
		if _, err := stream.Recv(); err != nil {
			return err
		}
		go func() {
			for {
				if _, err := stream.Recv(); err != nil {
					return
				}
				onMsg(time.Now())
			}
		}()
		return nil
	}
}

// sseWatcher watches over Server-Sent Events, one HTTP/1.1 connection per
// watcher as a browser tab holds.
func sseWatcher(hc *http.Client, base string) benchWatcher {
	return func(ctx context.Context, task string, onMsg func(time.Time)) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, taskWatchURL(base, task), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return errors.New(resp.Status)
		}
		br := bufio.NewReader(resp.Body)
		// readEvent reads up to the blank line that ends an event, skipping
		// keepalive comments.
		readEvent := func() error {
			data := false
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return err
				}
				switch {
				case strings.HasPrefix(line, "data: "):
					data = true
				case line == "\n" && data:
					return nil
				}
			}
		}
		if err := readEvent(); err != nil {
			resp.Body.Close()
			return err
		}
		go func() {
			defer resp.Body.Close()
			for readEvent() == nil {
				onMsg(time.Now())
			}
		}()
		return nil
	}
}

// openWatchers opens n watchers of task, a few at a time, and returns when
// each has its snapshot.
func openWatchers(b *testing.B, ctx context.Context, n int, task string, watch benchWatcher, onMsg func(time.Time)) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var firstErr error
	var once sync.Once
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := watch(ctx, task, onMsg); err != nil {
				once.Do(func() { firstErr = err })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatalf("open a watcher: %v", firstErr)
	}
}

// dialGRPC opens n gRPC client connections to addr, closed at the end.
func dialGRPC(b testing.TB, addr string, n int) []*grpc.ClientConn {
	b.Helper()
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// benchTransports are the ways a watcher reaches the gateway.
func benchTransports(b *testing.B, g *benchGateway, n int) map[string]func() benchWatcher {
	return map[string]func() benchWatcher{
		// Many streams multiplexed on a few HTTP/2 connections: internal
		// services fanning their own users in. One connection carries at
		// most --max-streams-per-connection (1,000) streams at once, so
		// 10,000 watchers and the first one take eleven.
		"grpc-shared-conn": func() benchWatcher { return grpcWatcher(dialGRPC(b, g.GRPC, 11)) },
		// One connection per watcher: many independent clients.
		"grpc-conn-each": func() benchWatcher { return grpcWatcher(dialGRPC(b, g.GRPC, n)) },
		// One HTTP/1.1 connection per watcher, as EventSource in a browser.
		"sse": func() benchWatcher {
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
			b.Cleanup(hc.CloseIdleConnections)
			return sseWatcher(hc, g.HTTP)
		},
	}
}

// BenchmarkIdleWatchers measures the gateway process's heap in use (after
// GC), goroutine stacks in use and goroutines per idle watcher: 10,000 watchers of one task that
// does not change (the simulator's clock stands still). ns/op is the time
// to open all the watchers.
//
//	go test -run='^$' -bench=BenchmarkIdleWatchers -benchtime=1x ./internal/server/
func BenchmarkIdleWatchers(b *testing.B) {
	const n = 10_000
	for _, name := range []string{"grpc-shared-conn", "grpc-conn-each", "sse"} {
		b.Run(name, func(b *testing.B) {
			g := startBenchGateway(b, "100ms")
			watch := benchTransports(b, g, n)[name]()
			b.StopTimer()
			for range b.N {
				task := g.reconnect(b, time.Hour)
				ctx, cancel := context.WithCancel(context.Background())
				// The poller of the task, started by a first watcher, is
				// there before and after: what is measured is the watchers.
				openWatchers(b, ctx, 1, task, watch, func(time.Time) {})
				before := g.stats(b)
				b.StartTimer()
				openWatchers(b, ctx, n, task, watch, func(time.Time) {})
				b.StopTimer()
				after := g.stats(b)
				if dir := os.Getenv(watchProfileEnv); dir != "" {
					g.saveHeap(b, filepath.Join(dir, "heap-idle-"+name+".pprof"))
				}
				cancel()
				b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-B/watcher")
				b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-B/watcher")
				b.ReportMetric(float64(after.Goroutines-before.Goroutines)/n, "goroutines/watcher")
				b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB-total")
			}
		})
	}
}

// BenchmarkWatchDelivery measures the delay from an upstream change to its
// delivery to each of 1,000 watchers of one task, with
// --task-poll-interval=100ms. Each op moves the simulator's clock at a
// random instant of the poll cycle so that the task's progress rises by
// one percent, then waits until every watcher has the change. Reported:
// p50/p99/max of change-to-delivery over all watchers and ops, and the
// fan-out spread (delivery to each watcher after the first watcher got it).
//
//	go test -run='^$' -bench=BenchmarkWatchDelivery -benchtime=100x ./internal/server/
func BenchmarkWatchDelivery(b *testing.B) {
	const (
		n        = 1000
		interval = 100 * time.Millisecond
		// The task runs 1000 h: queued for the first 100 h, then each
		// 9 h step is one percent of progress.
		duration = 1000 * time.Hour
		step     = 9 * time.Hour
		maxSteps = 95
	)
	for _, name := range []string{"grpc-shared-conn", "sse"} {
		b.Run(name, func(b *testing.B) {
			g := startBenchGateway(b, interval.String())
			watch := benchTransports(b, g, n)[name]()
			arrivals := make(chan time.Time, n)
			onMsg := func(at time.Time) { arrivals <- at }
			var delays, spreads []time.Duration
			steps := maxSteps
			var stop context.CancelFunc = func() {}
			b.Cleanup(func() { stop() })
			b.StopTimer()
			for range b.N {
				if steps == maxSteps {
					// A fresh task, started running, with every watcher on it.
					stop()
					ctx, cancel := context.WithCancel(context.Background())
					stop = cancel
					task := g.reconnect(b, duration)
					openWatchers(b, ctx, n, task, watch, onMsg)
					g.advance(b, duration/10)
					collect(b, arrivals, n, time.Time{})
					steps = 0
				}
				// Change at a random instant of the poll cycle, as a real
				// upstream change would.
				time.Sleep(rand.N(interval))
				b.StartTimer()
				changed := time.Now()
				g.advance(b, step)
				got := collect(b, arrivals, n, changed)
				b.StopTimer()
				steps++
				first := slices.MinFunc(got, time.Time.Compare)
				for _, at := range got {
					delays = append(delays, at.Sub(changed))
					spreads = append(spreads, at.Sub(first))
				}
			}
			slices.Sort(delays)
			slices.Sort(spreads)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(quantile(delays, 0.50)), "p50-ms")
			b.ReportMetric(ms(quantile(delays, 0.99)), "p99-ms")
			b.ReportMetric(ms(delays[len(delays)-1]), "max-ms")
			b.ReportMetric(ms(quantile(spreads, 0.50)), "spread-p50-ms")
			b.ReportMetric(ms(quantile(spreads, 0.99)), "spread-p99-ms")
		})
	}
}

// collect waits for n arrivals after since; arrivals stamped before since
// are a failure (a watcher saw a change that was not made).
func collect(b *testing.B, arrivals <-chan time.Time, n int, since time.Time) []time.Time {
	b.Helper()
	got := make([]time.Time, 0, n)
	timeout := time.After(time.Minute)
	for len(got) < n {
		select {
		case at := <-arrivals:
			if at.Before(since) {
				b.Fatalf("a message %v before the change", since.Sub(at))
			}
			got = append(got, at)
		case <-timeout:
			b.Fatalf("%d of %d watchers got the change within a minute", len(got), n)
		}
	}
	return got
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkUpstreamTaskPoll is the baseline of the watch benchmarks: one
// QuerySmsTaskInfo through [vcenter.Session.Task] against the simulator,
// what each poll of a watched task costs.
//
//	go test -run='^$' -bench=BenchmarkUpstreamTaskPoll ./internal/server/
func BenchmarkUpstreamTaskPoll(b *testing.B) {
	clock := newFakeClock()
	sim, err := smssim.Start(smssim.Options{Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	sim.Sim.AddProvider(smssim.Provider{ID: "vp-poll", Info: disconnectedInfo("vp-poll"), ReconnectDuration: time.Hour})
	pw := sim.Password
	s, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      sim.URL,
		Username: sim.Username,
		Password: func() (string, error) { return pw, nil },
		CAFile:   sim.CAFile,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Cleanup(func() { _ = s.Close(ctx) })
	task, err := s.Reconnect(ctx, "vp-poll")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Task(ctx, task); err != nil { // logs in, warms the connection
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Task(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
}
