package cli_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"google.golang.org/grpc"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// hangGuard bounds how long a child may take to print what a test waits
// for. It guards against a hang; no test asserts on durations.
const hangGuard = 60 * time.Second

// ptyChild is vasactl running as a child process on a pseudo-terminal.
type ptyChild struct {
	cmd  *exec.Cmd
	tty  *os.File
	out  *syncBuffer
	more chan struct{} // a token after each write to out
	done chan struct{} // closed when the output ended
}

// startPTY starts the built vasactl with args on a new pseudo-terminal that
// is its stdin, stdout, stderr and controlling terminal.
func startPTY(t *testing.T, args ...string) *ptyChild {
	t.Helper()
	cmd := exec.Command(vasactlBinary(t), args...)
	cmd.Env = childEnv(t)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	c := &ptyChild{cmd: cmd, tty: tty, out: &syncBuffer{}, more: make(chan struct{}, 1), done: make(chan struct{})}
	c.out.onWrite = func(string) {
		select {
		case c.more <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(c.done)
		// The read ends with EIO once the child has exited and closed its
		// side of the terminal.
		_, _ = io.Copy(c.out, tty)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		tty.Close()
		<-c.done
	})
	return c
}

// expect waits until the output holds s.
func (c *ptyChild) expect(t *testing.T, s string) {
	t.Helper()
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for !strings.Contains(c.out.String(), s) {
		select {
		case <-c.more:
		case <-c.done:
			if !strings.Contains(c.out.String(), s) {
				t.Fatalf("output ended without %q:\n%s", s, c.out.String())
			}
		case <-guard.C:
			t.Fatalf("no %q within %s:\n%s", s, hangGuard, c.out.String())
		}
	}
}

// wait waits for the child to exit and returns its exit status and output.
func (c *ptyChild) wait(t *testing.T) (int, string) {
	t.Helper()
	err := c.cmd.Wait()
	<-c.done
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return c.cmd.ProcessState.ExitCode(), c.out.String()
}

// TestPTYReconnectDrawsProgressBar: on a terminal, `providers reconnect
// vp-2 --wait` draws a progress bar that reaches 100 % and exits 0.
func TestPTYReconnectDrawsProgressBar(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := startPTY(t, "--plaintext", "--addr", g.addr, "providers", "reconnect", "vp-2", "--wait")
	code, out := c.wait(t)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	contains(t, "terminal output", out, "vp-2", "100% |", "█", "succeeded")
	if strings.Contains(out, "progress 10%") {
		t.Errorf("a terminal gets the bar, not progress lines:\n%s", out)
	}
	// The bar is redrawn in place (carriage returns), not line by line.
	if !strings.Contains(out, "\r") {
		t.Errorf("no redraw in place:\n%q", out)
	}
}

// TestPTYCtrlCStopsWaiting: Ctrl-C typed on the terminal stops the wait
// (exit 130), says that the task goes on and how to watch it again.
func TestPTYCtrlCStopsWaiting(t *testing.T) {
	t.Parallel()
	g := startGatewayAt(t, 0.5) // vp-2's reconnect runs 8 s
	c := startPTY(t, "--plaintext", "--addr", g.addr, "providers", "reconnect", "vp-2", "--wait")
	c.expect(t, "%")
	if _, err := c.tty.Write([]byte{0x03}); err != nil { // ^C: the terminal sends SIGINT
		t.Fatal(err)
	}
	code, out := c.wait(t)
	if code != 130 {
		t.Fatalf("exit %d, want 130:\n%s", code, out)
	}
	contains(t, "output", out, "Stopped waiting (interrupted); the task goes on in the gateway", "vasactl tasks watch SmsTask-1")
	if strings.Contains(out, "succeeded") {
		t.Errorf("the wait did not stop:\n%s", out)
	}
}

// passwordSpy records the provider passwords that reach the gateway, so a
// test can tell that vasactl did send the one it read.
type passwordSpy struct {
	mu   sync.Mutex
	seen []string
}

func (s *passwordSpy) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	var pw string
	switch r := req.(type) {
	case *vasagwv1.RegisterProviderRequest:
		pw = r.GetPassword()
	case *vasagwv1.RecoverProviderRequest:
		pw = r.GetPassword()
	}
	if pw != "" {
		s.mu.Lock()
		s.seen = append(s.seen, pw)
		s.mu.Unlock()
	}
	return handler(ctx, req)
}

func (s *passwordSpy) received(pw string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.seen {
		if p == pw {
			return true
		}
	}
	return false
}

const testPassword = "Vasa-s3cret-7f1c9"

