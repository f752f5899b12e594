package smssim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// endpoint is the VASA service of one storage array: a TLS listener on
// 127.0.0.1 presenting the array's certificate, which a provider's URL
// names. It outlives the registration: unregistering a provider leaves its
// array (and so its URL) in place, ready to be registered again.
type endpoint struct {
	url string // https://127.0.0.1:PORT/vasa/version.xml
	ln  net.Listener
	srv *http.Server

	// seed is the provider this endpoint was created for (its moId and
	// info): a provider registered at this URL reports the same identity.
	seedID string
	seed   Provider

	mu        sync.Mutex
	cert      *tls.Certificate
	leaf      *x509.Certificate
	certPEM   string
	reachable bool
	done      chan struct{}
}

// vasaPath is the path of a provider URL, as VASA providers publish it.
const vasaPath = "/vasa/version.xml"

// newEndpoint listens on 127.0.0.1:0 and serves certPEM/keyPEM.
func newEndpoint(seedID string, seed Provider, certPEM, keyPEM []byte, reachable bool) (*endpoint, error) {
	e := &endpoint{seedID: seedID, seed: seed, reachable: reachable, done: make(chan struct{})}
	if err := e.setCertificate(certPEM, keyPEM); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for provider %s: %w", seedID, err)
	}
	e.ln = ln
	e.url = "https://" + ln.Addr().String() + vasaPath
	mux := http.NewServeMux()
	mux.HandleFunc(vasaPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vasa-provider><supportedVersions><version id=\"%s\" url=\"%s\"/></supportedVersions></vasa-provider>\n",
			seed.Info.VasaVersion, "https://"+ln.Addr().String()+"/vasa/services/vasaService")
	})
	e.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // handshakes of probes that trust nothing fail by design
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.cert, nil
		},
	}
	go func() {
		defer close(e.done)
		_ = e.srv.Serve(tls.NewListener(&gateListener{Listener: ln, e: e}, cfg))
	}()
	return e, nil
}

// setCertificate makes the endpoint present certPEM from its next handshake.
func (e *endpoint) setCertificate(certPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("provider key pair: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("parse provider certificate: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cert, e.leaf, e.certPEM = &pair, leaf, string(certPEM)
	return nil
}

// presented returns the certificate the endpoint presents now.
func (e *endpoint) presented() (*x509.Certificate, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leaf, e.certPEM
}

func (e *endpoint) setReachable(ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reachable = ok
}

func (e *endpoint) isReachable() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reachable
}

func (e *endpoint) close() {
	_ = e.srv.Close()
	<-e.done
}

// gateListener resets the connections of an unreachable endpoint before
// any TLS byte is sent, as a provider whose service is down would.
type gateListener struct {
	net.Listener
	e *endpoint
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.e.isReachable() {
			return c, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// providerCertificate generates a fresh self-signed certificate for a provider
// endpoint, valid from notBefore to notAfter for 127.0.0.1 and host.
func providerCertificate(host string, notBefore, notAfter time.Time) (*selfSigned, error) {
	return newSelfSigned(host, []string{host, "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, notBefore, notAfter)
}

// parsePEMCertificate reads the first certificate of a PEM text.
func parsePEMCertificate(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// isSelfSigned reports whether c is signed by its own key.
func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

// endpointFor returns the listener that serves p's URL, creating it.
// Callers hold s.mu.
func (s *Simulator) endpointFor(p Provider) (*endpoint, error) {
	if e := s.endpoints[p.Info.Url]; e != nil {
		return e, nil
	}
	if e := s.byOrigin[p.Info.Url]; e != nil {
		return e, nil
	}
	certPEM, keyPEM := []byte(p.Info.Certificate), []byte(p.CertificateKey)
	if p.CertificateKey == "" {
		now := time.Now()
		notBefore, notAfter := now.Add(-time.Hour), now.Add(365*24*time.Hour)
		if c, err := parsePEMCertificate(p.Info.Certificate); err == nil {
			notBefore, notAfter = c.NotBefore, c.NotAfter
		}
		host := p.ID
		if u, err := url.Parse(p.Info.Url); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		cert, err := providerCertificate(host, notBefore, notAfter)
		if err != nil {
			return nil, err
		}
		certPEM, keyPEM = cert.certPEM, cert.keyPEM
	}
	e, err := newEndpoint(p.ID, p, certPEM, keyPEM, !p.Unreachable)
	if err != nil {
		return nil, err
	}
	s.endpoints[e.url] = e
	s.byOrigin[p.Info.Url] = e
	if s.bySeed[p.ID] == nil {
		s.bySeed[p.ID] = e
	}
	return e, nil
}

// endpointOf finds the listener of the provider with moId id, or of the
// provider it was created for (which may have been unregistered since).
// Callers hold s.mu.
func (s *Simulator) endpointOf(id string) (*endpoint, error) {
	if p := s.providers[id]; p != nil && p.endpoint != nil {
		return p.endpoint, nil
	}
	if e := s.bySeed[id]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("smssim: no provider listener for %q", id)
}

// RenewProviderCertificate is the test control "the storage admin
// provisioned a new certificate on the provider": the listener behind the
// URL of provider id (a registered provider's moId, or the moId of the
// seeded provider the listener was made for, even after it was
// unregistered) presents a fresh self-signed certificate, valid from an hour
// ago for a year, from its next handshake. SMS keeps the certificate it
// holds (QueryProviderInfo does not change) until the provider is
// registered again. It returns the new certificate (PEM).
func (s *Simulator) RenewProviderCertificate(id string) (string, error) {
	s.mu.Lock()
	e, err := s.endpointOf(id)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	leaf, _ := e.presented()
	now := time.Now()
	cert, err := providerCertificate(leaf.Subject.CommonName, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return "", err
	}
	if err := e.setCertificate(cert.certPEM, cert.keyPEM); err != nil {
		return "", err
	}
	return string(cert.certPEM), nil
}

// PresentedCertificate returns the certificate (PEM) that the listener
// behind provider id's URL presents now (id as for
// [Simulator.RenewProviderCertificate]).
func (s *Simulator) PresentedCertificate(id string) (string, error) {
	s.mu.Lock()
	e, err := s.endpointOf(id)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	_, certPEM := e.presented()
	return certPEM, nil
}

// SetProviderReachable makes the listener behind provider id's URL accept
// TLS connections (true) or reset every connection (false), as an array
// whose VASA service is up or down.
func (s *Simulator) SetProviderReachable(id string, reachable bool) error {
	s.mu.Lock()
	e, err := s.endpointOf(id)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	e.setReachable(reachable)
	return nil
}

// Close stops every provider listener and waits for them. The simulator
// still answers SOAP calls afterwards, but provider URLs no longer
// connect. [Server.Close] calls it.
func (s *Simulator) Close() {
	s.mu.Lock()
	s.closed = true
	eps := make([]*endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		eps = append(eps, e)
	}
	clear(s.endpoints)
	s.mu.Unlock()
	for _, e := range eps {
		e.close()
	}
}

// presentedBy reads, with a TLS handshake that trusts anything, the
// certificate that rawURL presents. It never holds the simulator's lock:
// the URL may be served by one of its own listeners.
func presentedBy(ctx context.Context, rawURL string) (*x509.Certificate, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}} //nolint:gosec // reads the certificate, trusts nothing
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, "", errors.New("no certificate presented")
	}
	return certs[0], string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw})), nil
}
