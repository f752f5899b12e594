package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/store/redisstore/redistest"
)

// The tests of several replicas as one (README.md, "Scaling out"): gateway
// processes sharing one Redis in front of one simulator in the test
// process, which counts the upstream calls.

// replicaArgsEnv hands a child gateway process its flags (JSON), and
// replicaPasswordEnv the simulator's password.
const (
	replicaArgsEnv     = "VASAGW_TEST_REPLICA_ARGS"
	replicaPasswordEnv = "VASAGW_TEST_REPLICA_PASSWORD"
	replicaReadyPrefix = "replica ready: "
)

// replicaPollInterval is the replicas' --task-poll-interval.
const replicaPollInterval = 100 * time.Millisecond

// TestReplicaProcess is the child gateway: it runs the flags it was given
// until its stdin closes (or it is killed).
func TestReplicaProcess(t *testing.T) {
	raw := os.Getenv(replicaArgsEnv)
	if raw == "" {
		t.Skip("runs only as a child of the replica tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(args, mapLookup(map[string]string{"VASAGW_VCENTER_PASSWORD": os.Getenv(replicaPasswordEnv)}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	err = Run(ctx, cfg, LogOutput(os.Stderr), OnListen(func(a Addrs) {
		fmt.Printf("%s%s %s\n", replicaReadyPrefix, a.GRPC, a.Admin)
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// replica is one child gateway process.
type replica struct {
	cmd    *exec.Cmd
	killed bool
	stdin  io.Closer
	conn   *grpc.ClientConn
	admin  string
}

func (r *replica) providers() vasagwv1.VasaProviderServiceClient {
	return vasagwv1.NewVasaProviderServiceClient(r.conn)
}
func (r *replica) tasks() vasagwv1.TaskServiceClient { return vasagwv1.NewTaskServiceClient(r.conn) }

// kill ends the process with SIGKILL: no lease is released, nothing is
// flushed.
func (r *replica) kill() {
	r.killed = true
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// startReplica runs a gateway process in front of sim with Redis at
// redisURL.
func startReplica(t testing.TB, sim *smssim.Server, redisURL string, extra ...string) *replica {
	t.Helper()
	args := append([]string{
		"--grpc-addr=127.0.0.1:0",
		"--http-addr=127.0.0.1:0",
		"--admin-addr=127.0.0.1:0",
		"--vcenter-url=" + sim.URL.String(),
		"--vcenter-username=" + sim.Username,
		"--vcenter-ca-file=" + sim.CAFile,
		"--task-poll-interval=" + replicaPollInterval.String(),
		"--log-level=warn",
		"--insecure-allow-unauthenticated",
		"--reconnect-rate=0",
	}, extra...)
	if redisURL != "" {
		args = append(args, "--redis-url="+redisURL, "--redis-key-prefix="+t.Name()+":")
	}
	b, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), replicaArgsEnv+"="+string(b), replicaPasswordEnv+"="+sim.Password)
	// The replica's log is shown when the test fails (or with -v).
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replica log:\n%s", logs.String())
		}
	})
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 10 * time.Second
	r := &replica{cmd: cmd, stdin: stdin}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil && !r.killed {
			// A failed Run, or the race detector's exit status.
			t.Errorf("replica exited: %v", err)
		}
	})
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), replicaReadyPrefix); ok {
				ready <- strings.Fields(rest)
			}
		}
	}()
	var addrs []string
	select {
	case addrs = <-ready:
	case <-time.After(time.Minute):
		t.Fatal("replica did not listen within a minute")
	}
	r.conn, err = grpc.NewClient(addrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	r.admin = "http://" + addrs[1]
	if redisURL != "" {
		waitRedisHealth(t, r, healthpb.HealthCheckResponse_SERVING)
	}
	return r
}

// waitRedisHealth waits until the replica's health service "redis" says want.
func waitRedisHealth(t testing.TB, r *replica, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	hc := healthpb.NewHealthClient(r.conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: redisHealthService})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := w.Recv()
		if err != nil {
			t.Fatalf("health redis never became %s: %v", want, err)
		}
		if resp.GetStatus() == want {
			return
		}
	}
}

