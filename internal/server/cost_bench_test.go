package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	smstypes "github.com/vmware/govmomi/sms/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// The cost report measures what the gateway adds to a call, against the
// floor of making the same SMS call directly with a [vcenter.Session], all
// three in one process against one simulator: the floor, the gateway over
// gRPC and the gateway over REST, for GetVasaProvider, GetTask and
// ReconnectProvider at several concurrencies. The variants are interleaved
// in rounds (their order rotating) so that the machine's noise hits them
// alike, and every ratio is taken within a round, then the median over the
// rounds is reported. scripts/bench.sh runs it and renders the profiles.
//
// It is a report, not a test: it asserts no timing, and it runs only when
// VASAGW_COST_REPORT names the directory to write into.

// Environment of [TestCostReport].
const (
	costReportEnv      = "VASAGW_COST_REPORT"         // output directory; unset skips
	costRoundsEnv      = "VASAGW_COST_ROUNDS"         // rounds (default 5)
	costCellEnv        = "VASAGW_COST_CELL"           // measured time per variant per cell (default 700ms)
	costConcurrencyEnv = "VASAGW_COST_CONCURRENCY"    // comma-separated (default 1,16,64)
	costProfileEnv     = "VASAGW_COST_PROFILE"        // seconds of profile per variant; 0 skips (default 8)
	costOnlyEnv        = "VASAGW_COST_ONLY"           // comma-separated operations and variants to keep (default all)
	costDelayEnv       = "VASAGW_COST_UPSTREAM_DELAY" // added to every upstream request by a proxy (default none)
)

// costProviders is how many providers ReconnectProvider goes round: more
// than the highest concurrency, so concurrent calls never share one and
// the gateway's per-provider de-duplication never joins them.
const costProviders = 256

// costVariants are the ways a call is made, floor first; vijson is the
// VI/JSON facade (QueryProviderInfo, QuerySmsTaskInfo,
// VasaProviderReconnect_Task), which reaches the same RPCs as rest.
var costVariants = []string{"floor", "grpc", "rest", "vijson"}

// costOps are the operations measured.
var costOps = []string{"GetVasaProvider", "GetTask", "ReconnectProvider"}

// costCell is one variant's measurement of one operation at one
// concurrency in one round.
type costCell struct {
	Op          string        `json:"op"`
	Variant     string        `json:"variant"`
	Concurrency int           `json:"concurrency"`
	Round       int           `json:"round"`
	Ops         int           `json:"ops"`
	Errors      int           `json:"errors"`
	P50         time.Duration `json:"p50"`
	P99         time.Duration `json:"p99"`
	Throughput  float64       `json:"throughput"` // calls per second
	CPUPerOp    time.Duration `json:"cpuPerOp"`   // process CPU (user+system) per call
	// OwnCPUPerOp is the CPU per call of the part that makes the call:
	// the gateway's goroutines (pprof label part=gateway) for the gateway
	// variants, the floor client's (part=client) for the floor, from a
	// CPU profile of the measured run; 0 when no profile could be taken.
	OwnCPUPerOp time.Duration `json:"ownCpuPerOp"`
	// UpstreamPerOp is how many SMS calls the simulator served per call
	// measured (the gateway coalesces concurrent identical provider reads,
	// so it may be under the floor's one).
	UpstreamPerOp float64 `json:"upstreamPerOp"`
}

// costBench holds the three ways of calling one simulator.
type costBench struct {
	sim       *smssim.Server
	floor     *vcenter.Session
	providers vasagwv1.VasaProviderServiceClient
	tasks     vasagwv1.TaskServiceClient
	health    healthpb.HealthClient
	http      *http.Client
	base      string // REST base URL
	admin     string // admin listener base URL
	taskID    string // a task that runs for the whole report
	next      atomic.Uint64
}

