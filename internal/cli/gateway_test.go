package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/vasagw/vasagw/internal/cli"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// gateway is the gateway's gRPC service on the embedded simulator, served
// on a real socket, as `vasagw` with no --vcenter-url serves it.
type gateway struct {
	addr string
	sim  *smssim.Server
}

// gatewayOptions adjust a test gateway.
type gatewayOptions struct {
	serverOptions []grpc.ServerOption
	listener      net.Listener
	speed         float64
}

// withServerOptions adds gRPC server options (credentials, interceptors).
func withServerOptions(opts ...grpc.ServerOption) func(*gatewayOptions) {
	return func(o *gatewayOptions) { o.serverOptions = append(o.serverOptions, opts...) }
}

// atSpeed runs the simulator's tasks at speed times wall time.
func atSpeed(speed float64) func(*gatewayOptions) {
	return func(o *gatewayOptions) { o.speed = speed }
}

// startGateway starts a gateway whose simulator runs tasks 8 times faster
// than the embedded default (vp-2's reconnect takes half a second, unless
// [atSpeed] says otherwise), polled every 50 ms.
func startGateway(t *testing.T, opts ...func(*gatewayOptions)) *gateway {
	t.Helper()
	o := gatewayOptions{speed: 8}
	for _, f := range opts {
		f(&o)
	}
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.Sim.SetSpeed(o.speed)
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
	svc, err := service.New(service.Options{
		VCenters:         map[string]service.Upstream{"default": up},
		TaskPollInterval: 50 * time.Millisecond,
		WatchLinger:      50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(o.serverOptions...)
	svc.Register(srv)
	lis := o.listener
	if lis == nil {
		lis, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	go srv.Serve(lis)
	t.Cleanup(func() {
		svc.Close()
		srv.Stop()
	})
	return &gateway{addr: lis.Addr().String(), sim: sim}
}

// result is one vasactl run.
type result struct {
	code           int
	stdout, stderr string
}

// run runs vasactl in-process against g in plaintext, with no environment
// but env.
func (g *gateway) run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return g.runCtx(context.Background(), t, env, args...)
}

func (g *gateway) runCtx(ctx context.Context, t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"--plaintext", "--addr", g.addr}, args...)
	code := cli.Run(ctx, all, cli.Env{
		Stdout:    &stdout,
		Stderr:    &stderr,
		LookupEnv: mapEnv(env),
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runIO runs vasactl in-process with the given arguments only, and the
// given writers.
func runIO(ctx context.Context, env map[string]string, stdout, stderr *syncBuffer, args ...string) int {
	return cli.Run(ctx, args, cli.Env{Stdout: stdout, Stderr: stderr, LookupEnv: mapEnv(env)})
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// noConfig is an environment without a config file.
func noConfig(t *testing.T) map[string]string {
	return map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
}

// syncBuffer is a buffer that a test may read while vasactl writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// onWrite, when set, sees everything written so far after each write.
	onWrite func(string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	s := b.buf.String()
	f := b.onWrite
	b.mu.Unlock()
	if f != nil {
		f(s)
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// vasactlBinary builds cmd/vasactl once per test run, for the tests that
// need a child process (a pseudo-terminal, argv and environment checks).
func vasactlBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vasactl-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vasactl")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/vasagw/vasagw/cmd/vasactl")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/vasactl: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// childEnv is a minimal environment for a vasactl child: no config file,
// nothing secret.
func childEnv(t *testing.T) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "TERM=xterm"}
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}
