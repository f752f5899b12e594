package cli_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vasagw/vasagw/internal/auth/authtest"
)

const (
	testIssuer   = "https://idp.example.test"
	testAudience = "vasagw"
	testPolicy   = `
roles:
  operator:
    subjects: [ops]
    certificates:
      commonNames: [operator-bot]
  viewer:
    subjects: [watcher]
`
)

// TestTLSClientCertificateAndToken: against the gateway serving TLS with
// mutual TLS and bearer tokens, --ca-file verifies it, a client
// certificate or a --token-file authenticates every call (unary and
// streams), the gateway's refusals map to their exit statuses, and the
// token is never printed.
func TestTLSClientCertificateAndToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serverCA := authtest.NewCA(t, "server CA")
	clientCA := authtest.NewCA(t, "client CA")
	issuer := authtest.NewIssuer(t, testIssuer, testAudience)
	srv := serverCA.Issue(t, authtest.CertOptions{CommonName: "vasagw", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	bot := clientCA.Issue(t, authtest.CertOptions{CommonName: "operator-bot"})
	g := startGateway(t,
		"--tls-cert-file="+authtest.WriteFile(t, dir, "tls.crt", srv.CertPEM),
		"--tls-key-file="+authtest.WriteFile(t, dir, "tls.key", srv.KeyPEM),
		"--client-ca-file="+authtest.WriteFile(t, dir, "client-ca.pem", clientCA.PEM),
		"--jwks-file="+issuer.WriteJWKS(t, dir),
		"--jwt-issuer="+testIssuer,
		"--jwt-audience="+testAudience,
		"--auth-policy-file="+authtest.WriteFile(t, dir, "policy.yaml", []byte(testPolicy)),
	)
	caFile := authtest.WriteFile(t, dir, "ca.pem", serverCA.PEM)
	certFile := authtest.WriteFile(t, dir, "me.pem", bot.CertPEM)
	keyFile := authtest.WriteFile(t, dir, "me-key.pem", bot.KeyPEM)
	opsToken := issuer.Token(t, "ops")
	watcherToken := issuer.Token(t, "watcher")
	opsFile := authtest.WriteFile(t, dir, "ops-token", []byte(opsToken+"\n"))
	watcherFile := authtest.WriteFile(t, dir, "watcher-token", []byte(watcherToken))

	env := noConfig(t)
	run := func(args ...string) (int, string) {
		var out, errOut syncBuffer
		code := runIO(context.Background(), env, &out, &errOut, append([]string{"--addr", g.addr}, args...)...)
		all := out.String() + errOut.String()
		for _, tok := range []string{opsToken, watcherToken} {
			if strings.Contains(all, tok) {
				t.Errorf("%v: a token is printed:\n%s", args, all)
			}
		}
		return code, all
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"token", []string{"--ca-file", caFile, "--token-file", opsFile, "providers", "get", "vp-1"}, 0, "array-a"},
		{"token on a stream", []string{"--ca-file", caFile, "--token-file", opsFile, "providers", "reconnect", "vp-1", "--wait"}, 0, "succeeded"},
		{"client certificate", []string{"--ca-file", caFile, "--cert-file", certFile, "--key-file", keyFile, "providers", "reconnect", "vp-1", "--wait"}, 0, "succeeded"},
		{"no credentials", []string{"--ca-file", caFile, "providers", "get", "vp-1"}, 26, "UNAUTHENTICATED"},
		{"role missing", []string{"--ca-file", caFile, "--token-file", watcherFile, "providers", "reconnect", "vp-1"}, 17, "MISSING_ROLE (PERMISSION_DENIED)"},
		{"gateway not verified", []string{"--token-file", opsFile, "providers", "get", "vp-1"}, 24, "UNAVAILABLE"},
		{"plaintext to TLS", []string{"--plaintext", "providers", "get", "vp-1"}, 24, "UNAVAILABLE"},
		{"cert without key", []string{"--ca-file", caFile, "--cert-file", certFile, "providers", "get", "vp-1"}, 2, "--cert-file and --key-file"},
		{"unreadable CA", []string{"--ca-file", filepath.Join(dir, "nope.pem"), "providers", "get", "vp-1"}, 1, "--ca-file"},
		{"token in clear to another machine", []string{"--plaintext", "--addr", "gw.example.test:9090", "--token-file", opsFile, "providers", "list"}, 2, "in clear"},
	}
	for _, c := range cases {
		code, out := run(c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d (want %d), output lacks %q?\n%s", c.name, code, c.code, c.want, out)
		}
	}

	// The same settings from a config file, paths relative to it.
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("addr: "+g.addr+"\ncaFile: ca.pem\ncertFile: me.pem\nkeyFile: me-key.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	if code := runIO(context.Background(), env, &out, &errOut, "--config", cfg, "providers", "get", "vp-1"); code != 0 {
		t.Errorf("TLS settings from the config file: exit %d\n%s", code, errOut.String())
	}
}
