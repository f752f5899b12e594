package vcenter_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// otherCAFile writes a PEM file of a self-signed certificate vCenter does
// not use.
func otherCAFile(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "some other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// sha1Thumbprint computes the SHA-1 thumbprint of the certificate in srv's
// CA file, "AA:BB:..." like vSphere shows it.
func sha1Thumbprint(t *testing.T, srv *smssim.Server) string {
	t.Helper()
	data, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block in the CA file")
	}
	sum := sha1.Sum(block.Bytes)
	var parts []string
	for _, b := range sum {
		parts = append(parts, strings.ToUpper(hex.EncodeToString([]byte{b})))
	}
	return strings.Join(parts, ":")
}

func TestTLSVerification(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	sha1TP := sha1Thumbprint(t, srv)
	localhost := *srv.URL
	localhost.Host = strings.Replace(localhost.Host, "127.0.0.1", "localhost", 1)
	otherCA := otherCAFile(t)

	tests := []struct {
		name      string
		modify    func(*vcenter.SessionConfig)
		untrusted bool
	}{
		{name: "CA file", modify: func(*vcenter.SessionConfig) {}},
		{name: "CA file, host name", modify: func(c *vcenter.SessionConfig) { c.URL = &localhost }},
		{name: "wrong CA file", modify: func(c *vcenter.SessionConfig) { c.CAFile = otherCA }, untrusted: true},
		{name: "system roots", modify: func(c *vcenter.SessionConfig) { c.CAFile = "" }, untrusted: true},
		{name: "SHA-256 pin as given", modify: func(c *vcenter.SessionConfig) { c.CAFile, c.Thumbprint = "", srv.Thumbprint }},
		{name: "SHA-256 pin lower case without colons", modify: func(c *vcenter.SessionConfig) {
			c.CAFile, c.Thumbprint = "", strings.ToLower(strings.ReplaceAll(srv.Thumbprint, ":", ""))
		}},
		{name: "SHA-1 pin", modify: func(c *vcenter.SessionConfig) { c.CAFile, c.Thumbprint = "", sha1TP }},
		{name: "SHA-1 pin lower case without colons", modify: func(c *vcenter.SessionConfig) {
			c.CAFile, c.Thumbprint = "", strings.ToLower(strings.ReplaceAll(sha1TP, ":", ""))
		}},
		{name: "wrong SHA-256 pin", modify: func(c *vcenter.SessionConfig) {
			c.CAFile, c.Thumbprint = "", strings.Repeat("AB:", 31)+"AB"
		}, untrusted: true},
		{name: "wrong SHA-1 pin", modify: func(c *vcenter.SessionConfig) {
			c.CAFile, c.Thumbprint = "", strings.Repeat("01", 20)
		}, untrusted: true},
		{name: "insecure", modify: func(c *vcenter.SessionConfig) { c.CAFile, c.Insecure = "", true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sessionConfig(srv)
			tt.modify(&cfg)
			s := newSession(t, cfg)
			err := s.Ping(testContext(t))
			if !tt.untrusted {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			var ue *vcenter.UntrustedCertificateError
			if !errors.As(err, &ue) {
				t.Fatalf("Ping: %v (%T), want *UntrustedCertificateError", err, err)
			}
			if ue.Thumbprint != srv.Thumbprint {
				t.Errorf("thumbprint %q, want the presented %q", ue.Thumbprint, srv.Thumbprint)
			}
			if errors.Is(err, vcenter.ErrUnreachable) {
				t.Errorf("an untrusted certificate is not ErrUnreachable")
			}
		})
	}
}