var pollsMetric = regexp.MustCompile(`(?m)^vasagw_task_polls_total (\S+)$`)

// polls reads the replica's vasagw_task_polls_total.
func (r *replica) polls(t testing.TB) int {
	t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := pollsMetric.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no vasagw_task_polls_total in /metrics")
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return int(f)
}

// redisUp reads the replica's vasagw_redis_up.
func (r *replica) redisUp(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^vasagw_redis_up (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no vasagw_redis_up in /metrics")
	}
	return string(m[1])
}

// startReplicas starts Redis, a simulator and n replicas.
func startReplicas(t testing.TB, n int) (*redistest.Server, *smssim.Server, []*replica) {
	t.Helper()
	return startReplicasShared(t, n, true)
}

// startReplicasShared is startReplicas; without shared the replicas run
// without Redis (each on its own), and the returned server is nil.
func startReplicasShared(t testing.TB, n int, shared bool) (*redistest.Server, *smssim.Server, []*replica) {
	t.Helper()
	var rd *redistest.Server
	url := ""
	if shared {
		rd = redistest.Start(t)
		url = rd.URL()
	}
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rs := make([]*replica, n)
	var g errgroup.Group
	for i := range rs {
		g.Go(func() error { rs[i] = startReplica(t, sim, url); return nil })
	}
	_ = g.Wait()
	for _, r := range rs {
		if r == nil {
			t.FailNow()
		}
	}
	return rd, sim, rs
}

// watchResult is what one watcher saw.
type watchResult struct {
	terminals int
	last      *vasagwv1.Task
	err       error
}

// openWatch starts a WatchTask on r and returns once its first message came;
// the result is sent when the stream ends.
func openWatch(ctx context.Context, r *replica, task string, out chan<- watchResult) error {
	stream, err := r.tasks().WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task})
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	go func() {
		res := watchResult{last: first}
		if terminalState(first.GetState()) {
			res.terminals++
		}
		for {
			t, err := stream.Recv()
			if err != nil {
				if err != io.EOF {
					res.err = err
				}
				out <- res
				return
			}
			res.last = t
			if terminalState(t.GetState()) {
				res.terminals++
			}
		}
	}()
	return nil
}

func terminalState(s vasagwv1.Task_State) bool {
	return s == vasagwv1.Task_STATE_SUCCEEDED || s == vasagwv1.Task_STATE_FAILED
}

