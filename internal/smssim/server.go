package smssim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Default credentials of a [Server].
const (
	DefaultUsername = "user"
	DefaultPassword = "pass"
)

// modelMu serialises vcsim model creation and server start: Model.Create
// appends to a package-level variable of govmomi's simulator
// (EvalLicense.Properties in LicenseManager.init) and Service.NewServer
// rewrites option values shared by all models, so two Servers starting in
// parallel would race.
var modelMu sync.Mutex

// Server runs vcsim (the VPX model) over HTTPS with the SMS endpoint of a
// [Simulator] registered, on a front listener that tests can take down
// ([Server.Down]) and bring back on the same address ([Server.Up]) to
// simulate a vCenter outage.
type Server struct {
	// URL is the vim25 SDK URL, https://127.0.0.1:PORT/sdk, without user info.
	URL *url.URL
	// Username and Password log in to vim25 (any other pair is InvalidLogin).
	Username, Password string
	// CAFile is a PEM file holding the server's self-signed certificate,
	// which is valid for 127.0.0.1, ::1 and localhost.
	CAFile string
	// Thumbprint is the SHA-256 thumbprint of the server's certificate,
	// upper-case hex pairs separated by colons ("AA:BB:...").
	Thumbprint string
	// ThumbprintSHA1 is the SHA-1 thumbprint, in the same form, for clients
	// that pin the way older vSphere tools do.
	ThumbprintSHA1 string
	// Sim is the SMS endpoint's state and test controls.
	Sim *Simulator

	model   *simulator.Model
	handler http.Handler
	tls     *tls.Config
	addr    string
	dir     string
	logins  atomic.Int64
	users   sync.Map // user name -> password, from AddUser

	mu     sync.Mutex
	front  *frontEnd // nil while down
	closed bool
}

// Start creates a Simulator from opts and serves it inside vcsim on
// opts.Listen (default 127.0.0.1:0). Close the Server when done.
func Start(opts Options) (*Server, error) {
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}

	s := &Server{
		Username: DefaultUsername,
		Password: DefaultPassword,
		Sim:      New(opts),
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	var err error
	if s.dir, err = os.MkdirTemp("", "smssim-"); err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	now := time.Now()
	cert, err := newSelfSigned("127.0.0.1", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		now.Add(-time.Hour), now.Add(10*365*24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	parsed, err := x509.ParseCertificate(cert.der)
	if err != nil {
		return nil, fmt.Errorf("parse server certificate: %w", err)
	}
	s.Thumbprint = soap.ThumbprintSHA256(parsed)
	s.ThumbprintSHA1 = soap.ThumbprintSHA1(parsed)
	s.CAFile = filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(s.CAFile, cert.certPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write CA file: %w", err)
	}
	pair, err := tls.X509KeyPair(cert.certPEM, cert.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server key pair: %w", err)
	}

	// A small inventory (one datacenter with one standalone host): SMS needs
	// none of it, and the default VPX inventory takes ~15x longer to build.
	s.model = simulator.VPX()
	s.model.Cluster = 0
	s.model.ClusterHost = 0
	s.model.Host = 1
	s.model.Machine = 0
	s.model.Portgroup = 0
	s.model.Pool = 0
	modelMu.Lock()
	err = s.model.Create()
	modelMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("create vcsim model: %w", err)
	}
	svc := s.model.Service
	svc.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	// A Userinfo other than simulator.DefaultLogin makes vcsim check
	// credentials (through ValidLogin) instead of accepting any pair.
	svc.Listen = &url.URL{User: url.UserPassword(s.Username, s.Password)}
	sm := svc.Context.Map.SessionManager()
	sm.ValidLogin = func(req *vimtypes.Login) bool {
		valid := req.UserName == s.Username && req.Password == s.Password || s.validUser(req.UserName, req.Password)
		if valid {
			s.logins.Add(1)
		}
		return valid
	}
	svc.RegisterSDK(s.Sim.Registry())

	// NewServer finishes vcsim's set-up (vim25 endpoint, TLS config) and
	// starts a listener of its own, which we close at once: the Server
	// serves vcsim's handler on its front listener instead, so that it
	// alone owns the address and the connections.
	// NewServer rewrites option values that all vcsim models share, so it
	// is serialised like Model.Create.
	modelMu.Lock()
	backend := svc.NewServer()
	modelMu.Unlock()
	backend.Close()
	s.registerControls(svc.ServeMux)
	svc.ServeMux.HandleFunc("GET "+Path+"/vimServiceVersions.xml", serveVersions)
	svc.ServeMux.HandleFunc("GET "+Path+"/vimService.wsdl", serveWSDL)
	s.handler = wrapWire(svc.ServeMux)
	s.tls = svc.TLS

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	s.addr = ln.Addr().String()
	s.URL = &url.URL{Scheme: "https", Host: s.addr, Path: vim25.Path}
	sm.ServiceHostName = s.addr
	s.serve(ln)

	ok = true
	return s, nil
}

// Logins returns how many vim25 SessionManager.Login calls succeeded.
func (s *Server) Logins() int {
	return int(s.logins.Load())
}

// DropSessions invalidates every vim25 session, as a vCenter restart or a
// session timeout would: the next vim25 call with an old cookie faults
// NotAuthenticated and the next SMS call faults sms:InvalidSession.
func (s *Server) DropSessions() {
	ctx := context.Background()
	c, err := vim25.NewClient(ctx, s.model.Service)
	if err != nil {
		panic(fmt.Sprintf("smssim: in-process vim25 client: %v", err))
	}
	ref := *c.ServiceContent.SessionManager
	var sm mo.SessionManager
	if err := property.DefaultCollector(c).RetrieveOne(ctx, ref, []string{"sessionList"}, &sm); err != nil {
		panic(fmt.Sprintf("smssim: list sessions: %v", err))
	}
	for _, us := range sm.SessionList {
		// One at a time: a session that ends meanwhile faults NotFound,
		// which must not keep the others alive.
		_, _ = methods.TerminateSession(ctx, c, &vimtypes.TerminateSession{This: ref, SessionId: []string{us.Key}})
	}
}

// Down stops accepting connections and resets every open one, so clients
// see vCenter as unreachable until [Server.Up].
func (s *Server) Down() {
	s.mu.Lock()
	fe := s.front
	s.front = nil
	s.mu.Unlock()
	if fe != nil {
		fe.shutdown()
	}
}

// Up listens again on the address the Server had, after [Server.Down]. It
// is a no-op while the Server is up.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("smssim: server closed")
	}
	if s.front != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.front = newFrontEnd(ln, s.tls, s.handler)
	return nil
}

