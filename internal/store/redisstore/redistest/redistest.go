// Package redistest runs a real redis-server for tests: on a free port,
// without persistence, stopped when the test ends. A test that needs one
// skips when redis-server is not installed, unless VASAGW_REDIS_TESTS is
// "required" (CI), when it fails.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
}

// Start runs redis-server on a free port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("VASAGW_REDIS_TESTS") == "required" {
			t.Fatalf("redis-server not found and VASAGW_REDIS_TESTS=required: %v", err)
		}
		t.Skip("redis-server not installed (set VASAGW_REDIS_TESTS=required to fail instead)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, bin: bin, port: port}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Stop kills the server (Redis is then unreachable); Restart brings it back
// on the same port, empty.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on its port and waits until it accepts
// connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not accept connections: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// String names the server in failure messages.
func (s *Server) String() string { return fmt.Sprintf("redis-server on %s", s.Addr()) }