// TestReplicasAsOne: three gateway processes, one simulator, one Redis.
// The same request_id on replica 1 and 2 is one task and one upstream
// reconnect; 300 watchers over the three cost vCenter about one
// QuerySmsTaskInfo per poll interval; the lease holder killed with SIGKILL
// mid-task, every watcher on the other two ends with the terminal state,
// once.
func TestReplicasAsOne(t *testing.T) {
	_, sim, rs := startReplicas(t, 3)
	ctx := testContext(t)
	const id = "vp-replicas"
	sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: 6 * time.Second})
	name := "vcenters/default/vasaProviders/" + id
	const reqID = "6a0e2c1b-3d4f-4e5a-8b7c-9d0e1f2a3b4c"

	reconnects := sim.Sim.Calls("VasaProviderReconnect_Task")
	first, err := rs[0].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name, RequestId: reqID})
	if err != nil {
		t.Fatal(err)
	}
	second, err := rs[1].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name, RequestId: reqID})
	if err != nil {
		t.Fatal(err)
	}
	// A reconnect without a request_id on the third replica joins the
	// provider's running task.
	third, err := rs[2].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetName() != second.GetName() || first.GetName() != third.GetName() {
		t.Fatalf("tasks %s, %s, %s: want one", first.GetName(), second.GetName(), third.GetName())
	}
	if got := sim.Sim.Calls("VasaProviderReconnect_Task") - reconnects; got != 1 {
		t.Fatalf("%d upstream reconnects, want 1", got)
	}

	// 300 watchers, 100 on each replica.
	results := make([]chan watchResult, len(rs))
	var g errgroup.Group
	g.SetLimit(30)
	for i, r := range rs {
		results[i] = make(chan watchResult, 100)
		for range 100 {
			g.Go(func() error { return openWatch(ctx, r, first.GetName(), results[i]) })
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	const window = 10 * replicaPollInterval
	before := sim.Sim.Calls("QuerySmsTaskInfo")
	time.Sleep(window)
	perInterval := float64(sim.Sim.Calls("QuerySmsTaskInfo")-before) / float64(window/replicaPollInterval)
	t.Logf("QuerySmsTaskInfo per poll interval with 300 watchers on 3 replicas: %.2f", perInterval)
	if perInterval > 1.6 {
		t.Fatalf("%.2f QuerySmsTaskInfo per poll interval, want about 1 (one poller cluster-wide)", perInterval)
	}

	// The holder is the replica whose polls grow.
	counts := make([]int, len(rs))
	for i, r := range rs {
		counts[i] = r.polls(t)
	}
	time.Sleep(5 * replicaPollInterval)
	holder := -1
	for i, r := range rs {
		if r.polls(t) > counts[i] {
			if holder >= 0 {
				t.Fatalf("replicas %d and %d both polled", holder, i)
			}
			holder = i
		}
	}
	if holder < 0 {
		t.Fatal("no replica polled")
	}
	before = sim.Sim.Calls("QuerySmsTaskInfo")
	killed := time.Now()
	rs[holder].kill()
	for sim.Sim.Calls("QuerySmsTaskInfo") == before {
		if time.Since(killed) > 20*replicaPollInterval {
			t.Fatal("no replica took the polling over")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("takeover after SIGKILL of the lease holder: %v (%.1f poll intervals)", time.Since(killed).Round(time.Millisecond), float64(time.Since(killed))/float64(replicaPollInterval))

	for i := range rs {
		if i == holder {
			continue
		}
		for range 100 {
			res := <-results[i]
			if res.err != nil {
				t.Fatalf("a watcher on replica %d ended with %v", i, res.err)
			}
			if res.terminals != 1 || res.last.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
				t.Fatalf("a watcher on replica %d saw %d terminal events, last %s", i, res.terminals, res.last.GetState())
			}
		}
	}
}

// TestReplicasRedisDown: with Redis stopped mid-run no caller gets an
// error, health and the metric say so, and once Redis is back the
// replicas share again.
func TestReplicasRedisDown(t *testing.T) {
	rd, sim, rs := startReplicas(t, 2)
	ctx := testContext(t)
	var n atomic.Int64
	reconnect := func(r *replica, reqID string) *vasagwv1.Task {
		t.Helper()
		id := fmt.Sprintf("vp-down-%d", n.Add(1))
		sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: 3 * time.Second})
		task, err := r.providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + id, RequestId: reqID})
		if err != nil {
			t.Fatalf("reconnect: %v", err)
		}
		return task
	}

	// Watches open on both replicas (one polls, one follows) across the
	// outage.
	across := reconnect(rs[0], "")
	spanning := make(chan watchResult, 2)
	for _, r := range rs {
		if err := openWatch(ctx, r, across.GetName(), spanning); err != nil {
			t.Fatal(err)
		}
	}

	rd.Stop()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { waitRedisHealth(t, r, healthpb.HealthCheckResponse_NOT_SERVING) })
	}
	wg.Wait()
	if got := rs[0].redisUp(t); got != "0" {
		t.Fatalf("vasagw_redis_up = %s while Redis is down", got)
	}
	// Served from local state: a reconnect, a retry of it on the same
	// replica, a watch to the end.
	task := reconnect(rs[0], "1d2c3b4a-0000-4000-8000-000000000001")
	out := make(chan watchResult, 1)
	if err := openWatch(ctx, rs[0], task.GetName(), out); err != nil {
		t.Fatalf("watch while Redis is down: %v", err)
	}
	if res := <-out; res.err != nil || res.terminals != 1 {
		t.Fatalf("watch while Redis is down: %d terminal events, %v", res.terminals, res.err)
	}

	for range rs {
		if res := <-spanning; res.err != nil || res.terminals != 1 || res.last.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
			t.Fatalf("a watch open across the outage: %v, %d terminal events, last %v", res.err, res.terminals, res.last.GetState())
		}
	}

	rd.Restart()
	for _, r := range rs {
		wg.Go(func() { waitRedisHealth(t, r, healthpb.HealthCheckResponse_SERVING) })
	}
	wg.Wait()
	if got := rs[1].redisUp(t); got != "1" {
		t.Fatalf("vasagw_redis_up = %s after Redis is back", got)
	}
	// The request_id recorded locally during the outage still stands on
	// its replica.
	again, err := rs[0].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: task.GetTarget(), RequestId: "1d2c3b4a-0000-4000-8000-000000000001"})
	if err != nil || again.GetName() != task.GetName() {
		t.Fatalf("retry after the outage: %v, %v; want %s", again.GetName(), err, task.GetName())
	}
	const reqID = "1d2c3b4a-0000-4000-8000-000000000002"
	id := fmt.Sprintf("vp-down-%d", n.Add(1))
	sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: 3 * time.Second})
	name := "vcenters/default/vasaProviders/" + id
	a, err := rs[0].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name, RequestId: reqID})
	if err != nil {
		t.Fatal(err)
	}
	b, err := rs[1].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name, RequestId: reqID})
	if err != nil {
		t.Fatal(err)
	}
	if a.GetName() != b.GetName() {
		t.Fatalf("after Redis came back the replicas answered %s and %s for one request_id", a.GetName(), b.GetName())
	}
}

