package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
)

// gateway is one running vasagw (its real Run) in front of an SMS
// simulator the test controls.
type gateway struct {
	sim       *smssim.Server
	conn      *grpc.ClientConn
	base      string // http://127.0.0.1:port
	admin     string // http://127.0.0.1:port of the admin listener
	providers vasagwv1.VasaProviderServiceClient
	tasks     vasagwv1.TaskServiceClient
	logs      *syncBuffer
	stop      func()       // cancels run
	wait      func() error // waits for run to return
}

// syncBuffer collects the gateway's logs for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// startGateway starts a simulator and the gateway's Run on
// 127.0.0.1:0 against it, with extra flags appended.
func startGateway(t testing.TB, flags ...string) *gateway {
	t.Helper()
	g := startGatewayWith(t, smssim.Options{}, flags...)
	g.sim.Sim.SetSpeed(8) // vp-2's reconnect takes about half a second
	return g
}

// startGatewayWith is startGateway with a simulator built from opts.
func startGatewayWith(t testing.TB, opts smssim.Options, flags ...string) *gateway {
	t.Helper()
	sim, err := smssim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	g := &gateway{sim: sim, logs: &syncBuffer{}}
	startRun(t, gatewayConfig(t, sim, flags...), g)
	return g
}

// gatewayConfig is the configuration of a gateway in front of sim, on
// 127.0.0.1:0, verifying the simulator's certificate with its CA file.
func gatewayConfig(t testing.TB, sim *smssim.Server, flags ...string) config.Config {
	t.Helper()
	args := append([]string{
		"--grpc-addr=127.0.0.1:0",
		"--http-addr=127.0.0.1:0",
		"--vcenter-url=" + sim.URL.String(),
		"--vcenter-username=" + sim.Username,
		"--vcenter-ca-file=" + sim.CAFile,
		"--task-poll-interval=100ms",
		"--log-level=debug",
		// The tests call the gateway without credentials, so all of their
		// callers are one "anonymous" caller to the per-caller limits;
		// auth_test.go covers authentication and the limits.
		"--insecure-allow-unauthenticated",
		"--reconnect-rate=0",
		// Every read goes to the simulator and no refresh loop runs, so
		// that the tests of faults and call counts see each call's own
		// upstream read; fleet_test.go turns the fleet on.
		"--provider-poll-interval=0",
		"--provider-max-age=0",
	}, flags...)
	cfg, err := config.Load(args, mapLookup(map[string]string{"VASAGW_VCENTER_PASSWORD": sim.Password}))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startRun runs cfg (through Run, as main does) until the test ends and
// connects g to it.
func startRun(t testing.TB, cfg config.Config, g *gateway, opts ...Option) {
	t.Helper()
	addrs := make(chan Addrs, 1)
	if cfg.AdminAddr == config.Default().AdminAddr {
		cfg.AdminAddr = "127.0.0.1:0" // parallel tests must not share :9091
	}
	if g.logs == nil {
		g.logs = &syncBuffer{}
	}
	opts = append([]Option{OnListen(func(a Addrs) { addrs <- a }), LogOutput(g.logs)}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, opts...) }()
	var once sync.Once
	var runErr error
	g.stop = cancel
	g.wait = func() error {
		once.Do(func() { runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		cancel()
		if err := g.wait(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	var a Addrs
	select {
	case a = <-addrs:
	case <-time.After(time.Minute):
		t.Fatal("run did not listen within a minute")
	}
	conn, err := grpc.NewClient(a.GRPC.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g.conn = conn
	g.base = "http://" + a.HTTP.String()
	if a.Admin != nil {
		g.admin = "http://" + a.Admin.String()
	}
	g.providers = vasagwv1.NewVasaProviderServiceClient(conn)
	g.tasks = vasagwv1.NewTaskServiceClient(conn)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// restResult is one REST call's outcome.
type restResult struct {
	code   int
	header http.Header
	body   []byte
}

func (g *gateway) rest(t testing.TB, method, path, body string, header ...string) restResult {
	t.Helper()
	return request(t, method, g.base+path, body, header...)
}

// request makes one HTTP call with header name/value pairs and reads the
// whole answer.
func request(t testing.TB, method, url, body string, header ...string) restResult {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(testContext(t), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return restResult{code: resp.StatusCode, header: resp.Header, body: b}
}

// restStatus decodes a REST error body as a google.rpc.Status.
func restStatus(t testing.TB, b []byte) *status.Status {
	t.Helper()
	st := &spb.Status{}
	if err := protojson.Unmarshal(b, st); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	return status.FromProto(st)
}

// errorInfo returns the ErrorInfo detail of a status, failing without one.
func errorInfo(t testing.TB, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei
		}
	}
	t.Fatalf("status %v has no ErrorInfo (details %v)", st, st.Details())
	return nil
}

// watchGRPC collects a WatchTask stream until it ends.
func watchGRPC(ctx context.Context, c vasagwv1.TaskServiceClient, name string) ([]*vasagwv1.Task, error) {
	stream, err := c.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: name})
	if err != nil {
		return nil, err
	}
	var out []*vasagwv1.Task
	for {
		t, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, t)
	}
}

// watchNDJSON collects grpc-gateway's newline-delimited watch stream.
func watchNDJSON(ctx context.Context, base, name string) ([]*vasagwv1.Task, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/"+name+":watch", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, errors.New(resp.Status + ": " + string(b))
	}
	var out []*vasagwv1.Task
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return out, err
		}
		if line.Error != nil {
			return out, errors.New("stream error: " + string(line.Error))
		}
		t := &vasagwv1.Task{}
		if err := protojson.Unmarshal(line.Result, t); err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	event, id, data string
}

// watchSSE collects the SSE watch stream, keepalive comments counted apart.
func watchSSE(ctx context.Context, base, name string, header ...string) (events []sseEvent, keepalives int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/"+name+":watch", nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, 0, errors.New(resp.Status + ": " + string(b))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		return nil, 0, errors.New("content type " + ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sseEvent{}) {
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			keepalives++
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
	return events, keepalives, sc.Err()
}

// checkProgression checks a watch: the states never go back, progress never
// goes back while running, and it ends in the wanted terminal state.
func checkProgression(t testing.TB, tasks []*vasagwv1.Task, want vasagwv1.Task_State) {
	t.Helper()
	if len(tasks) == 0 {
		t.Fatal("no task messages")
	}
	var lastState vasagwv1.Task_State
	var lastProgress int32 = -1
	for i, tk := range tasks {
		if tk.GetState() < lastState {
			t.Errorf("message %d: state %v after %v", i, tk.GetState(), lastState)
		}
		if tk.GetState() == vasagwv1.Task_STATE_RUNNING && tk.ProgressPercent != nil {
			if tk.GetProgressPercent() < lastProgress {
				t.Errorf("message %d: progress %d after %d", i, tk.GetProgressPercent(), lastProgress)
			}
			lastProgress = tk.GetProgressPercent()
		}
		if terminal := tk.GetState() == vasagwv1.Task_STATE_SUCCEEDED || tk.GetState() == vasagwv1.Task_STATE_FAILED; terminal && i != len(tasks)-1 {
			t.Errorf("message %d is terminal (%v) but %d more followed", i, tk.GetState(), len(tasks)-1-i)
		}
		lastState = tk.GetState()
	}
	if got := tasks[len(tasks)-1].GetState(); got != want {
		t.Errorf("last state %v, want %v", got, want)
	}
	for i := 1; i < len(tasks); i++ {
		if proto.Equal(tasks[i], tasks[i-1]) {
			t.Errorf("message %d repeats message %d", i, i-1)
		}
	}
}
