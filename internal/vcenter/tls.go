package vcenter

import (
	"bytes"
	"context"
	"crypto/sha1" // SHA-1 thumbprints are what older vSphere tooling shows; pinning by one is the operator's choice
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/soap"
)

// certVerifier decides whether vCenter's certificate is trusted: by a pinned
// thumbprint when one is set (the pin alone decides), else by a chain to
// the CA bundle (or the system roots) valid for the host name.
type certVerifier struct {
	host  string         // vCenter's host name or IP address, checked against the certificate
	roots *x509.CertPool // nil: system roots
	pin   []byte         // SHA-256 (32 bytes) or SHA-1 (20 bytes) digest
}

// parseThumbprint accepts a SHA-256 or SHA-1 thumbprint in any case, with
// or without ':' (or ' ', '-') separators.
func parseThumbprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("thumbprint %q is not hex", s)
	}
	if len(b) != sha256.Size && len(b) != sha1.Size {
		return nil, fmt.Errorf("thumbprint %q is neither SHA-256 (32 bytes) nor SHA-1 (20 bytes)", s)
	}
	return b, nil
}

// loadCAFile reads a PEM bundle.
func loadCAFile(name string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", name)
	}
	return pool, nil
}

func (v *certVerifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return &UntrustedCertificateError{Err: errors.New("no certificate presented")}
	}
	leaf := cs.PeerCertificates[0]
	if v.pin != nil {
		var sum []byte
		if len(v.pin) == sha1.Size {
			s := sha1.Sum(leaf.Raw)
			sum = s[:]
		} else {
			s := sha256.Sum256(leaf.Raw)
			sum = s[:]
		}
		if bytes.Equal(sum, v.pin) {
			return nil
		}
		return &UntrustedCertificateError{
			Thumbprint: soap.ThumbprintSHA256(leaf),
			Err:        errors.New("certificate does not match the pinned thumbprint"),
		}
	}
	opts := x509.VerifyOptions{
		Roots:         v.roots,
		DNSName:       v.host, // cs.ServerName is empty for an IP address (no SNI)
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return &UntrustedCertificateError{Thumbprint: soap.ThumbprintSHA256(leaf), Err: err}
	}
	return nil
}

// configureTransport makes the soap.Client's transport dial with a bounded
// timeout and verify certificates with v (nil: no verification). It
// replaces govmomi's TLS dialer, which neither honours the dial context nor
// reports which certificate it refused.
func configureTransport(c *soap.Client, v *certVerifier, dialTimeout, requestTimeout time.Duration) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done by VerifyConnection below (or skipped when
		// the operator asked for an insecure connection), so that a
		// refused certificate comes back with its thumbprint.
		InsecureSkipVerify: true,
	}
	if v != nil {
		cfg.VerifyConnection = v.verify
	}
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}

	t := c.DefaultTransport()
	t.TLSClientConfig = cfg
	t.DialContext = nd.DialContext
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		d := &tls.Dialer{NetDialer: nd, Config: cfg.Clone()}
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil && ctx.Err() == nil && dctx.Err() != nil {
			// Our own bound, not the caller's deadline: vCenter is unreachable.
			return nil, &unreachableError{err: fmt.Errorf("no TLS connection to %s within %s", addr, dialTimeout)}
		}
		return conn, err
	}
	t.TLSHandshakeTimeout = dialTimeout
	t.ResponseHeaderTimeout = requestTimeout
	// Keep enough connections for concurrent callers to reuse rather than
	// paying a TLS handshake per call (net/http keeps 2 by default). Each
	// SOAP call holds its HTTP/1.1 connection to the end, so with more
	// callers in flight than idle slots every call past the limit closes
	// its connection and the next one dials and handshakes anew: with 32
	// slots and 64 concurrent gateway callers, TLS handshakes took 12 % of
	// the gateway's CPU (docs/benchmarks.md). Idle connections still close
	// after IdleConnTimeout.
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	t.MaxIdleConns = maxIdleConnsPerHost
}

const maxIdleConnsPerHost = 256