// processHolds reports whether the argv or environment of the running
// child pid, as the kernel shows them, hold s.
func processHolds(t *testing.T, pid int, s string) bool {
	t.Helper()
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skipf("no /proc on this system: %v", err)
	}
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// TestPasswordNeverShown: register and recover send the provider password
// they read (from --password-file, or typed at a prompt with echo off), and
// it never appears in anything the child prints, nor, while it waits at the
// prompt, in its argv or environment.
func TestPasswordNeverShown(t *testing.T) {
	t.Parallel()
	spy := &passwordSpy{}
	g := serviceGateway(t, grpc.ChainUnaryInterceptor(spy.interceptor))

	t.Run("password file", func(t *testing.T) {
		pwFile := t.TempDir() + "/pw"
		if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"providers", "register", "--display-name", "array-z", "--url", "https://127.0.0.1:1/vasa/version.xml", "--username", "vasa-admin", "--password-file", pwFile, "--wait"},
			{"providers", "recover", "vp-3", "--username", "vasa-admin", "--password-file", pwFile, "--wait"},
			{"-o", "json", "providers", "recover", "vp-3", "--username", "vasa-admin", "--password-file", pwFile},
		} {
			cmd := exec.Command(vasactlBinary(t), append([]string{"--plaintext", "--addr", g.addr}, args...)...)
			cmd.Env = childEnv(t)
			var out, errOut syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String()+errOut.String(), testPassword) {
				t.Errorf("%v: the password is in the output:\n%s%s", args[:2], out.String(), errOut.String())
			}
		}
		if !spy.received(testPassword) {
			t.Error("the gateway never received the password from the file")
		}
	})

	t.Run("prompt with no echo", func(t *testing.T) {
		typed := testPassword + "-typed"
		c := startPTY(t, "--plaintext", "--addr", g.addr, "providers", "recover", "vp-3", "--username", "vasa-admin", "--wait")
		c.expect(t, "Password of vasa-admin: ")
		if processHolds(t, c.cmd.Process.Pid, typed) {
			t.Error("the password is in the child's argv or environment")
		}
		if _, err := c.tty.Write([]byte(typed + "\r")); err != nil {
			t.Fatal(err)
		}
		_, out := c.wait(t)
		if strings.Contains(out, typed) {
			t.Errorf("the typed password was echoed or printed:\n%s", out)
		}
		if !spy.received(typed) {
			t.Errorf("the gateway never received the typed password; output:\n%s", out)
		}
	})
}

// TestPTYRecoverShowsSteps: on a terminal, a recovery's --wait shows each
// step as it starts and ends above the bar, which reaches 100 %.
func TestPTYRecoverShowsSteps(t *testing.T) {
	t.Parallel()
	g := lifecycleGateway(t)
	if _, err := g.sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	c := startPTY(t, "--plaintext", "--addr", g.addr, "providers", "recover", "vp-3", "--username", "vasa-admin", "--password-file", writePassword(t), "--wait")
	code, out := c.wait(t)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	contains(t, "terminal output", out, "step 1 preflight: running", "step 1 preflight: succeeded",
		"step 2 unregister: succeeded", "step 3 register: succeeded", "step 4 wait-online: succeeded",
		"100% |", "succeeded: vcenters/default/vasaProviders/")
}

// TestPTYRegisterAsksAboutTheCertificate: on a terminal, a register that
// vCenter refuses with CERTIFICATE_NOT_TRUSTED shows the certificate's
// fingerprint and asks; "n" leaves it refused (exit 19), "y" resends with
// the fingerprint and the provider is registered.
func TestPTYRegisterAsksAboutTheCertificate(t *testing.T) {
	t.Parallel()
	g := lifecycleGateway(t)
	env := noConfig(t)
	var vp1 vasagwv1.VasaProvider
	parseJSON(t, g.run(t, env, "-o", "json", "providers", "get", "vp-1").stdout, &vp1)
	if r := g.run(t, env, "providers", "unregister", "vp-1", "--wait"); r.code != 0 {
		t.Fatalf("unregister: exit %d\n%s", r.code, r.stderr)
	}
	pw := writePassword(t)
	for _, answer := range []string{"n", "y"} {
		c := startPTY(t, "--plaintext", "--addr", g.addr, "providers", "register", "--display-name", "array-a", "--url", vp1.GetUrl(),
			"--username", "vasa-admin", "--password-file", pw, "--wait")
		c.expect(t, "[y/N] ")
		contains(t, "prompt", c.out.String(), "SHA-256 fingerprint: "+vp1.GetCertificateSha256Fingerprint())
		if _, err := c.tty.Write([]byte(answer + "\r")); err != nil {
			t.Fatal(err)
		}
		code, out := c.wait(t)
		switch answer {
		case "n":
			if code != 19 || !strings.Contains(out, "CERTIFICATE_NOT_TRUSTED") {
				t.Errorf("answer n: exit %d, want 19\n%s", code, out)
			}
		case "y":
			if code != 0 || !strings.Contains(out, "succeeded: vcenters/default/vasaProviders/") {
				t.Errorf("answer y: exit %d, want 0\n%s", code, out)
			}
		}
	}
}

// TestPTYProvidersWatchLiveTable: on a terminal `providers watch` draws the
// table (clearing the screen to redraw it) and Ctrl-C ends it with 0.
func TestPTYProvidersWatchLiveTable(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	c := startPTY(t, "--plaintext", "--addr", g.addr, "providers", "watch")
	c.expect(t, "vp-6")
	contains(t, "terminal output", c.out.String(), "\x1b[H\x1b[2J", "Providers of vcenters/default, live", "ID ", "NOTE", "vp-3", "expired")
	if _, err := c.tty.Write([]byte{0x03}); err != nil {
		t.Fatal(err)
	}
	if code, out := c.wait(t); code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, out)
	}
}
