package vcenter

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Certificate fingerprints in this package are SHA-256 digests written as
// vSphere shows them: upper-case hex pairs separated by colons
// ("AB:CD:...:EF", 95 characters). [NormalizeFingerprint] turns what a
// caller typed into that form.

// ProbeTimeout bounds a [ProbeCertificate] (connect and TLS handshake) when
// the caller's context allows longer.
const ProbeTimeout = 10 * time.Second

// ErrInvalidProviderURL is matched (with [errors.Is]) by the error of a
// [ProbeCertificate] whose URL is not an absolute https URL.
var ErrInvalidProviderURL = errors.New("provider url is not an absolute https url")

// ProbeError reports that the certificate a provider URL presents could not
// be read: the URL is not valid ([ErrInvalidProviderURL]), or the provider
// could not be reached or did not complete a TLS handshake. It is about the
// provider, never about vCenter: it does not match [ErrUnreachable].
type ProbeError struct {
	// URL is the provider URL, its user information redacted.
	URL string
	Err error
}

func (e *ProbeError) Error() string {
	return "read certificate of provider " + e.URL + ": " + e.Err.Error()
}

func (e *ProbeError) Unwrap() error { return e.Err }

// PresentedCertificate is the certificate a provider URL presented in a TLS
// handshake.
type PresentedCertificate struct {
	// PEM is the leaf certificate, PEM-encoded.
	PEM string
	// SHA256 is the fingerprint of the leaf (see the format above).
	SHA256 string
	// NotBefore and NotAfter bound its validity.
	NotBefore, NotAfter time.Time
	// SelfSigned is true when the leaf is signed by its own key.
	SelfSigned bool
}

// Expired reports whether the certificate is no longer valid at now.
func (c *PresentedCertificate) Expired(now time.Time) bool {
	return now.After(c.NotAfter)
}

// ProbeCertificate reads the certificate that the provider at rawURL (an
// https URL; port 443 when it names none) presents, with a TLS handshake
// that trusts nothing and sends nothing else. It takes at most
// [ProbeTimeout], or less when ctx ends sooner. Its errors are
// *[ProbeError] or ctx's own.
func ProbeCertificate(ctx context.Context, rawURL string) (*PresentedCertificate, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, &ProbeError{URL: redactURL(rawURL), Err: ErrInvalidProviderURL}
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{
		ServerName: u.Hostname(),
		// The probe reads the certificate so that a person or a fingerprint
		// can decide whether to trust it; it trusts nothing itself and sends
		// no data over the connection.
		InsecureSkipVerify: true, //nolint:gosec // see above
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(pctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ProbeError{URL: u.Redacted(), Err: err}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, &ProbeError{URL: u.Redacted(), Err: errors.New("no certificate presented")}
	}
	leaf := certs[0]
	return &PresentedCertificate{
		PEM:        string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		SHA256:     fingerprint(leaf.Raw),
		NotBefore:  leaf.NotBefore.UTC(),
		NotAfter:   leaf.NotAfter.UTC(),
		SelfSigned: leaf.CheckSignatureFrom(leaf) == nil,
	}, nil
}

// CertificateSHA256 returns the fingerprint of the first certificate in the
// PEM text pemText, or "" when it holds none.
func CertificateSHA256(pemText string) string {
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return ""
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return ""
		}
		return fingerprint(block.Bytes)
	}
}

// NormalizeFingerprint returns a SHA-256 fingerprint given in any case,
// with or without ':' (or ' ', '-') separators, in this package's form
// ("AB:CD:..."). It fails for anything that is not 32 bytes of hex.
func NormalizeFingerprint(s string) (string, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q is not a SHA-256 digest (64 hex digits, optionally colon-separated)", s)
	}
	return formatFingerprint(b), nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return formatFingerprint(sum[:])
}

func formatFingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	sb.Grow(len(h) + len(b))
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
