package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
)

// The vCenter benchmarks run the real gateway (Run, with a --config file)
// in a child process, as the watch benchmarks do, and the one simulator
// that every configured vCenter points at in the benchmark process: what
// the child's numbers show is the gateway's own cost per vCenter (a
// session with its login, connection and keep-alive, a health check, the
// registry entry), not the simulator's.
//
//	go test -run='^$' -bench=VCenters -benchtime=1x ./internal/server/

// benchVCentersEnv makes [TestBenchVCentersProcess] run; its value is the
// config file.
const benchVCentersEnv = "VASAGW_BENCH_VCENTERS"

// TestBenchVCentersProcess is the gateway process of the vCenter
// benchmarks, not a test: it skips unless a benchmark started it. It
// serves Run on the config file (reloaded on its default schedule and on
// SIGHUP, as main does) plus /stats, until its stdin closes.
func TestBenchVCentersProcess(t *testing.T) {
	path := os.Getenv(benchVCentersEnv)
	if path == "" {
		t.Skip("the gateway process of the vCenter benchmarks; runs only when they start it")
	}
	cfg, err := config.Load([]string{
		"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--admin-addr=",
		"--config=" + path, "--insecure-allow-unauthenticated", "--log-level=error",
	}, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	g := &gateway{}
	startRun(t, cfg, g, ReloadOn(hup))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(benchStats{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine()})
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

// benchVCenters is the benchmark's handle on the child and its config file.
type benchVCenters struct {
	*benchGateway
	sim      *smssim.Server
	dir      string
	path     string
	cmd      *exec.Cmd
	vcenters vasagwv1.VCenterServiceClient
	provider vasagwv1.VasaProviderServiceClient
}

func startBenchVCenters(b *testing.B, n int) *benchVCenters {
	b.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	f := &benchVCenters{sim: sim, dir: b.TempDir()}
	if err := os.WriteFile(filepath.Join(f.dir, "pw"), []byte(sim.Password), 0o600); err != nil {
		b.Fatal(err)
	}
	f.path = filepath.Join(f.dir, "vasagw.yaml")
	f.write(b, n)

	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchVCentersProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchVCentersEnv+"="+f.path)
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
	f.cmd = cmd
	b.Cleanup(func() {
		stdin.Close()
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
	f.benchGateway = &benchGateway{hc: &http.Client{}}
	select {
	case f.benchAddrs = <-ready:
	case <-time.After(2 * time.Minute):
		b.Fatal("the gateway process did not start within 2 minutes")
	}
	conn, err := grpc.NewClient(f.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	f.vcenters = vasagwv1.NewVCenterServiceClient(conn)
	f.provider = vasagwv1.NewVasaProviderServiceClient(conn)
	return f
}

func benchVCenterID(i int) string { return fmt.Sprintf("vc-%03d", i) }

// write makes the config file list vCenters vc-000 .. vc-(n-1), all on the
// one simulator, and replaces it atomically.
func (f *benchVCenters) write(b *testing.B, n int) {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("vcenters:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - id: %s\n    url: %s\n    username: %s\n    passwordFile: pw\n    caFile: %s\n",
			benchVCenterID(i), f.sim.URL, f.sim.Username, f.sim.CAFile)
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		b.Fatal(err)
	}
}

// readyAll waits until the gateway serves exactly n vCenters and has
// logged in to each of them (a call to each, then STATE_READY).
func (f *benchVCenters) readyAll(b *testing.B, n int) {
	b.Helper()
	ctx := testContext(b)
	for i := range n {
		f.serving(b, benchVCenterID(i), time.Millisecond)
	}
	resp, err := f.vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{PageSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	if len(resp.GetVcenters()) != n || slices.ContainsFunc(resp.GetVcenters(), func(vc *vasagwv1.VCenter) bool { return vc.GetState() != vasagwv1.VCenter_STATE_READY }) {
		b.Fatalf("want %d vCenters, all ready: %v", n, resp.GetVcenters())
	}
}

// serving waits until a call naming vCenter id succeeds, trying every
// step, and returns when it did.
func (f *benchVCenters) serving(b *testing.B, id string, step time.Duration) time.Time {
	b.Helper()
	ctx := testContext(b)
	for {
		_, err := f.provider.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/" + id + "/vasaProviders/vp-1"})
		if err == nil {
			return time.Now()
		}
		select {
		case <-ctx.Done():
			b.Fatalf("vCenter %s does not serve: %v", id, err)
		case <-time.After(step):
		}
	}
}

// BenchmarkIdleVCenters measures what one configured, logged-in, idle
// vCenter costs the gateway process: the difference between 1 and 101
// configured vCenters (after a reload from the one to the other), divided
// by 100. Each vCenter has its own session to the same simulator.
func BenchmarkIdleVCenters(b *testing.B) {
	const base, n = 1, 101
	f := startBenchVCenters(b, base)
	b.StopTimer()
	for range b.N {
		f.write(b, base)
		f.readyAll(b, base)
		before := f.stats(b)
		b.StartTimer()
		f.write(b, n)
		f.readyAll(b, n)
		b.StopTimer()
		after := f.stats(b)
		per := float64(n - base)
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/per, "heap-B/vcenter")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/per, "stack-B/vcenter")
		b.ReportMetric(float64(after.Goroutines-before.Goroutines)/per, "goroutines/vcenter")
		b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap-MiB-1-vcenter")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB-101-vcenters")
	}
}

// BenchmarkReloadToServing measures the time from a config file change
// that adds one vCenter to the first call naming it that succeeds (its
// login included), tried every millisecond: once with the file's content
// check (every second, the default) finding the change, the write at a
// random instant of the check's cycle; once with SIGHUP sent right after
// the write. The baseline is a call to a vCenter already served, in the
// same run. Each op adds one vCenter and removes it again.
func BenchmarkReloadToServing(b *testing.B) {
	for _, trigger := range []string{"file-change", "sighup"} {
		b.Run(trigger, func(b *testing.B) {
			f := startBenchVCenters(b, 1)
			f.readyAll(b, 1)
			var total, floor, worst time.Duration
			b.StopTimer()
			for range b.N {
				start := time.Now()
				f.serving(b, benchVCenterID(0), time.Millisecond)
				floor += time.Since(start)

				if trigger == "file-change" {
					time.Sleep(rand.N(defaultConfigCheck))
				}
				f.write(b, 2)
				start = time.Now()
				if trigger == "sighup" {
					if err := f.cmd.Process.Signal(syscall.SIGHUP); err != nil {
						b.Fatal(err)
					}
				}
				took := f.serving(b, benchVCenterID(1), time.Millisecond).Sub(start)
				total += took
				worst = max(worst, took)
				f.write(b, 1)
				if err := f.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					b.Fatal(err)
				}
				f.gone(b, benchVCenterID(1))
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-serving")
			b.ReportMetric(float64(worst.Microseconds())/1000, "ms-to-serving-max")
			b.ReportMetric(float64(floor.Microseconds())/float64(b.N)/1000, "ms-call-baseline")
		})
	}
}

// gone waits until vCenter id is no longer served.
func (f *benchVCenters) gone(b *testing.B, id string) {
	b.Helper()
	ctx := testContext(b)
	for {
		_, err := f.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/" + id})
		if err != nil {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("vCenter %s is still served", id)
		case <-time.After(time.Millisecond):
		}
	}
}
