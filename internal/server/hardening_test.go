package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
)

// TestCrossOriginWritesRefused: a page on another site cannot make a
// browser that holds an operator's client certificate reconnect a provider
// (a text/plain POST needs no CORS preflight); an allowed origin, a
// same-origin page and a non-browser client can, and reads stay open.
func TestCrossOriginWritesRefused(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const portal = "https://portal.example.test"
	g := startSecureGateway(t, p, append(p.mtlsFlags(), "--cors-allowed-origins="+portal)...)
	hc := g.httpClient(t, p.client(t, "operator-bot"))
	const reconnect = "/v1/vcenters/default/vasaProviders/vp-1:reconnect"
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		want   int
	}{
		{name: "cross-site POST", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, want: http.StatusForbidden},
		{name: "cross-site POST, Origin only", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, want: http.StatusForbidden},
		{name: "same-site but another origin", method: http.MethodPost, path: reconnect, header: []string{"Origin", "https://other.127.0.0.1.example", "Sec-Fetch-Site", "same-site"}, want: http.StatusForbidden},
		{name: "allowed origin", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "application/json", "Origin", portal, "Sec-Fetch-Site", "cross-site"}, want: http.StatusOK},
		{name: "same origin", method: http.MethodPost, path: reconnect, header: []string{"Sec-Fetch-Site", "same-origin"}, want: http.StatusOK},
		{name: "non-browser client", method: http.MethodPost, path: reconnect, want: http.StatusOK},
		{name: "cross-site read", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders/vp-1", header: []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.sim.Sim.Calls("VasaProviderReconnect_Task")
			r, err := g.restCall(t, hc, tt.method, tt.path, "{}", tt.header...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != http.StatusForbidden {
				if r.code != tt.want {
					t.Fatalf("HTTP %d %s, want %d", r.code, r.body, tt.want)
				}
				return
			}
			checkRESTRefusal(t, r, http.StatusForbidden, "CROSS_ORIGIN_REFUSED")
			if st := restStatus(t, r.body); st.Code() != 7 { // PERMISSION_DENIED
				t.Errorf("code %v, want PERMISSION_DENIED", st.Code())
			}
			if n := g.sim.Sim.Calls("VasaProviderReconnect_Task"); n != before {
				t.Errorf("the refused request reached vCenter (%d reconnects, before %d)", n, before)
			}
		})
	}
}

// TestEmptiedKeySetRevokes: over gRPC and REST, a token of a key that is
// in use passes; a JWKS file that no longer parses keeps that key (and is
// counted in vasagw_jwks_file_failures_total); an emptied, well-formed key
// set revokes it.
func TestEmptiedKeySetRevokes(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	hc := g.httpClient(t, nil)
	token := p.issuer.Token(t, "ops")
	call := func() (restResult, error) {
		t.Helper()
		_, err := providers.ListVasaProviders(withToken(testContext(t), token), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
		r, rerr := g.restCall(t, hc, http.MethodGet, "/v1/vcenters/default/vasaProviders", "", "Authorization", "Bearer "+token)
		if rerr != nil {
			t.Fatal(rerr)
		}
		return r, err
	}
	rewrite := func(b []byte, step int) {
		t.Helper()
		if err := os.WriteFile(p.jwksFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(time.Duration(step) * time.Minute)
		if err := os.Chtimes(p.jwksFile, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := call(); err != nil || r.code != http.StatusOK {
		t.Fatalf("before: gRPC %v, REST %d", err, r.code)
	}

	rewrite([]byte(`{"keys":[{"kty":"EC"`), 1)
	if r, err := call(); err != nil || r.code != http.StatusOK {
		t.Fatalf("after a broken JWKS file: gRPC %v, REST %d %s", err, r.code, r.body)
	}
	if n := scrape(t, g.admin).value(t, "vasagw_jwks_file_failures_total"); n != 1 {
		t.Errorf("vasagw_jwks_file_failures_total = %v, want 1", n)
	}
	if !strings.Contains(g.logs.String(), `"level":"ERROR","msg":"the JWKS file changed but cannot be used`) {
		t.Errorf("no error log line for the broken JWKS file:\n%s", g.logs.String())
	}

	rewrite([]byte(`{"keys":[]}`), 2)
	r, err := call()
	checkGRPCRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonTokenInvalid)
	if n := scrape(t, g.admin).value(t, "vasagw_jwks_file_failures_total"); n != 1 {
		t.Errorf("vasagw_jwks_file_failures_total = %v after a good (empty) file, want still 1", n)
	}
}

// TestTokenWithoutExpiryIsInvalid: a token without exp never had an
// expiry: TOKEN_INVALID over gRPC and REST, not TOKEN_EXPIRED (which a
// portal would answer by refreshing a token that is not the problem).
func TestTokenWithoutExpiryIsInvalid(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	claims := p.issuer.Claims("ops")
	delete(claims, "exp")
	token := p.issuer.Sign(t, claims)
	_, err := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil)).ListVasaProviders(withToken(testContext(t), token), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
	checkGRPCRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	r, err := g.restCall(t, g.httpClient(t, nil), http.MethodGet, "/v1/vcenters/default/vasaProviders", "", "Authorization", "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonTokenInvalid)
}