// call returns the function that makes one call of op by variant.
func (b *costBench) call(op, variant string) func(context.Context) error {
	const vc = "vcenters/default/"
	switch op + "/" + variant {
	case "GetVasaProvider/floor":
		return func(ctx context.Context) error { _, err := b.floor.Provider(ctx, "vp-1"); return err }
	case "GetVasaProvider/grpc":
		return func(ctx context.Context) error {
			_, err := b.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: vc + "vasaProviders/vp-1"})
			return err
		}
	case "GetVasaProvider/rest":
		return func(ctx context.Context) error { return b.rest(ctx, http.MethodGet, "/v1/"+vc+"vasaProviders/vp-1") }
	case "GetTask/floor":
		return func(ctx context.Context) error { _, err := b.floor.Task(ctx, b.taskID); return err }
	case "GetTask/grpc":
		return func(ctx context.Context) error {
			_, err := b.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: vc + "tasks/" + b.taskID})
			return err
		}
	case "GetTask/rest":
		return func(ctx context.Context) error { return b.rest(ctx, http.MethodGet, "/v1/"+vc+"tasks/"+b.taskID) }
	case "ReconnectProvider/floor":
		// The gateway answers a reconnect with the task's state, which
		// takes a second SMS call (QuerySmsTaskInfo) after
		// VasaProviderReconnect_Task; a direct caller wanting the same
		// answer makes the same two calls.
		return func(ctx context.Context) error {
			id, err := b.floor.Reconnect(ctx, b.nextProvider())
			if err != nil {
				return err
			}
			_, err = b.floor.Task(ctx, id)
			return err
		}
	case "ReconnectProvider/grpc":
		return func(ctx context.Context) error {
			_, err := b.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: vc + "vasaProviders/" + b.nextProvider()})
			return err
		}
	case "Health/grpc":
		return func(ctx context.Context) error {
			_, err := b.health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}
	case "Health/rest":
		return func(ctx context.Context) error { return b.rest(ctx, http.MethodGet, "/healthz") }
	case "ReconnectProvider/rest":
		return func(ctx context.Context) error {
			return b.rest(ctx, http.MethodPost, "/v1/"+vc+"vasaProviders/"+b.nextProvider()+":reconnect")
		}
	case "GetVasaProvider/vijson":
		return func(ctx context.Context) error {
			return b.rest(ctx, http.MethodPost, viJSONPath+"VasaProvider/vp-1/QueryProviderInfo")
		}
	case "GetTask/vijson":
		return func(ctx context.Context) error {
			return b.rest(ctx, http.MethodPost, viJSONPath+"SmsTask/"+b.taskID+"/QuerySmsTaskInfo")
		}
	case "ReconnectProvider/vijson":
		return func(ctx context.Context) error {
			return b.rest(ctx, http.MethodPost, viJSONPath+"VasaProvider/"+b.nextProvider()+"/VasaProviderReconnect_Task")
		}
	}
	panic("no call for " + op + "/" + variant)
}

// upstreamCalls is how many SMS calls of the measured kinds the simulator
// has served.
func (b *costBench) upstreamCalls() int {
	return b.sim.Sim.Calls("QueryProviderInfo") + b.sim.Sim.Calls("QuerySmsTaskInfo") + b.sim.Sim.Calls("VasaProviderReconnect_Task")
}

// nextProvider goes round the benchmark's providers.
// viJSONPath is where the VI/JSON facade's SMS methods are.
const viJSONPath = "/sdk/vim25/8.0.1.0/sms/"

func (b *costBench) nextProvider() string {
	return costProviderID(int(b.next.Add(1) % costProviders))
}

func costProviderID(i int) string { return fmt.Sprintf("vp-cost-%03d", i) }

