package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/auth/authtest"
)

const (
	testIssuer   = "https://idp.example.com"
	testAudience = "vasagw"
)

func newFileVerifier(t *testing.T, iss *authtest.Issuer, algs ...string) *auth.TokenVerifier {
	t.Helper()
	v, err := auth.NewTokenVerifier(context.Background(), auth.TokenConfig{
		Issuer:     testIssuer,
		Audience:   testAudience,
		Algorithms: algs,
		JWKSFile:   iss.WriteJWKS(t, t.TempDir()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// badTokens are the tokens every transport must refuse, by name.
func badTokens(t *testing.T, iss *authtest.Issuer) map[string]string {
	t.Helper()
	with := func(k string, v any) string {
		c := iss.Claims("alice")
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return iss.Sign(t, c)
	}
	other := authtest.NewIssuer(t, testIssuer, testAudience)
	valid := iss.Token(t, "alice")
	parts := strings.Split(valid, ".")
	return map[string]string{
		"expired":              with("exp", time.Now().Add(-time.Minute).Unix()),
		"not yet valid":        with("nbf", time.Now().Add(time.Hour).Unix()),
		"wrong issuer":         with("iss", "https://evil.example.com"),
		"wrong audience":       with("aud", "someone-else"),
		"no exp":               with("exp", nil),
		"no sub":               with("sub", nil),
		"bad signature":        other.Token(t, "alice"),
		"tampered payload":     parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2],
		"alg none":             authtest.SignNone(t, iss.Claims("alice")),
		"hmac with public key": iss.SignHMACWithPublicKey(t, iss.Claims("alice")),
		"malformed":            "not-a-jwt",
		"two parts":            parts[0] + "." + parts[1],
	}
}

func TestTokenVerifier(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	v := newFileVerifier(t, iss)
	ctx := context.Background()

	tok, err := v.Verify(ctx, iss.Token(t, "alice", "storage-admins", "ops"))
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if tok.Subject != "alice" || tok.Issuer != testIssuer {
		t.Errorf("token %+v", tok)
	}
	if got := tok.Strings("groups"); strings.Join(got, ",") != "storage-admins,ops" {
		t.Errorf("groups %v", got)
	}

	for name, raw := range badTokens(t, iss) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(ctx, raw)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), raw) {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func TestTokenVerifierAlgorithmAllowList(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	// The issuer signs ES256; a verifier allowing only RS256 refuses it.
	v := newFileVerifier(t, iss, "RS256")
	if _, err := v.Verify(context.Background(), iss.Token(t, "alice")); err == nil {
		t.Fatal("an ES256 token passed a verifier that allows only RS256")
	}
	for _, alg := range []string{"none", "HS256", "HS512", "rs256"} {
		_, err := auth.NewTokenVerifier(context.Background(), auth.TokenConfig{
			Issuer: testIssuer, Audience: testAudience, Algorithms: []string{alg}, JWKSFile: iss.WriteJWKS(t, t.TempDir()),
		})
		if err == nil {
			t.Errorf("algorithm %q was allowed", alg)
		}
	}
}

func TestTokenVerifierConfigErrors(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	dir := t.TempDir()
	jwks := iss.WriteJWKS(t, dir)
	symmetric := authtest.WriteFile(t, dir, "oct.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}`))
	tests := []struct {
		name string
		cfg  auth.TokenConfig
	}{
		{name: "no audience", cfg: auth.TokenConfig{Issuer: testIssuer, JWKSFile: jwks}},
		{name: "no issuer", cfg: auth.TokenConfig{Audience: testAudience, JWKSFile: jwks}},
		{name: "no keys", cfg: auth.TokenConfig{Issuer: testIssuer, Audience: testAudience}},
		{name: "both key sources", cfg: auth.TokenConfig{Issuer: testIssuer, Audience: testAudience, JWKSFile: jwks, DiscoveryURL: testIssuer}},
		{name: "missing file", cfg: auth.TokenConfig{Issuer: testIssuer, Audience: testAudience, JWKSFile: dir + "/nope.json"}},
		{name: "symmetric key", cfg: auth.TokenConfig{Issuer: testIssuer, Audience: testAudience, JWKSFile: symmetric}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.NewTokenVerifier(context.Background(), tt.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestJWKSFileRotation replaces the JWKS file with another issuer's key:
// the new key's tokens pass and the old key's fail, without a restart.
func TestJWKSFileRotation(t *testing.T) {
	t.Parallel()
	oldKey := authtest.NewIssuer(t, testIssuer, testAudience)
	newKey := authtest.NewIssuer(t, testIssuer, testAudience)
	dir := t.TempDir()
	path := oldKey.WriteJWKS(t, dir)
	v, err := auth.NewTokenVerifier(context.Background(), auth.TokenConfig{Issuer: testIssuer, Audience: testAudience, JWKSFile: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, oldKey.Token(t, "alice")); err != nil {
		t.Fatal(err)
	}
	// A broken file keeps the old keys.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, path, time.Now().Add(time.Minute))
	if _, err := v.Verify(ctx, oldKey.Token(t, "alice")); err != nil {
		t.Fatalf("after a broken JWKS file: %v", err)
	}
	newKey.WriteJWKS(t, dir)
	touch(t, path, time.Now().Add(2*time.Minute))
	if _, err := v.Verify(ctx, newKey.Token(t, "alice")); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if _, err := v.Verify(ctx, oldKey.Token(t, "alice")); err == nil {
		t.Fatal("old key still accepted after rotation")
	}
}

// TestJWKSFileEmptiedRevokes: a well-formed key set without keys revokes
// every key; only a file that cannot be read or does not parse keeps the
// previous keys, with an error log and a count of the failure.
func TestJWKSFileEmptiedRevokes(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	dir := t.TempDir()
	path := iss.WriteJWKS(t, dir)
	var logs bytes.Buffer
	v, err := auth.NewTokenVerifier(context.Background(), auth.TokenConfig{
		Issuer: testIssuer, Audience: testAudience, JWKSFile: path,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := iss.Token(t, "alice")
	steps := []struct {
		name     string
		file     []byte
		accepted bool
		failures int64
	}{
		{name: "not JSON keeps the keys", file: []byte(`{"keys":[`), accepted: true, failures: 1},
		{name: "no keys array keeps the keys", file: []byte(`{}`), accepted: true, failures: 2},
		{name: "a key that does not decode keeps the keys", file: []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA"}]}`), accepted: true, failures: 3},
		{name: "an emptied set revokes", file: []byte(`{"keys":[]}`), accepted: false, failures: 3},
		{name: "a broken file keeps the empty set", file: []byte(`{"keys":`), accepted: false, failures: 4},
		{name: "only encryption keys revoke", file: encOnly(t, iss), accepted: false, failures: 4},
		{name: "the key again", file: iss.JWKS(t), accepted: true, failures: 4},
	}
	for i, step := range steps {
		if err := os.WriteFile(path, step.file, 0o600); err != nil {
			t.Fatal(err)
		}
		touch(t, path, time.Now().Add(time.Duration(i+1)*time.Minute))
		_, err := v.Verify(ctx, tok)
		if got := err == nil; got != step.accepted {
			t.Errorf("%s: token accepted = %v (%v), want %v", step.name, got, err, step.accepted)
		}
		if got := v.KeyFileFailures(); got != step.failures {
			t.Errorf("%s: KeyFileFailures = %d, want %d", step.name, got, step.failures)
		}
	}
	// A file that disappears keeps the keys too, counted and logged once.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("after the file was removed: %v", err)
		}
	}
	if got := v.KeyFileFailures(); got != 5 {
		t.Errorf("after the file was removed: KeyFileFailures = %d, want 5", got)
	}
	if n := strings.Count(logs.String(), `"level":"ERROR"`); n != 5 {
		t.Errorf("%d error log lines, want one per unusable file (5):\n%s", n, logs.String())
	}
}

// TestJWKSFileEmptyAtStart: a gateway may start with an emptied key set
// (a revocation survives a restart); it refuses every token.
func TestJWKSFileEmptyAtStart(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	path := authtest.WriteFile(t, t.TempDir(), "jwks.json", []byte(`{"keys":[]}`))
	v, err := auth.NewTokenVerifier(context.Background(), auth.TokenConfig{Issuer: testIssuer, Audience: testAudience, JWKSFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), iss.Token(t, "alice")); err == nil {
		t.Fatal("a token passed an empty key set")
	}
}

// encOnly is the issuer's key set with its key marked for encryption.
func encOnly(t *testing.T, iss *authtest.Issuer) []byte {
	t.Helper()
	var set map[string][]map[string]any
	if err := json.Unmarshal(iss.JWKS(t), &set); err != nil {
		t.Fatal(err)
	}
	set["keys"][0]["use"] = "enc"
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// touch sets a file's modification time, so that a rewrite within the
// file system's timestamp granularity is still seen as a change.
func touch(t *testing.T, path string, mod time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// TestOIDCDiscovery verifies tokens against keys found by OpenID Connect
// discovery from an issuer served over TLS.
func TestOIDCDiscovery(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	iss := authtest.NewIssuer(t, srv.URL, testAudience)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                srv.URL,
			"jwks_uri":                              srv.URL + "/keys",
			"authorization_endpoint":                srv.URL + "/auth",
			"token_endpoint":                        srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(iss.JWKS(t))
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewTokenVerifier(ctx, auth.TokenConfig{Audience: testAudience, DiscoveryURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, iss.Token(t, "alice")); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	for name, raw := range badTokens(t, iss) {
		if _, err := v.Verify(ctx, raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := auth.NewTokenVerifier(ctx, auth.TokenConfig{Issuer: "https://other.example.com", Audience: testAudience, DiscoveryURL: srv.URL, HTTPClient: srv.Client()}); err == nil {
		t.Error("an issuer other than the discovery URL was accepted")
	}
}