// TestReplicasRecoverSurvivesItsReplica: a recovery started on one replica
// that is killed (SIGKILL) mid-register is followed by the watchers on the
// other replicas, and the caller's retry (same request_id and password) on
// another replica resumes it to the end: one unregister, one register (the
// dead replica's, taken over), the provider recovered.
func TestReplicasRecoverSurvivesItsReplica(t *testing.T) {
	rd, sim, rs := startReplicas(t, 3)
	ctx := testContext(t)
	if _, err := sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	const reqID = "7b1c2d3e-4f50-4a6b-8c7d-8e9f0a1b2c3d"
	req := &vasagwv1.RecoverProviderRequest{
		Name: "vcenters/default/vasaProviders/vp-3", Username: "vasa-admin", Password: "Vasa-Pr0vider-S3cret!", RequestId: reqID,
	}
	task, err := rs[0].providers().RecoverProvider(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A watcher on replica 2 follows the recovery replica 1 runs.
	stream, err := rs[1].tasks().WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for {
		snap, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch on another replica: %v", err)
		}
		if st := snap.GetSteps()[2]; st.GetState() == vasagwv1.Task_STATE_RUNNING && st.GetTask() != "" {
			break // the register SmsTask runs upstream
		}
		if terminalState(snap.GetState()) {
			t.Fatalf("the recovery ended before the register ran: %v", snap)
		}
	}
	rs[0].kill()

	// The retry on replica 3 answers the running task until the dead
	// replica's run lease is out, then the resumed attempt.
	var resumed *vasagwv1.Task
	for deadline := time.Now().Add(20 * time.Second); ; {
		got, err := rs[2].providers().RecoverProvider(ctx, req)
		if err != nil {
			t.Fatalf("retry on another replica: %v", err)
		}
		if got.GetName() != task.GetName() {
			resumed = got
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retry still answers the dead replica's attempt: %v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The first attempt ends FAILED for the watcher on replica 2.
	for {
		snap, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch of the dead attempt: %v", err)
		}
		if terminalState(snap.GetState()) {
			if snap.GetState() != vasagwv1.Task_STATE_FAILED {
				t.Fatalf("the dead attempt ended %v", snap)
			}
			break
		}
	}
	// The resumed attempt, watched on replica 2, succeeds.
	out := make(chan watchResult, 1)
	if err := openWatch(ctx, rs[1], resumed.GetName(), out); err != nil {
		t.Fatal(err)
	}
	res := <-out
	if res.err != nil || res.terminals != 1 || res.last.GetState() != vasagwv1.Task_STATE_SUCCEEDED || res.last.GetResult() == "" {
		t.Fatalf("resumed recovery: %v, %d terminal events, last %v", res.err, res.terminals, res.last)
	}
	if n := sim.Sim.Calls("UnregisterProvider_Task"); n != 1 {
		t.Errorf("%d unregisters, want 1", n)
	}
	if n := sim.Sim.Calls("RegisterProvider_Task"); n != 1 {
		t.Errorf("%d registers, want 1 (the dead replica's, taken over)", n)
	}
	if _, err := rs[2].providers().GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: res.last.GetResult()}); err != nil {
		t.Errorf("recovered provider: %v", err)
	}
	// The shared state holds the recovery, never the password.
	dump := redisDump(t, rd, t.Name()+":")
	if !strings.Contains(dump, "vp-3") {
		t.Fatalf("the shared state holds no recovery:\n%s", dump)
	}
	if strings.Contains(dump, req.Password) {
		t.Fatal("the provider password reached Redis")
	}
}