// Close stops the Server and releases everything it holds. It waits for
// its serving goroutine to end.
func (s *Server) Close() {
	s.Down()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.model != nil && s.model.Service != nil {
		modelMu.Lock()
		s.model.Remove()
		modelMu.Unlock()
	}
	s.Sim.Close()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.front = newFrontEnd(ln, s.tls, s.handler)
}

// frontEnd is one listening period of a Server: an HTTPS server on a
// listener whose TCP connections it tracks so it can reset them.
type frontEnd struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	mu     sync.Mutex
	conns  map[*net.TCPConn]struct{}
	closed bool
}

func newFrontEnd(ln net.Listener, cfg *tls.Config, h http.Handler) *frontEnd {
	fe := &frontEnd{
		ln:    ln,
		conns: make(map[*net.TCPConn]struct{}),
		done:  make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			// TLS handshake failures of clients that do not trust the
			// certificate are expected in tests; keep them off stderr.
			ErrorLog: log.New(io.Discard, "", 0),
		},
	}
	go func() {
		defer close(fe.done)
		_ = fe.srv.Serve(tls.NewListener(&trackingListener{Listener: ln, fe: fe}, cfg))
	}()
	return fe
}

// shutdown closes the listener, resets (RST) every open connection and
// waits for the serving goroutine.
func (fe *frontEnd) shutdown() {
	_ = fe.ln.Close()
	fe.mu.Lock()
	fe.closed = true
	for c := range fe.conns {
		_ = c.SetLinger(0)
		_ = c.Close()
	}
	clear(fe.conns)
	fe.mu.Unlock()
	_ = fe.srv.Close()
	<-fe.done
}

type trackingListener struct {
	net.Listener
	fe *frontEnd
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	l.fe.mu.Lock()
	defer l.fe.mu.Unlock()
	if l.fe.closed {
		_ = tc.SetLinger(0)
		_ = tc.Close()
		return nil, net.ErrClosed
	}
	l.fe.conns[tc] = struct{}{}
	return &trackedConn{TCPConn: tc, fe: l.fe}, nil
}

type trackedConn struct {
	*net.TCPConn
	fe *frontEnd
}

func (c *trackedConn) Close() error {
	c.fe.mu.Lock()
	delete(c.fe.conns, c.TCPConn)
	c.fe.mu.Unlock()
	return c.TCPConn.Close()
}
