package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/vasagw/vasagw/internal/config"
)

// newTLSConfig returns the TLS configuration of both listeners: the
// serving certificate from files re-read when they change and, with
// --client-ca-file, client certificates verified against those CAs.
//
// With client CAs alone every caller must present a certificate
// (RequireAndVerifyClientCert). With bearer tokens as well, portals that
// hold a token but no certificate must get through the handshake, so a
// certificate is verified only if given (VerifyClientCertIfGiven): an
// untrusted or expired one still fails the handshake, and a caller with
// neither is refused UNAUTHENTICATED per call.
func newTLSConfig(sc config.Security, log *slog.Logger) (*tls.Config, error) {
	certs, err := newCertReloader(sc.TLSCertFile, sc.TLSKeyFile, log)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if sc.ClientCAFile != "" {
		pem, err := os.ReadFile(sc.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("--client-ca-file: no PEM certificate found")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if sc.Tokens() {
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return cfg, nil
}

// certReloader serves a certificate and key pair from files and loads
// them again when either file's modification time or size changes. It
// checks on each TLS handshake, in the handshake's goroutine, so it needs
// no watcher goroutine to leak; a stat of two files costs far less than
// the handshake. A changed pair that does not load (one file written,
// the other not yet) keeps the previous certificate and is retried when
// the files change again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate
	loaded [2]fileVersion // of the files cert came from
	failed [2]fileVersion // of the last pair that did not load
}

// fileVersion identifies a version of a file cheaply.
type fileVersion struct {
	mod  time.Time
	size int64
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	v, err := r.versions()
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file and --tls-key-file: %w", err)
	}
	r.cert, r.loaded = &cert, v
	return r, nil
}

func (r *certReloader) versions() ([2]fileVersion, error) {
	var v [2]fileVersion
	for i, path := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(path)
		if err != nil {
			return v, err
		}
		v[i] = fileVersion{mod: st.ModTime(), size: st.Size()}
	}
	return v, nil
}

// getCertificate is the tls.Config.GetCertificate hook.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := r.versions()
	if err != nil || v == r.loaded || v == r.failed {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.failed = v
		r.log.Warn("the TLS certificate files changed but do not load; serving the previous certificate", "cert_file", r.certFile, "error", err)
		return r.cert, nil
	}
	r.cert, r.loaded = &cert, v
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
		r.log.Info("reloaded the TLS certificate", "cert_file", r.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	return r.cert, nil
}

// httpListener wraps the REST listener in TLS when TLS is configured.
func (s *security) httpListener(l net.Listener) net.Listener {
	if s.tlsConfig == nil {
		return l
	}
	return tls.NewListener(l, s.tlsConfig)
}