// redisDump returns every key under prefix with its value(s), as text.
func redisDump(t testing.TB, rd *redistest.Server, prefix string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		typ, _ := c.Type(ctx, k).Result()
		switch typ {
		case "hash":
			m, _ := c.HGetAll(ctx, k).Result()
			fmt.Fprintf(&b, "%s %v\n", k, m)
		case "zset":
			m, _ := c.ZRange(ctx, k, 0, -1).Result()
			fmt.Fprintf(&b, "%s %v\n", k, m)
		default:
			v, _ := c.Get(ctx, k).Result()
			fmt.Fprintf(&b, "%s %s\n", k, v)
		}
	}
	return b.String()
}

// BenchmarkReplicas measures, for 1, 2 and 3 replicas with and without
// Redis, what one watched task costs vCenter (QuerySmsTaskInfo calls per
// poll interval, 300 watchers spread over the replicas) and, with Redis
// and two or more replicas, how long after a SIGKILL of the lease holder
// another replica polls the task (takeover_ms).
//
//	go test -count=3 -run='^$' -bench=BenchmarkReplicas -benchtime=1x ./internal/server/
func BenchmarkReplicas(b *testing.B) {
	for _, shared := range []bool{true, false} {
		for n := 1; n <= 3; n++ {
			b.Run(fmt.Sprintf("redis=%t/replicas=%d", shared, n), func(b *testing.B) {
				for b.Loop() {
					benchReplicas(b, n, shared)
				}
			})
		}
	}
}

