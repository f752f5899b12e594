package vcenter

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"
)

// TestCertVerifierChecksHostName: a certificate signed by a trusted CA but
// issued for another name is refused, also when vCenter is reached by IP
// address (where TLS sends no server name to check against).
func TestCertVerifierChecksHostName(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vc.example.test"},
		DNSNames:              []string{"vc.example.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}

	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"vc.example.test", true},
		{"other.example.test", false},
		{"192.0.2.10", false},
	} {
		err := (&certVerifier{host: tt.host, roots: roots}).verify(cs)
		var ue *UntrustedCertificateError
		switch {
		case tt.ok && err != nil:
			t.Errorf("host %s: %v", tt.host, err)
		case !tt.ok && (!errors.As(err, &ue) || ue.Thumbprint == ""):
			t.Errorf("host %s: %v, want UntrustedCertificateError with a thumbprint", tt.host, err)
		}
	}
	if err := (&certVerifier{host: "vc.example.test"}).verify(tls.ConnectionState{}); err == nil {
		t.Error("no certificate presented was accepted")
	}
}
