// Package redistest runs a real redis-server for tests: on a free port,
// without persistence, stopped when the test ends. A test that needs one
// skips when redis-server is not installed, unless VASAGW_REDIS_TESTS is
// "required" (CI), when it fails.
package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	port int
	opts Options
	ca   *x509.CertPool
	args []string // TLS file arguments
	cmd  *exec.Cmd
}

// Options configure [StartWith].
type Options struct {
	// Password, when set, is required of clients (requirepass).
	Password string
	// TLS serves only TLS (rediss://), with a certificate for 127.0.0.1
	// from a CA of the test's own ([Server.CAs]).
	TLS bool
}

// Start runs redis-server on a free port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is [Start] with options.
func StartWith(t testing.TB, opts Options) *Server {
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
	s := &Server{t: t, bin: bin, port: port, opts: opts}
	if opts.TLS {
		s.makeCertificates()
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the redis:// (rediss:// with TLS) URL of the server.
func (s *Server) URL() string {
	if s.opts.TLS {
		return "rediss://" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// CAs holds the CA of a TLS server's certificate.
func (s *Server) CAs() *x509.CertPool { return s.ca }

// makeCertificates writes a CA and a server certificate for 127.0.0.1.
func (s *Server) makeCertificates() {
	t := s.t
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s.args = []string{
		"--tls-cert-file", write("server.pem", "CERTIFICATE", der),
		"--tls-key-file", write("server-key.pem", "EC PRIVATE KEY", keyDER),
		"--tls-ca-cert-file", write("ca.pem", "CERTIFICATE", caDER),
		"--tls-auth-clients", "no",
	}
	s.ca = x509.NewCertPool()
	s.ca.AddCert(ca)
}

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
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if s.opts.TLS {
		args = append([]string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}, args[2:]...)
		args = append(args, s.args...)
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	cmd := exec.Command(s.bin, args...)
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