// rest makes one REST call and reads the whole answer, as a client must
// to reuse its connection.
func (b *costBench) rest(ctx context.Context, method, path string) error {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

// TestCostReport is the gateway cost report (see the comment above); it
// skips unless VASAGW_COST_REPORT is set.
func TestCostReport(t *testing.T) {
	out := os.Getenv(costReportEnv)
	if out == "" {
		t.Skip("the gateway cost report; run scripts/bench.sh (or set " + costReportEnv + " to an output directory)")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	rounds := costEnvInt(t, costRoundsEnv, 5)
	cell := costEnvDuration(t, costCellEnv, 700*time.Millisecond)
	profile := costEnvInt(t, costProfileEnv, 8)
	concurrency := []int{1, 16, 64}
	if v := os.Getenv(costConcurrencyEnv); v != "" {
		concurrency = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want positive integers", costConcurrencyEnv, v)
			}
			concurrency = append(concurrency, n)
		}
	}

	ops, variants := costOps, costVariants
	if v := os.Getenv(costOnlyEnv); v != "" {
		only := strings.Split(v, ",")
		keep := func(xs []string) []string {
			var out []string
			for _, x := range xs {
				if slices.Contains(only, x) {
					out = append(out, x)
				}
			}
			if out == nil {
				return xs
			}
			return out
		}
		ops, variants = keep(ops), keep(variants)
	}

	b := startCostBench(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	t.Cleanup(cancel)

	var cells []costCell
	pprof.Do(ctx, pprof.Labels("part", "client"), func(ctx context.Context) {
		for r := range rounds {
			// Warm the gateway's provider facts (the VASA-version pre-check
			// of ReconnectProvider), as a portal listing them would: a
			// reconnect then makes no QueryProviderInfo round trip.
			if _, err := b.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 1000}); err != nil {
				t.Fatal(err)
			}
			i := 0
			for _, op := range ops {
				for _, c := range concurrency {
					for k := range variants {
						v := variants[(k+r+i)%len(variants)]
						res := measureCost(ctx, b.call(op, v), c, cell, ownPart(v), b.upstreamCalls)
						res.Op, res.Variant, res.Concurrency, res.Round = op, v, c, r
						if res.Errors > 0 {
							t.Errorf("%s over %s at %d: %d of %d calls failed", op, v, c, res.Errors, res.Ops+res.Errors)
						}
						cells = append(cells, res)
					}
					i++
				}
			}
			// The fixed cost of a call that makes no upstream call at all:
			// the gRPC health check and the REST listener's /healthz.
			for _, v := range []string{"grpc", "rest"} {
				res := measureCost(ctx, b.call("Health", v), 1, cell/2, "", nil)
				res.Op, res.Variant, res.Concurrency, res.Round = "Health", v, 1, r
				cells = append(cells, res)
			}
			t.Logf("round %d of %d done", r+1, rounds)
		}
	})
	if t.Failed() {
		return
	}
	raw, err := json.MarshalIndent(cells, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "cost.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	table := costTable(cells, ops, variants, concurrency, rounds)
	calls := fmt.Sprintf("\nSMS calls the simulator served: %d VasaProviderReconnect_Task, %d QuerySmsTaskInfo, %d QueryProviderInfo (one per call, plus the List warm-ups).\n",
		b.sim.Sim.Calls("VasaProviderReconnect_Task"), b.sim.Sim.Calls("QuerySmsTaskInfo"), b.sim.Sim.Calls("QueryProviderInfo"))
	if err := os.WriteFile(filepath.Join(out, "cost.md"), []byte(table+calls), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Print(table + calls)

	if profile > 0 {
		pprof.Do(ctx, pprof.Labels("part", "client"), func(ctx context.Context) {
			for _, v := range variants {
				b.profile(ctx, t, out, v, time.Duration(profile)*time.Second)
			}
		})
	}
}

// profile runs a mix of the three operations by variant at concurrency 16
// while it takes a CPU profile and an allocation profile from the
// gateway's admin listener (they cover the whole process: the samples are
// labelled part=gateway, part=simulator or part=client).
func (b *costBench) profile(ctx context.Context, t *testing.T, out, variant string, d time.Duration) {
	t.Helper()
	calls := make([]func(context.Context) error, len(costOps))
	for i, op := range costOps {
		calls[i] = b.call(op, variant)
	}
	var n atomic.Uint64
	mixed := func(ctx context.Context) error { return calls[n.Add(1)%uint64(len(calls))](ctx) }
	if _, err := b.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 1000}); err != nil {
		t.Fatal(err)
	}
	secs := strconv.Itoa(int(d / time.Second))
	var wg sync.WaitGroup
	for _, kind := range []string{"profile", "allocs"} {
		wg.Go(func() {
			name := filepath.Join(out, kind+"-"+variant+".pprof")
			if err := fetchTo(ctx, b.admin+"/debug/pprof/"+kind+"?seconds="+secs, name); err != nil {
				t.Errorf("%s profile of %s: %v", kind, variant, err)
			}
		})
	}
	// Load from a little before the profiles start to a little after
	// they end.
	res := measureCost(ctx, mixed, 16, d+time.Second, "", nil) // the admin listener profiles
	wg.Wait()
	t.Logf("profiled %s: %d calls, %.0f/s, %s CPU per call", variant, res.Ops, res.Throughput, res.CPUPerOp)
}

