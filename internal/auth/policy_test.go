package auth_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/auth/authtest"
)

const testPolicy = `
groupsClaim: roles
roles:
  operator:
    subjects: [automation]
    groups: [storage-admins]
    certificates:
      commonNames: [reconnect-bot]
      uris: [spiffe://example.org/operator]
  viewer:
    groups: [storage-viewers]
    certificates:
      dnsNames: [dashboard.example.com]
`

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"empty":         "",
		"unknown role":  "roles: {admin: {subjects: [a]}}",
		"unknown key":   "roles: {viewer: {subject: [a]}}",
		"top level key": "groupClaim: groups",
		"not yaml":      "roles: [",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.ParsePolicy([]byte(doc)); err == nil {
				t.Fatal("no error")
			}
		})
	}
	// JSON is YAML too.
	if _, err := auth.ParsePolicy([]byte(`{"roles": {"viewer": {"subjects": ["a"]}}}`)); err != nil {
		t.Errorf("JSON policy: %v", err)
	}
}

// TestAuthenticatorRoles maps tokens and certificates through a policy.
func TestAuthenticatorRoles(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	policy, err := auth.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthenticator(auth.AuthenticatorOptions{Tokens: newFileVerifier(t, iss), Certificates: true, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	ca := authtest.NewCA(t, "clients")
	chain := func(o authtest.CertOptions) [][]*x509.Certificate {
		return [][]*x509.Certificate{{ca.Issue(t, o).Cert, ca.Cert}}
	}
	roleClaim := iss.Claims("carol")
	roleClaim["roles"] = "storage-viewers" // a single string counts as a list of one
	tests := []struct {
		name       string
		creds      auth.Credentials
		wantCaller string
		wantRoles  []auth.Role
		wantReason string
	}{
		{name: "token subject", creds: bearer(iss.Token(t, "automation")), wantCaller: "token:automation", wantRoles: []auth.Role{auth.RoleOperator, auth.RoleViewer}},
		{name: "token group list", creds: bearer(iss.Sign(t, withClaim(iss.Claims("bob"), "roles", []string{"x", "storage-admins"}))), wantCaller: "token:bob", wantRoles: []auth.Role{auth.RoleOperator, auth.RoleViewer}},
		{name: "token group string", creds: bearer(iss.Sign(t, roleClaim)), wantCaller: "token:carol", wantRoles: []auth.Role{auth.RoleViewer}},
		{name: "token other claim ignored", creds: bearer(iss.Token(t, "dave", "storage-admins")), wantCaller: "token:dave"},
		{name: "certificate common name", creds: auth.Credentials{VerifiedChains: chain(authtest.CertOptions{CommonName: "reconnect-bot"})}, wantCaller: "certificate:CN=reconnect-bot", wantRoles: []auth.Role{auth.RoleOperator, auth.RoleViewer}},
		{name: "certificate URI", creds: auth.Credentials{VerifiedChains: chain(authtest.CertOptions{CommonName: "x", URIs: []string{"spiffe://example.org/operator"}})}, wantCaller: "certificate:spiffe://example.org/operator", wantRoles: []auth.Role{auth.RoleOperator, auth.RoleViewer}},
		{name: "certificate DNS", creds: auth.Credentials{VerifiedChains: chain(authtest.CertOptions{DNSNames: []string{"dashboard.example.com"}})}, wantCaller: "certificate:dashboard.example.com", wantRoles: []auth.Role{auth.RoleViewer}},
		{name: "certificate unknown", creds: auth.Credentials{VerifiedChains: chain(authtest.CertOptions{CommonName: "automation"})}, wantCaller: "certificate:CN=automation"},
		{name: "bad token beats good certificate", creds: auth.Credentials{Authorization: []string{"Bearer x.y.z"}, VerifiedChains: chain(authtest.CertOptions{CommonName: "reconnect-bot"})}, wantReason: auth.ReasonTokenInvalid},
		{name: "expired", creds: bearer(iss.Sign(t, withClaim(iss.Claims("automation"), "exp", 1))), wantReason: auth.ReasonTokenExpired},
		{name: "no exp is invalid, not expired", creds: bearer(iss.Sign(t, withoutClaim(iss.Claims("automation"), "exp"))), wantReason: auth.ReasonTokenInvalid},
		{name: "exp null is invalid, not expired", creds: bearer(iss.Sign(t, withClaim(iss.Claims("automation"), "exp", nil))), wantReason: auth.ReasonTokenInvalid},
		{name: "nothing", wantReason: auth.ReasonUnauthenticated},
		{name: "basic", creds: auth.Credentials{Authorization: []string{"Basic dXNlcjpwYXNz"}}, wantReason: auth.ReasonUnauthenticated},
		{name: "two headers", creds: auth.Credentials{Authorization: []string{"Bearer " + iss.Token(t, "automation"), "Bearer " + iss.Token(t, "automation")}}, wantReason: auth.ReasonUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := a.Authenticate(context.Background(), tt.creds)
			if tt.wantReason != "" {
				checkRefusal(t, err, codes.Unauthenticated, tt.wantReason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tt.wantCaller {
				t.Errorf("caller %s, want %s", c, tt.wantCaller)
			}
			if diff := cmp.Diff(tt.wantRoles, c.Roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
		})
	}
}

func bearer(tok string) auth.Credentials {
	return auth.Credentials{Authorization: []string{"Bearer " + tok}}
}

func withClaim(c map[string]any, k string, v any) map[string]any {
	c[k] = v
	return c
}

func withoutClaim(c map[string]any, k string) map[string]any {
	delete(c, k)
	return c
}

// checkRefusal checks an error is a status with the code and an ErrorInfo
// of domain vasagw.io with the reason, and returns the ErrorInfo.
func checkRefusal(t *testing.T, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	var ae *auth.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *auth.Error", err)
	}
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %v, want %v (%v)", st.Code(), code, err)
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			if ei.GetDomain() != auth.Domain || ei.GetReason() != reason {
				t.Fatalf("ErrorInfo %v, want domain %s reason %s", ei, auth.Domain, reason)
			}
			return ei
		}
	}
	t.Fatalf("status %v has no ErrorInfo", st)
	return nil
}
