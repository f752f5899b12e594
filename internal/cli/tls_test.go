package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vasactl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	srvCert, srvKey := issue(2, &x509.Certificate{Subject: pkix.Name{CommonName: "gateway"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cliCert, cliKey := issue(3, &x509.Certificate{Subject: pkix.Name{CommonName: "operator"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "me.pem"), keyFile: filepath.Join(dir, "me-key.pem")}
	for f, b := range map[string][]byte{
		p.caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: cliCert,
		p.keyFile:  cliKey,
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.server, err = tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	return p
}

// requireBearer refuses calls without the bearer token, as the gateway's
// token authentication does (UNAUTHENTICATED).
func requireBearer(token string) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+token {
			return status.Error(codes.Unauthenticated, "a bearer token is required")
		}
		return nil
	}
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}
}

// TestTLSClientCertificateAndToken: --ca-file verifies the gateway, the
// client certificate passes mutual TLS, the token authenticates each call
// (unary and stream), and the token is never printed.
func TestTLSClientCertificateAndToken(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	const token = "tok-9d8c7b6a5f4e3d2c1b0a"
	unary, stream := requireBearer(token)
	g := startGateway(t, withServerOptions(
		grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{pki.server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pki.pool,
			MinVersion:   tls.VersionTLS12,
		})),
		grpc.ChainUnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(stream),
	))
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := noConfig(t)
	run := func(args ...string) (int, string) {
		var out, errOut syncBuffer
		code := runIO(context.Background(), env, &out, &errOut, append([]string{"--addr", g.addr}, args...)...)
		all := out.String() + errOut.String()
		if strings.Contains(all, token) {
			t.Errorf("%v: the token is printed:\n%s", args, all)
		}
		return code, all
	}
	full := []string{"--ca-file", pki.caFile, "--cert-file", pki.certFile, "--key-file", pki.keyFile, "--token-file", tokenFile}

	if code, out := run(append(full, "providers", "get", "vp-1")...); code != 0 {
		t.Errorf("all settings: exit %d\n%s", code, out)
	}
	if code, out := run(append(full, "providers", "reconnect", "vp-1", "--wait")...); code != 0 || !strings.Contains(out, "succeeded") {
		t.Errorf("a task watch (a stream) with the token: exit %d\n%s", code, out)
	}
	if code, out := run("--ca-file", pki.caFile, "--cert-file", pki.certFile, "--key-file", pki.keyFile, "providers", "get", "vp-1"); code != 26 {
		t.Errorf("no token: exit %d, want 26 (UNAUTHENTICATED)\n%s", code, out)
	}
	if code, out := run("--ca-file", pki.caFile, "--token-file", tokenFile, "providers", "get", "vp-1"); code != 24 {
		t.Errorf("no client certificate: exit %d, want 24 (UNAVAILABLE: handshake refused)\n%s", code, out)
	}
	if code, out := run("--cert-file", pki.certFile, "--key-file", pki.keyFile, "--token-file", tokenFile, "providers", "get", "vp-1"); code != 24 {
		t.Errorf("gateway not verified by system roots: exit %d, want 24\n%s", code, out)
	}
	if code, out := run("--cert-file", pki.certFile, "providers", "get", "vp-1"); code != 2 {
		t.Errorf("--cert-file without --key-file: exit %d, want 2\n%s", code, out)
	}
	// The settings from a config file, relative to its directory.
	dir := filepath.Dir(pki.caFile)
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("addr: "+g.addr+"\ncaFile: ca.pem\ncertFile: me.pem\nkeyFile: me-key.pem\ntokenFile: "+tokenFile+"\n"), 0o600)
	var out, errOut syncBuffer
	if code := runIO(context.Background(), env, &out, &errOut, "--config", cfg, "providers", "get", "vp-1"); code != 0 {
		t.Errorf("TLS settings from the config file: exit %d\n%s", code, errOut.String())
	}
	// A token is not sent in clear to another machine.
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := runIO(context.Background(), env, &out, &errOut, "--plaintext", "--addr", "gw.example.test:9090", "--token-file", tokenFile, "providers", "list"); code != 2 {
		t.Errorf("--token-file with --plaintext to a remote address: exit %d, want 2\n%s", code, errOut.String())
	}
}
