package cli_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/vasagw/vasagw/internal/cli"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/server"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// gateway is the gateway (internal/server's Run, as cmd/server runs it)
// in front of the project's SMS simulator, on a real socket.
type gateway struct {
	addr string
	sim  *smssim.Server
	logs *syncBuffer
}

// startGateway runs the gateway in front of a fresh simulator whose tasks
// run 8 times faster than the embedded default's (vp-2's reconnect takes
// half a second), polled every 100 ms, with extra gateway flags.
func startGateway(t *testing.T, flags ...string) *gateway {
	t.Helper()
	return startGatewayAt(t, 8, flags...)
}

// startGatewayAt is startGateway with the simulator at speed.
func startGatewayAt(t *testing.T, speed float64, flags ...string) *gateway {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.Sim.SetSpeed(speed)
	args := append([]string{
		"--grpc-addr=127.0.0.1:0",
		"--http-addr=127.0.0.1:0",
		"--admin-addr=127.0.0.1:0",
		"--vcenter-url=" + sim.URL.String(),
		"--vcenter-username=" + sim.Username,
		"--vcenter-ca-file=" + sim.CAFile,
		"--task-poll-interval=100ms",
		"--reconnect-rate=0",
	}, flags...)
	if !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--tls-cert-file") }) {
		args = append(args, "--insecure-allow-unauthenticated")
	}
	cfg, err := config.Load(args, mapEnv(map[string]string{"VASAGW_VCENTER_PASSWORD": sim.Password}))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{sim: sim, logs: &syncBuffer{}}
	addrs := make(chan server.Addrs, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, cfg, server.OnListen(func(a server.Addrs) { addrs <- a }), server.LogOutput(g.logs), server.WatchLinger(50*time.Millisecond))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	select {
	case a := <-addrs:
		g.addr = a.GRPC.String()
	case err := <-done:
		done <- err
		t.Fatalf("gateway did not start: %v\n%s", err, g.logs.String())
	case <-time.After(hangGuard):
		t.Fatal("the gateway did not listen")
	}
	return g
}

// serviceGateway is the gateway's gRPC service assembled in the test from
// its exported pieces, for a test that must see the requests (an
// interceptor of its own) on the way in.
func serviceGateway(t *testing.T, opts ...grpc.ServerOption) *gateway {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.Sim.SetSpeed(8)
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
	srv := grpc.NewServer(opts...)
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