func benchReplicas(b *testing.B, n int, shared bool) {
	_, sim, rs := startReplicasShared(b, n, shared)
	ctx := testContext(b)
	id := fmt.Sprintf("vp-bench-%d-%t", n, shared)
	sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: time.Hour})
	task, err := rs[0].providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + id})
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan watchResult, 300)
	var g errgroup.Group
	g.SetLimit(30)
	for i := range 300 {
		g.Go(func() error { return openWatch(ctx, rs[i%n], task.GetName(), out) })
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	const intervals = 20
	before := sim.Sim.Calls("QuerySmsTaskInfo")
	time.Sleep(intervals * replicaPollInterval)
	b.ReportMetric(float64(sim.Sim.Calls("QuerySmsTaskInfo")-before)/intervals, "calls/interval")
	if !shared || n < 2 {
		return
	}
	counts := make([]int, n)
	for i, r := range rs {
		counts[i] = r.polls(b)
	}
	time.Sleep(5 * replicaPollInterval)
	holder := -1
	for i, r := range rs {
		if r.polls(b) > counts[i] {
			holder = i
		}
	}
	if holder < 0 {
		b.Fatal("no replica polled")
	}
	before = sim.Sim.Calls("QuerySmsTaskInfo")
	killed := time.Now()
	rs[holder].kill()
	for sim.Sim.Calls("QuerySmsTaskInfo") == before {
		if time.Since(killed) > 50*replicaPollInterval {
			b.Fatal("no replica took the polling over")
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.ReportMetric(float64(time.Since(killed).Microseconds())/1000, "takeover_ms")
}

// TestReplicasOneFleetLoop: with --provider-poll-interval, three replicas
// sharing Redis list a vCenter's providers about once per interval (one
// fleet loop across them, not three), and every replica serves a provider
// that appeared upstream after they started.
func TestReplicasOneFleetLoop(t *testing.T) {
	rd := redistest.Start(t)
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rs := make([]*replica, 3)
	for i := range rs {
		rs[i] = startReplica(t, sim, rd.URL(), "--provider-poll-interval=100ms")
	}
	ctx := testContext(t)
	const intervals = 20
	before := sim.Sim.Calls("QueryProvider")
	time.Sleep(intervals * 100 * time.Millisecond)
	perInterval := float64(sim.Sim.Calls("QueryProvider")-before) / intervals
	t.Logf("QueryProvider per provider-poll interval with 3 replicas: %.2f", perInterval)
	if perInterval > 1.6 {
		t.Fatalf("%.2f provider lists per interval, want about 1 (one fleet loop across the replicas)", perInterval)
	}

	const id = "vp-fleet-late"
	sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id)})
	for i, r := range rs {
		for deadline := time.Now().Add(10 * time.Second); ; {
			list, err := r.providers().ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 100})
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
			if slices.ContainsFunc(list.GetVasaProviders(), func(p *vasagwv1.VasaProvider) bool { return strings.HasSuffix(p.GetName(), "/"+id) }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d never listed %s", i, id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestReplicasShareReconnectRate: the per-caller ReconnectProvider budget
// is one across the replicas (every caller of these unauthenticated
// replicas is "anonymous", one budget): two calls on one replica use up
// 2/m, the third, on another replica, is RATE_LIMITED.
func TestReplicasShareReconnectRate(t *testing.T) {
	rd := redistest.Start(t)
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	a := startReplica(t, sim, rd.URL(), "--reconnect-rate=2/m")
	b := startReplica(t, sim, rd.URL(), "--reconnect-rate=2/m")
	ctx := testContext(t)
	for i, r := range []*replica{a, a, b} {
		id := fmt.Sprintf("vp-rate-%d", i)
		sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: time.Second})
		_, err := r.providers().ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + id})
		if i < 2 {
			if err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
			continue
		}
		st, _ := status.FromError(err)
		if st.Code() != codes.ResourceExhausted || errorInfo(t, st).GetReason() != "RATE_LIMITED" {
			t.Fatalf("third call, on another replica: %v; want RESOURCE_EXHAUSTED RATE_LIMITED", err)
		}
	}
}

// TestReplicasShareStreamCap: --max-streams-per-caller counts a caller's
// streams on every replica: with a cap of 1, a watch open on one gateway
// refuses the same caller's watch on another (TOO_MANY_STREAMS), and
// frees it when it closes.
func TestReplicasShareStreamCap(t *testing.T) {
	rd := redistest.Start(t)
	p := newPKI(t)
	flags := append(p.tokenFlags(), "--max-streams-per-caller=1", "--redis-url="+rd.URL(), "--redis-key-prefix=streamcap:")
	var gs [2]*secureGateway
	for i := range gs {
		gs[i] = startSecureGateway(t, p, flags...)
		gs[i].sim.Sim.SetSpeed(0.01) // the reconnect runs for minutes: watches stay open
	}
	ctx := testContext(t)
	operator := p.issuer.Token(t, "ops")
	viewer := p.issuer.Token(t, "viewer-1", "viewers")
	open := func(g *secureGateway, ctx context.Context) error {
		conn := g.grpcConn(t, nil)
		task, err := vasagwv1.NewVasaProviderServiceClient(conn).ReconnectProvider(withToken(ctx, operator), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-2"})
		if err != nil {
			return err
		}
		s, err := vasagwv1.NewTaskServiceClient(conn).WatchTask(withToken(ctx, viewer), &vasagwv1.WatchTaskRequest{Name: task.GetName()})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	// Redis seen up by both before the first stream.
	for _, g := range gs {
		hs := healthpb.NewHealthClient(g.grpcConn(t, nil))
		for {
			resp, err := hs.Check(ctx, &healthpb.HealthCheckRequest{Service: redisHealthService})
			if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	first, closeFirst := context.WithCancel(ctx)
	if err := open(gs[0], first); err != nil {
		t.Fatalf("first watch: %v", err)
	}
	checkGRPCRefusal(t, open(gs[1], ctx), codes.ResourceExhausted, "TOO_MANY_STREAMS")
	closeFirst()
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := open(gs[1], ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cap stayed taken after the first watch closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