// fetchTo saves what url answers in the file name.
func fetchTo(ctx context.Context, url, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startCostBench starts a simulator, the gateway's real Run in front of
// it, and a direct session to it, each under its own profiler label.
func startCostBench(t testing.TB) *costBench {
	t.Helper()
	b := &costBench{}
	var err error
	pprof.Do(context.Background(), pprof.Labels("part", "simulator"), func(context.Context) {
		b.sim, err = smssim.Start(smssim.Options{})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.sim.Close)
	for i := range costProviders {
		id := costProviderID(i)
		b.sim.Sim.AddProvider(smssim.Provider{ID: id, Info: costProviderInfo(id)})
	}
	// A reconnect that runs for far longer than the report: GetTask reads
	// it running, so the gateway cannot answer from its cache of finished
	// tasks and makes the SMS call each time, as the floor does.
	b.sim.Sim.AddProvider(smssim.Provider{ID: "vp-cost-slow", Info: costProviderInfo("vp-cost-slow"), ReconnectDuration: 1000 * time.Hour})

	// With an upstream delay, the gateway and the floor reach the simulator
	// through the delaying proxy.
	upstream := *b.sim.URL
	if v := os.Getenv(costDelayEnv); v != "" {
		delay, err := time.ParseDuration(v)
		if err != nil || delay <= 0 {
			t.Fatalf("%s=%q: want a positive duration", costDelayEnv, v)
		}
		pprof.Do(context.Background(), pprof.Labels("part", "simulator"), func(context.Context) {
			upstream.Host = startDelayProxy(t, b.sim.URL.Host, delay)
		})
	}
	cfg := gatewayConfig(t, b.sim,
		"--vcenter-url="+upstream.String(),
		"--log-level=info",           // the default: audit lines are part of the cost
		"--admin-addr=127.0.0.1:0",   // for the profiles
		"--max-streams-per-caller=0", // all benchmark callers are one anonymous caller
		"--task-poll-interval=1s",    // no watches run; the default
		"--health-interval=10s",      // the default
		"--shutdown-timeout=5s",      // the report's end need not wait
		"--cors-allowed-origins=",    // the default: no CORS wrapper
		"--reconnect-rate=0",         // the harness calls far faster than a person
		"--insecure-allow-unauthenticated",
	)
	addrs := make(chan Addrs, 1)
	opts := []Option{
		LogOutput(io.Discard), // formatted, as in production, then dropped
		OnListen(func(a Addrs) { addrs <- a }),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	pprof.Do(ctx, pprof.Labels("part", "gateway"), func(ctx context.Context) {
		go func() { done <- Run(ctx, cfg, opts...) }()
	})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	var a Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	b.admin = "http://" + a.Admin.String()
	b.base = "http://" + a.HTTP.String()

	pprof.Do(context.Background(), pprof.Labels("part", "client"), func(context.Context) {
		conn, err := grpc.NewClient(a.GRPC.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		b.providers = vasagwv1.NewVasaProviderServiceClient(conn)
		b.tasks = vasagwv1.NewTaskServiceClient(conn)
		b.health = healthpb.NewHealthClient(conn)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256 // one kept-alive connection per concurrent caller
		b.http = &http.Client{Transport: tr}
		t.Cleanup(tr.CloseIdleConnections)

		pw := b.sim.Password
		b.floor, err = vcenter.NewSession(vcenter.SessionConfig{
			URL:      &upstream,
			Username: b.sim.Username,
			Password: func() (string, error) { return pw, nil },
			CAFile:   b.sim.CAFile,
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.floor.Close(ctx)
	})
	ctx, cancelCall := context.WithTimeout(context.Background(), time.Minute)
	defer cancelCall()
	if b.taskID, err = b.floor.Reconnect(ctx, "vp-cost-slow"); err != nil {
		t.Fatal(err)
	}
	return b
}

// costProviderInfo is a connected VASA 3.0 provider: its reconnect is a
// task that succeeds at once, so every call starts a new one upstream.
func costProviderInfo(id string) smstypes.VasaProviderInfo {
	info := smssim.DefaultProviders()[0].Info
	info.Uid = "uid-" + id
	info.Name = "array-" + id
	return info
}

// measureCost runs call from c goroutines for d after a short warm-up,
// and reports latencies, throughput and the process CPU per call; own
// names the pprof part whose CPU is the variant's own ("" for none), and
// upstream, when not nil, counts the SMS calls served so far.
func measureCost(ctx context.Context, call func(context.Context) error, c int, d time.Duration, own string, upstream func() int) costCell {
	run := func(d time.Duration, record bool) (lat [][]time.Duration, errs int, elapsed time.Duration) {
		lat = make([][]time.Duration, c)
		var nerr atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(d)
		for w := range c {
			wg.Go(func() {
				var mine []time.Duration
				if record {
					mine = make([]time.Duration, 0, 1024)
				}
				for {
					t0 := time.Now()
					if !t0.Before(deadline) {
						break
					}
					if err := call(ctx); err != nil {
						nerr.Add(1)
						continue
					}
					if record {
						mine = append(mine, time.Since(t0))
					}
				}
				lat[w] = mine
			})
		}
		wg.Wait()
		return lat, int(nerr.Load()), time.Since(start)
	}
	run(min(d/4, 200*time.Millisecond), false)
	runtime.GC() // start each measurement with the same heap debt
	var prof bytes.Buffer
	profiling := own != "" && pprof.StartCPUProfile(&prof) == nil
	up0 := 0
	if upstream != nil {
		up0 = upstream()
	}
	cpu0 := processCPU()
	lat, errs, elapsed := run(d, true)
	cpu := processCPU() - cpu0
	ups := 0
	if upstream != nil {
		ups = upstream() - up0
	}
	var ownCPU time.Duration
	if profiling {
		pprof.StopCPUProfile()
		ownCPU = cpuOfPart(&prof, own)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	res := costCell{Ops: len(all), Errors: errs}
	if len(all) > 0 {
		res.P50 = all[len(all)/2]
		res.P99 = all[min(len(all)-1, len(all)*99/100)]
		res.Throughput = float64(len(all)) / elapsed.Seconds()
		res.CPUPerOp = cpu / time.Duration(len(all))
		res.OwnCPUPerOp = ownCPU / time.Duration(len(all))
		res.UpstreamPerOp = float64(ups) / float64(len(all)+errs)
	}
	return res
}

// ownPart is the pprof part whose CPU is variant's own.
func ownPart(variant string) string {
	if variant == "floor" {
		return "client"
	}
	return "gateway"
}

// cpuOfPart sums the CPU samples of a profile labelled part=part; 0 when
// the profile cannot be read.
func cpuOfPart(r io.Reader, part string) time.Duration {
	p, err := profile.Parse(r)
	if err != nil {
		return 0
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return 0
	}
	var sum int64
	for _, s := range p.Sample {
		if slices.Contains(s.Label["part"], part) {
			sum += s.Value[idx]
		}
	}
	return time.Duration(sum)
}

// startDelayProxy forwards TCP connections to addr, holding every chunk a
// caller sends for delay before passing it on: an upstream that answers
// each request delay later, as a vCenter across a network and busy with
// its own work does (TLS passes through untouched). It returns the
// proxy's address.
func startDelayProxy(t testing.TB, addr string, delay time.Duration) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go func() {
				_, _ = io.Copy(c, up)
				c.Close()
			}()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						time.Sleep(delay) // the upstream's answer time, not a poll
						if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						up.Close()
						return
					}
				}
			}()
		}
	}()
	return lis.Addr().String()
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// costTable renders the medians over the rounds of each variant's figures
// and of its ratios to the floor taken round by round.
func costTable(cells []costCell, ops, variants []string, concurrency []int, rounds int) string {
	type key struct {
		op, variant string
		c, round    int
	}
	byKey := make(map[key]costCell, len(cells))
	for _, c := range cells {
		byKey[key{c.Op, c.Variant, c.Concurrency, c.Round}] = c
	}
	median := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		xs = slices.Clone(xs)
		slices.Sort(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	us := func(s float64) string { return strconv.FormatFloat(s/1e3, 'f', 0, 64) }
	var sb strings.Builder
	fmt.Fprintf(&sb, "Medians over %d rounds; a ratio is gateway/floor within a round, then the median over the rounds (throughput: gateway/floor, higher is better).\n\n", rounds)
	sb.WriteString("Own CPU is the CPU of the part making the call alone (pprof label part=gateway; for the floor, part=client, the floor client).\n\n")
	sb.WriteString("| operation | c | variant | p50 µs | p99 µs | calls/s | CPU µs/call | own CPU µs/call | p50 ×floor | p99 ×floor | calls/s ×floor | CPU ×floor | own CPU ×floor |\n")
	sb.WriteString("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, op := range ops {
		for _, c := range concurrency {
			for _, v := range variants {
				var p50, p99, tput, cpu, own, r50, r99, rtput, rcpu, rown []float64
				for r := range rounds {
					g, ok := byKey[key{op, v, c, r}]
					f, okf := byKey[key{op, "floor", c, r}]
					if !ok || !okf || g.Ops == 0 || f.Ops == 0 {
						continue
					}
					p50 = append(p50, float64(g.P50))
					p99 = append(p99, float64(g.P99))
					tput = append(tput, g.Throughput)
					cpu = append(cpu, float64(g.CPUPerOp))
					r50 = append(r50, float64(g.P50)/float64(f.P50))
					r99 = append(r99, float64(g.P99)/float64(f.P99))
					rtput = append(rtput, g.Throughput/f.Throughput)
					rcpu = append(rcpu, float64(g.CPUPerOp)/float64(f.CPUPerOp))
					if g.OwnCPUPerOp > 0 && f.OwnCPUPerOp > 0 {
						own = append(own, float64(g.OwnCPUPerOp))
						rown = append(rown, float64(g.OwnCPUPerOp)/float64(f.OwnCPUPerOp))
					}
				}
				ratio := func(xs []float64) string {
					if v == "floor" {
						return "1"
					}
					return strconv.FormatFloat(median(xs), 'f', 2, 64)
				}
				fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
					op, c, v, us(median(p50)), us(median(p99)), median(tput), us(median(cpu)), us(median(own)),
					ratio(r50), ratio(r99), ratio(rtput), ratio(rcpu), ratio(rown))
			}
		}
	}
	// The gateway's own CPU: per call, less the floor client's (the same
	// SMS calls made directly), and over gRPC's, each within a round.
	if slices.Contains(variants, "grpc") && slices.Contains(variants, "floor") {
		sb.WriteString("\nThe gateway's own CPU per call (part=gateway), what it adds to the floor client's (part=gateway less the floor's part=client), and over gRPC's; each within a round, then the median over the rounds:\n\n")
		sb.WriteString("| operation | c | variant | gateway CPU µs/call | over the floor client µs/call | gateway CPU ×grpc | SMS calls per call (floor's) |\n| --- | ---: | --- | ---: | ---: | ---: | ---: |\n")
		for _, op := range ops {
			for _, c := range concurrency {
				for _, v := range variants {
					if v == "floor" {
						continue
					}
					var own, over, rs, ups, fups []float64
					for r := range rounds {
						g, ok := byKey[key{op, v, c, r}]
						f, okf := byKey[key{op, "floor", c, r}]
						q, okq := byKey[key{op, "grpc", c, r}]
						if !ok || !okf || !okq || g.OwnCPUPerOp == 0 || f.OwnCPUPerOp == 0 || q.OwnCPUPerOp == 0 {
							continue
						}
						own = append(own, float64(g.OwnCPUPerOp))
						over = append(over, float64(g.OwnCPUPerOp-f.OwnCPUPerOp))
						rs = append(rs, float64(g.OwnCPUPerOp)/float64(q.OwnCPUPerOp))
						ups = append(ups, g.UpstreamPerOp)
						fups = append(fups, f.UpstreamPerOp)
					}
					fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s | %.2f | %.2f (%.2f) |\n", op, c, v, us(median(own)), us(median(over)), median(rs), median(ups), median(fups))
				}
			}
		}
	}
	for _, v := range []string{"grpc", "rest"} {
		var p50, cpu []float64
		for r := range rounds {
			if c, ok := byKey[key{"Health", v, 1, r}]; ok && c.Ops > 0 {
				p50 = append(p50, float64(c.P50))
				cpu = append(cpu, float64(c.CPUPerOp))
			}
		}
		what := "gRPC health Check"
		if v == "rest" {
			what = "REST GET /healthz"
		}
		fmt.Fprintf(&sb, "\nA call that makes no upstream call, %s at concurrency 1: p50 %s µs, CPU %s µs/call.", what, us(median(p50)), us(median(cpu)))
	}
	sb.WriteString("\n")
	return sb.String()
}

func costEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

func costEnvDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

// BenchmarkReconnectFacades is the cost of one ReconnectProvider through
// the REST facade and the same reconnect through the VI/JSON facade
// (VasaProviderReconnect_Task), one after the other in one process
// against one simulator; cpu-µs/op is the whole process's CPU per call
// (gateway, simulator and client). docs/benchmarks.md has the command and
// the ratio.
func BenchmarkReconnectFacades(b *testing.B) {
	cb := startCostBench(b)
	ctx := context.Background()
	if _, err := cb.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 1000}); err != nil {
		b.Fatal(err)
	}
	for _, v := range []string{"rest", "vijson"} {
		b.Run(v, func(b *testing.B) {
			call := cb.call("ReconnectProvider", v)
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if err := call(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
