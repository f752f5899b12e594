package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/auth/authtest"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
)

const (
	testIssuer   = "https://idp.example.com"
	testAudience = "vasagw"
)

// testPolicy grants roles to token subjects and groups and to client
// certificate common names.
const testPolicy = `
roles:
  operator:
    subjects: [ops, ops2]
    certificates:
      commonNames: [operator-bot]
  viewer:
    groups: [viewers]
    certificates:
      commonNames: [viewer-bot]
`

// pki is the credentials of a secured gateway's tests: a server
// certificate for 127.0.0.1, a client CA, a token issuer and a policy, as
// files.
type pki struct {
	dir          string
	serverCA     *authtest.CA
	clientCA     *authtest.CA
	issuer       *authtest.Issuer
	certFile     string
	keyFile      string
	clientCAFile string
	jwksFile     string
	policyFile   string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.serverCA = authtest.NewCA(t, "server CA")
	p.clientCA = authtest.NewCA(t, "client CA")
	p.issuer = authtest.NewIssuer(t, testIssuer, testAudience)
	p.writeServerCert(t)
	p.clientCAFile = authtest.WriteFile(t, p.dir, "client-ca.pem", p.clientCA.PEM)
	p.jwksFile = p.issuer.WriteJWKS(t, p.dir)
	p.policyFile = authtest.WriteFile(t, p.dir, "policy.yaml", []byte(testPolicy))
	return p
}

// writeServerCert writes a fresh server certificate and returns it.
func (p *pki) writeServerCert(t *testing.T) *authtest.Leaf {
	t.Helper()
	leaf := p.serverCA.Issue(t, authtest.CertOptions{CommonName: "vasagw", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	p.certFile = authtest.WriteFile(t, p.dir, "tls.crt", leaf.CertPEM)
	p.keyFile = authtest.WriteFile(t, p.dir, "tls.key", leaf.KeyPEM)
	return leaf
}

func (p *pki) tokenFlags() []string {
	return []string{"--jwks-file=" + p.jwksFile, "--jwt-issuer=" + testIssuer, "--jwt-audience=" + testAudience, "--auth-policy-file=" + p.policyFile}
}

func (p *pki) mtlsFlags() []string {
	return []string{"--client-ca-file=" + p.clientCAFile, "--auth-policy-file=" + p.policyFile}
}

// client returns a client certificate signed by the trusted client CA.
func (p *pki) client(t *testing.T, cn string) *tls.Certificate {
	t.Helper()
	return &p.clientCA.Issue(t, authtest.CertOptions{CommonName: cn}).TLS
}

// secureGateway is a gateway in front of a simulator, serving TLS.
type secureGateway struct {
	*gateway
	pki      *pki
	grpcAddr string
	httpAddr string
}

// startSecureGateway runs the gateway with TLS from p and extra flags.
func startSecureGateway(t *testing.T, p *pki, flags ...string) *secureGateway {
	t.Helper()
	return startSecureGatewayConfig(t, p, func(*config.Config) {}, flags...)
}

func startSecureGatewayConfig(t *testing.T, p *pki, edit func(*config.Config), flags ...string) *secureGateway {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.Sim.SetSpeed(8)
	args := append([]string{
		"--grpc-addr=127.0.0.1:0",
		"--http-addr=127.0.0.1:0",
		"--vcenter-url=" + sim.URL.String(),
		"--vcenter-username=" + sim.Username,
		"--vcenter-ca-file=" + sim.CAFile,
		"--task-poll-interval=100ms",
		"--log-level=debug",
		"--tls-cert-file=" + p.certFile,
		"--tls-key-file=" + p.keyFile,
	}, flags...)
	cfg, err := config.Load(args, mapLookup(map[string]string{"VASAGW_VCENTER_PASSWORD": sim.Password}))
	if err != nil {
		t.Fatal(err)
	}
	edit(&cfg)
	g := &gateway{sim: sim, logs: &syncBuffer{}}
	startRun(t, cfg, g)
	return &secureGateway{
		gateway:  g,
		pki:      p,
		grpcAddr: g.conn.Target(),
		httpAddr: strings.TrimPrefix(g.base, "http://"),
	}
}

// tlsConfig is a client's TLS configuration trusting the server CA, with
// an optional client certificate.
func (g *secureGateway) tlsConfig(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: g.pki.serverCA.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Present the certificate whatever CAs the server asks for: Go's
		// client would otherwise withhold one the server cannot verify.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c
}

// grpcClients dials the gRPC listener over TLS.
func (g *secureGateway) grpcConn(t *testing.T, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(g.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(g.tlsConfig(cert))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// httpClient returns a REST client over TLS.
func (g *secureGateway) httpClient(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: g.tlsConfig(cert), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// restCall makes one REST call; err is a transport error (a refused TLS
// handshake).
func (g *secureGateway) restCall(t *testing.T, c *http.Client, method, path, body string, header ...string) (restResult, error) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(testContext(t), method, "https://"+g.httpAddr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return restResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return restResult{}, err
	}
	return restResult{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

// withToken adds a bearer token to a gRPC call's context.
func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// checkGRPCRefusal checks a gRPC error's code and ErrorInfo reason and
// returns the ErrorInfo.
func checkGRPCRefusal(t *testing.T, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %v (%v), want %v", st.Code(), err, code)
	}
	ei := errorInfo(t, st)
	if ei.GetReason() != reason || ei.GetDomain() != "vasagw.io" {
		t.Fatalf("ErrorInfo %v, want reason %s in vasagw.io", ei, reason)
	}
	return ei
}

// checkRESTRefusal checks a REST error's HTTP status and ErrorInfo reason.
// A refused stream's body is grpc-gateway's {"error": Status} chunk.
func checkRESTRefusal(t *testing.T, r restResult, httpCode int, reason string) *errdetails.ErrorInfo {
	t.Helper()
	if r.code != httpCode {
		t.Fatalf("HTTP %d %s, want %d", r.code, r.body, httpCode)
	}
	body := r.body
	var chunk struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &chunk) == nil && chunk.Error != nil {
		body = chunk.Error
	}
	ei := errorInfo(t, restStatus(t, body))
	if ei.GetReason() != reason || ei.GetDomain() != "vasagw.io" {
		t.Fatalf("ErrorInfo %v, want reason %s in vasagw.io", ei, reason)
	}
	return ei
}

// TestBearerTokens sends good and bad tokens over gRPC and REST: only the
// good one passes, every bad one is UNAUTHENTICATED with a reason and
// without the token in the answer.
func TestBearerTokens(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	hc := g.httpClient(t, nil)
	iss := p.issuer
	with := func(k string, v any) string {
		c := iss.Claims("viewer-1")
		c["groups"] = []string{"viewers"}
		c[k] = v
		return iss.Sign(t, c)
	}
	other := authtest.NewIssuer(t, testIssuer, testAudience)
	tests := []struct {
		name   string
		header string // the whole Authorization header; empty sends none
		reason string // empty: accepted
	}{
		{name: "valid", header: "Bearer " + iss.Token(t, "viewer-1", "viewers")},
		{name: "expired", header: "Bearer " + with("exp", time.Now().Add(-time.Minute).Unix()), reason: auth.ReasonTokenExpired},
		{name: "not yet valid", header: "Bearer " + with("nbf", time.Now().Add(time.Hour).Unix()), reason: auth.ReasonTokenInvalid},
		{name: "wrong issuer", header: "Bearer " + with("iss", "https://evil.example.com"), reason: auth.ReasonTokenInvalid},
		{name: "wrong audience", header: "Bearer " + with("aud", "another-service"), reason: auth.ReasonTokenInvalid},
		{name: "bad signature", header: "Bearer " + other.Token(t, "viewer-1", "viewers"), reason: auth.ReasonTokenInvalid},
		{name: "alg none", header: "Bearer " + authtest.SignNone(t, iss.Claims("viewer-1")), reason: auth.ReasonTokenInvalid},
		{name: "HMAC with the public key", header: "Bearer " + iss.SignHMACWithPublicKey(t, iss.Claims("viewer-1")), reason: auth.ReasonTokenInvalid},
		{name: "missing", header: "", reason: auth.ReasonUnauthenticated},
		{name: "malformed", header: "Bearer not-a-jwt", reason: auth.ReasonTokenInvalid},
		{name: "not bearer", header: "Basic dXNlcjpwYXNz", reason: auth.ReasonUnauthenticated},
		{name: "bearer without token", header: "Bearer", reason: auth.ReasonUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			if tt.header != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.header)
			}
			_, err := providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
			var header []string
			if tt.header != "" {
				header = []string{"Authorization", tt.header}
			}
			r, rerr := g.restCall(t, hc, http.MethodGet, "/v1/vcenters/default/vasaProviders", "", header...)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("gRPC: %v", err)
				}
				if r.code != http.StatusOK {
					t.Fatalf("REST: %d %s", r.code, r.body)
				}
				return
			}
			checkGRPCRefusal(t, err, codes.Unauthenticated, tt.reason)
			checkRESTRefusal(t, r, http.StatusUnauthorized, tt.reason)
			if tok := strings.TrimPrefix(tt.header, "Bearer "); len(tok) > 8 && (strings.Contains(string(r.body), tok) || strings.Contains(err.Error(), tok)) {
				t.Error("the refusal echoes the token")
			}
		})
	}
}

// TestMutualTLS makes real handshakes with trusted, untrusted and expired
// client certificates, alone and beside bearer tokens.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	untrusted := authtest.NewCA(t, "someone else's CA")
	certs := map[string]*tls.Certificate{
		"trusted":   p.client(t, "operator-bot"),
		"untrusted": &untrusted.Issue(t, authtest.CertOptions{CommonName: "operator-bot"}).TLS,
		"expired":   &p.clientCA.Issue(t, authtest.CertOptions{CommonName: "operator-bot", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}).TLS,
		"none":      nil,
	}
	token := p.issuer.Token(t, "viewer-1", "viewers")
	tests := []struct {
		name     string
		flags    []string
		cert     string
		token    string
		wantOK   bool
		wantCode codes.Code // when the handshake passes but the call does not
	}{
		{name: "mTLS trusted", flags: p.mtlsFlags(), cert: "trusted", wantOK: true},
		{name: "mTLS untrusted", flags: p.mtlsFlags(), cert: "untrusted"},
		{name: "mTLS expired", flags: p.mtlsFlags(), cert: "expired"},
		{name: "mTLS none", flags: p.mtlsFlags(), cert: "none"},
		{name: "mixed trusted", flags: append(p.mtlsFlags(), p.tokenFlags()[:3]...), cert: "trusted", wantOK: true},
		{name: "mixed token only", flags: append(p.mtlsFlags(), p.tokenFlags()[:3]...), cert: "none", token: token, wantOK: true},
		{name: "mixed untrusted with token", flags: append(p.mtlsFlags(), p.tokenFlags()[:3]...), cert: "untrusted", token: token},
		{name: "mixed expired with token", flags: append(p.mtlsFlags(), p.tokenFlags()[:3]...), cert: "expired", token: token},
		{name: "mixed nothing", flags: append(p.mtlsFlags(), p.tokenFlags()[:3]...), cert: "none", wantCode: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startSecureGateway(t, p, tt.flags...)
			cert := certs[tt.cert]
			providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, cert))
			_, err := providers.GetVasaProvider(withToken(testContext(t), tt.token), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
			var header []string
			if tt.token != "" {
				header = []string{"Authorization", "Bearer " + tt.token}
			}
			r, rerr := g.restCall(t, g.httpClient(t, cert), http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", "", header...)
			switch {
			case tt.wantOK:
				if err != nil {
					t.Errorf("gRPC: %v", err)
				}
				if rerr != nil || r.code != http.StatusOK {
					t.Errorf("REST: %v %d %s", rerr, r.code, r.body)
				}
			case tt.wantCode != codes.OK:
				checkGRPCRefusal(t, err, tt.wantCode, auth.ReasonUnauthenticated)
				if rerr != nil {
					t.Fatal(rerr)
				}
				checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonUnauthenticated)
			default:
				// The server refuses the handshake: no call gets through.
				if status.Code(err) != codes.Unavailable {
					t.Errorf("gRPC: %v, want the handshake refused (UNAVAILABLE)", err)
				}
				if rerr == nil {
					t.Errorf("REST: HTTP %d, want the handshake refused", r.code)
				}
			}
		})
	}
}

// TestRolesPerRPC calls every RPC over gRPC and REST as an operator, a
// viewer and an authenticated caller without a role.
func TestRolesPerRPC(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	conn := g.grpcConn(t, nil)
	providers := vasagwv1.NewVasaProviderServiceClient(conn)
	tasks := vasagwv1.NewTaskServiceClient(conn)
	vcenters := vasagwv1.NewVCenterServiceClient(conn)
	hc := g.httpClient(t, nil)
	ctx := testContext(t)

	tokens := map[auth.Role]string{
		auth.RoleOperator: p.issuer.Token(t, "ops"),
		auth.RoleViewer:   p.issuer.Token(t, "viewer-1", "viewers"),
		"":                p.issuer.Token(t, "stranger", "other-group"),
	}
	first, err := providers.ReconnectProvider(withToken(ctx, tokens[auth.RoleOperator]), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
	if err != nil {
		t.Fatal(err)
	}
	task := first.GetName()
	restTask := strings.ReplaceAll(task, ":", "%3A")

	// Rows with mayFail call the RPC on a provider that does not exist (or
	// with a request the RPC refuses), so that an allowed call changes
	// nothing: for them, "allowed" means the call got past authorization.
	const missing = "vcenters/default/vasaProviders/vp-missing"
	rpcs := []struct {
		method  string
		role    auth.Role
		grpc    func(ctx context.Context) error
		rest    [3]string // method, path, body
		mayFail bool
	}{
		{vasagwv1.VasaProviderService_ListVasaProviders_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			_, err := providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
			return err
		}, [3]string{http.MethodGet, "/v1/vcenters/default/vasaProviders", ""}, false},
		{vasagwv1.VasaProviderService_GetVasaProvider_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			_, err := providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
			return err
		}, [3]string{http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", ""}, false},
		{vasagwv1.VasaProviderService_ReconnectProvider_FullMethodName, auth.RoleOperator, func(ctx context.Context) error {
			_, err := providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
			return err
		}, [3]string{http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", "{}"}, false},
		{vasagwv1.TaskService_GetTask_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			_, err := tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: task})
			return err
		}, [3]string{http.MethodGet, "/v1/" + restTask, ""}, false},
		{vasagwv1.TaskService_WatchTask_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			_, err := watchGRPC(ctx, tasks, task)
			return err
		}, [3]string{http.MethodGet, "/v1/" + restTask + ":watch", ""}, false},
		{vasagwv1.VasaProviderService_WatchVasaProviders_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			// An invalid filter ends the stream at once once authorized.
			stream, err := providers.WatchVasaProviders(ctx, &vasagwv1.WatchVasaProvidersRequest{Parent: "vcenters/default", Filter: "((("})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, [3]string{http.MethodGet, "/v1/vcenters/default/vasaProviders:watch?filter=%28%28%28", ""}, true},
		{vasagwv1.VasaProviderService_RegisterProvider_FullMethodName, auth.RoleOperator, func(ctx context.Context) error {
			_, err := providers.RegisterProvider(ctx, &vasagwv1.RegisterProviderRequest{Parent: "vcenters/default"})
			return err
		}, [3]string{http.MethodPost, "/v1/vcenters/default/vasaProviders", "{}"}, true},
		{vasagwv1.VasaProviderService_UnregisterProvider_FullMethodName, auth.RoleOperator, func(ctx context.Context) error {
			_, err := providers.UnregisterProvider(ctx, &vasagwv1.UnregisterProviderRequest{Name: missing})
			return err
		}, [3]string{http.MethodDelete, "/v1/" + missing, ""}, true},
		{vasagwv1.VasaProviderService_SyncProvider_FullMethodName, auth.RoleOperator, func(ctx context.Context) error {
			_, err := providers.SyncProvider(ctx, &vasagwv1.SyncProviderRequest{Name: missing})
			return err
		}, [3]string{http.MethodPost, "/v1/" + missing + ":sync", "{}"}, true},
		{vasagwv1.VasaProviderService_RefreshProviderCertificate_FullMethodName, auth.RoleOperator, func(ctx context.Context) error {
			_, err := providers.RefreshProviderCertificate(ctx, &vasagwv1.RefreshProviderCertificateRequest{Name: missing})
			return err
		}, [3]string{http.MethodPost, "/v1/" + missing + ":refreshCertificate", "{}"}, true},
		{vasagwv1.VasaProviderService_RecoverProvider_FullMethodName, auth.RoleOperator, func(ctx context.Context) error {
			_, err := providers.RecoverProvider(ctx, &vasagwv1.RecoverProviderRequest{Name: missing})
			return err
		}, [3]string{http.MethodPost, "/v1/" + missing + ":recover", "{}"}, true},
		{vasagwv1.VCenterService_ListVCenters_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			_, err := vcenters.ListVCenters(ctx, &vasagwv1.ListVCentersRequest{})
			return err
		}, [3]string{http.MethodGet, "/v1/vcenters", ""}, false},
		{vasagwv1.VCenterService_GetVCenter_FullMethodName, auth.RoleViewer, func(ctx context.Context) error {
			_, err := vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/default"})
			return err
		}, [3]string{http.MethodGet, "/v1/vcenters/default", ""}, false},
	}
	// Every API method is in the table, and the table is what is enforced.
	roles := methodRoles()
	covered := map[string]bool{}
	for _, rpc := range rpcs {
		if roles[rpc.method] != rpc.role {
			t.Errorf("%s needs %q in methodRoles, the test expects %q", rpc.method, roles[rpc.method], rpc.role)
		}
		covered[rpc.method] = true
	}
	for _, sd := range []grpc.ServiceDesc{vasagwv1.VasaProviderService_ServiceDesc, vasagwv1.TaskService_ServiceDesc, vasagwv1.VCenterService_ServiceDesc} {
		for _, m := range sd.Methods {
			if !covered["/"+sd.ServiceName+"/"+m.MethodName] {
				t.Errorf("method %s/%s has no role test", sd.ServiceName, m.MethodName)
			}
		}
		for _, s := range sd.Streams {
			if !covered["/"+sd.ServiceName+"/"+s.StreamName] {
				t.Errorf("stream %s/%s has no role test", sd.ServiceName, s.StreamName)
			}
		}
	}

	for _, rpc := range rpcs {
		for _, caller := range []auth.Role{auth.RoleOperator, auth.RoleViewer, ""} {
			allowed := caller == auth.RoleOperator || caller == rpc.role
			name := rpc.method[strings.LastIndex(rpc.method, "/")+1:] + "/" + string(caller)
			if caller == "" {
				name += "none"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tok := tokens[caller]
				err := rpc.grpc(withToken(testContext(t), tok))
				r, rerr := g.restCall(t, hc, rpc.rest[0], rpc.rest[1], rpc.rest[2], "Authorization", "Bearer "+tok)
				if rerr != nil {
					t.Fatal(rerr)
				}
				if allowed && rpc.mayFail {
					if c := status.Code(err); c == codes.PermissionDenied || c == codes.Unauthenticated {
						t.Errorf("gRPC: %v, want the call authorized", err)
					}
					if r.code == http.StatusForbidden || r.code == http.StatusUnauthorized {
						t.Errorf("REST: %d %s, want the call authorized", r.code, r.body)
					}
					return
				}
				if allowed {
					if err != nil {
						t.Errorf("gRPC: %v", err)
					}
					if r.code != http.StatusOK {
						t.Errorf("REST: %d %s", r.code, r.body)
					}
					return
				}
				ei := checkGRPCRefusal(t, err, codes.PermissionDenied, auth.ReasonMissingRole)
				if ei.GetMetadata()["role"] != string(rpc.role) {
					t.Errorf("gRPC ErrorInfo role %q, want %q", ei.GetMetadata()["role"], rpc.role)
				}
				ei = checkRESTRefusal(t, r, http.StatusForbidden, auth.ReasonMissingRole)
				if ei.GetMetadata()["role"] != string(rpc.role) {
					t.Errorf("REST ErrorInfo role %q, want %q", ei.GetMetadata()["role"], rpc.role)
				}
			})
		}
	}
}

// TestAuditNamesCaller checks that the audit line of a reconnect names the
// caller, from a token over gRPC and from a client certificate over REST.
func TestAuditNamesCaller(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, append(p.mtlsFlags(), p.tokenFlags()[:3]...)...)
	ctx := testContext(t)
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	if _, err := providers.ReconnectProvider(withToken(ctx, p.issuer.Token(t, "ops")), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"}); err != nil {
		t.Fatal(err)
	}
	r, err := g.restCall(t, g.httpClient(t, p.client(t, "operator-bot")), http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", "{}")
	if err != nil || r.code != http.StatusOK {
		t.Fatalf("REST reconnect: %v %d %s", err, r.code, r.body)
	}
	for _, want := range []string{`"caller":"token:ops"`, `"caller":"certificate:CN=operator-bot"`} {
		found := false
		for _, line := range strings.Split(g.logs.String(), "\n") {
			if strings.Contains(line, `"msg":"audit: reconnect provider"`) && strings.Contains(line, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no audit line with %s in\n%s", want, g.logs.String())
		}
	}
}

// TestForwardedIdentityCannotBeForged sends the metadata the REST facade
// uses to forward callers, from outside, over gRPC and smuggled through
// grpc-gateway's Grpc-Metadata- headers.
func TestForwardedIdentityCannotBeForged(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	ctx := testContext(t)
	sealer, err := auth.NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed seal, under a key the gateway does not have.
	forged, err := sealer.Seal(&auth.Caller{Kind: auth.KindToken, Subject: "ops", Roles: []auth.Role{auth.RoleOperator, auth.RoleViewer}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	_, err = providers.ListVasaProviders(metadata.AppendToOutgoingContext(ctx, auth.ForwardedMetadataKey, forged), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
	checkGRPCRefusal(t, err, codes.Unauthenticated, auth.ReasonUnauthenticated)

	hc := g.httpClient(t, nil)
	smuggle := "Grpc-Metadata-" + auth.ForwardedMetadataKey
	r, err := g.restCall(t, hc, http.MethodGet, "/v1/vcenters/default/vasaProviders", "", smuggle, forged)
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonUnauthenticated)
	// A viewer smuggling an operator's seal stays a viewer.
	viewer := "Bearer " + p.issuer.Token(t, "viewer-1", "viewers")
	r, err = g.restCall(t, hc, http.MethodGet, "/v1/vcenters/default/vasaProviders", "", smuggle, forged, "Authorization", viewer)
	if err != nil || r.code != http.StatusOK {
		t.Fatalf("viewer list: %v %d %s", err, r.code, r.body)
	}
	r, err = g.restCall(t, hc, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", "{}", smuggle, forged, "Authorization", viewer)
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusForbidden, auth.ReasonMissingRole)
}

// TestHealthAndReflectionAreOpen calls health and reflection without
// credentials on a gateway that requires them.
func TestHealthAndReflectionAreOpen(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	ctx := testContext(t)
	conn := g.grpcConn(t, nil)
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health: %v", err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if len(resp.GetListServicesResponse().GetService()) == 0 {
		t.Errorf("reflection lists no services: %v", resp)
	}
	_ = stream.CloseSend()
}

// TestStreamCapPerCaller holds one watch open and checks that the same
// caller cannot open a second while another caller can.
func TestStreamCapPerCaller(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, append(p.tokenFlags(), "--max-streams-per-caller=1")...)
	g.sim.Sim.SetSpeed(0.01) // vp-2's reconnect now runs for minutes: the watch stays open
	ctx := testContext(t)
	conn := g.grpcConn(t, nil)
	providers := vasagwv1.NewVasaProviderServiceClient(conn)
	tasks := vasagwv1.NewTaskServiceClient(conn)
	operator := p.issuer.Token(t, "ops")
	viewer := p.issuer.Token(t, "viewer-1", "viewers")
	task, err := providers.ReconnectProvider(withToken(ctx, operator), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-2"})
	if err != nil {
		t.Fatal(err)
	}
	open := func(token string) (vasagwv1.TaskService_WatchTaskClient, error) {
		s, err := tasks.WatchTask(withToken(ctx, token), &vasagwv1.WatchTaskRequest{Name: task.GetName()})
		if err != nil {
			return nil, err
		}
		_, err = s.Recv()
		return s, err
	}
	if _, err := open(viewer); err != nil {
		t.Fatalf("first watch: %v", err)
	}
	_, err = open(viewer)
	ei := checkGRPCRefusal(t, err, codes.ResourceExhausted, "TOO_MANY_STREAMS")
	if ei.GetMetadata()["limit"] != "1" {
		t.Errorf("limit %q", ei.GetMetadata()["limit"])
	}
	// The same caller over REST shares the cap.
	r, err := g.restCall(t, g.httpClient(t, nil), http.MethodGet, "/v1/"+strings.ReplaceAll(task.GetName(), ":", "%3A")+":watch", "", "Authorization", "Bearer "+viewer)
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusTooManyRequests, "TOO_MANY_STREAMS")
	// Another caller has a cap of its own.
	if _, err := open(operator); err != nil {
		t.Errorf("another caller's watch: %v", err)
	}
}

// TestReconnectRateLimitPerCaller exhausts one caller's reconnect budget.
func TestReconnectRateLimitPerCaller(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, append(p.tokenFlags(), "--reconnect-rate=2/h")...)
	ctx := testContext(t)
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	reconnect := func(token string) error {
		_, err := providers.ReconnectProvider(withToken(ctx, token), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
		return err
	}
	ops := p.issuer.Token(t, "ops")
	for i := range 2 {
		if err := reconnect(ops); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := reconnect(ops)
	ei := checkGRPCRefusal(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	if ei.GetMetadata()["limit"] != "2/h" {
		t.Errorf("limit %q", ei.GetMetadata()["limit"])
	}
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 || retry.GetRetryDelay().AsDuration() > time.Hour {
		t.Errorf("RetryInfo %v, want a delay in (0, 1h]", retry)
	}
	r, rerr := g.restCall(t, g.httpClient(t, nil), http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", "{}", "Authorization", "Bearer "+ops)
	if rerr != nil {
		t.Fatal(rerr)
	}
	checkRESTRefusal(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	// Reading is not limited, and another caller has a budget of its own.
	if _, err := providers.GetVasaProvider(withToken(ctx, ops), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"}); err != nil {
		t.Errorf("get after the limit: %v", err)
	}
	if err := reconnect(p.issuer.Token(t, "ops2")); err != nil {
		t.Errorf("another caller: %v", err)
	}
}

// TestTLSCertificateReload replaces the certificate files of a running
// gateway: the next handshakes on both listeners present the new one.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	first := p.writeServerCert(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	served := func(addr string, proto string) string {
		cfg := g.tlsConfig(nil)
		cfg.NextProtos = []string{proto}
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(testContext(t), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := served(g.grpcAddr, "h2"); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serial %s, want %s", got, first.Cert.SerialNumber)
	}
	second := p.writeServerCert(t)
	future := time.Now().Add(time.Minute) // a change within the file system's timestamp granularity still counts
	for _, f := range []string{p.certFile, p.keyFile} {
		if err := os.Chtimes(f, future, future); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{g.grpcAddr, g.httpAddr} {
		if got := served(addr, "h2"); got != second.Cert.SerialNumber.String() {
			t.Errorf("%s: serial %s after the reload, want %s", addr, got, second.Cert.SerialNumber)
		}
	}
	if !strings.Contains(g.logs.String(), "reloaded the TLS certificate") {
		t.Error("the reload was not logged")
	}
}

// TestStartupRefusal: a real vCenter without caller authentication is
// refused unless --insecure-allow-unauthenticated says otherwise.
func TestStartupRefusal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--vcenter-url=https://127.0.0.1:1/sdk", "--vcenter-username=u", "--vcenter-password-file=" + pw}
	_, err := config.Load(base, mapLookup(nil))
	if !errors.Is(err, config.ErrNoCallerAuthentication) {
		t.Fatalf("config.Load: %v, want the refusal", err)
	}
	cfg, err := config.Load(append(base, "--insecure-allow-unauthenticated"), mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	// Run itself refuses too, for a Config not made by config.Load.
	cfg.InsecureAllowUnauthenticated = false
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	if err := Run(testContext(t), cfg, LogOutput(io.Discard)); !errors.Is(err, config.ErrNoCallerAuthentication) {
		t.Errorf("Run: %v, want the refusal", err)
	}
	// The embedded simulator needs no authentication.
	if _, err := config.Load(nil, mapLookup(nil)); err != nil {
		t.Errorf("embedded simulator: %v", err)
	}
	// With the flag, the gateway starts and says what it risks.
	g := startGateway(t)
	// A served call means start-up, and its logging, is over.
	if _, err := g.providers.ListVasaProviders(testContext(t), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(g.logs.String(), "callers are not authenticated") {
		t.Errorf("no warning at start:\n%s", g.logs.String())
	}
}

// TestSecurityFlagValidation checks the combinations of security flags
// that make no sense fail at start, naming the flag.
func TestSecurityFlagValidation(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	tlsFlags := []string{"--tls-cert-file=" + p.certFile, "--tls-key-file=" + p.keyFile}
	tests := []struct {
		name  string
		flags []string
		want  string
	}{
		{name: "cert without key", flags: []string{"--tls-cert-file=" + p.certFile}, want: "--tls-cert-file and --tls-key-file"},
		{name: "client CA without TLS", flags: p.mtlsFlags(), want: "--client-ca-file"},
		{name: "tokens without audience", flags: []string{"--jwks-file=" + p.jwksFile, "--jwt-issuer=" + testIssuer, "--auth-policy-file=" + p.policyFile}, want: "--jwt-audience"},
		{name: "JWKS without issuer", flags: []string{"--jwks-file=" + p.jwksFile, "--jwt-audience=a", "--auth-policy-file=" + p.policyFile}, want: "--jwt-issuer"},
		{name: "two key sources", flags: append(p.tokenFlags(), "--oidc-issuer-url=https://idp.example.com"), want: "--jwks-file and --oidc-issuer-url"},
		{name: "plain http issuer", flags: []string{"--oidc-issuer-url=http://idp.example.com", "--jwt-audience=a", "--auth-policy-file=" + p.policyFile}, want: "--oidc-issuer-url"},
		{name: "alg none", flags: append(p.tokenFlags(), "--jwt-algorithms=none"), want: "--jwt-algorithms"},
		{name: "alg HS256", flags: append(p.tokenFlags(), "--jwt-algorithms=RS256,HS256"), want: "--jwt-algorithms"},
		{name: "no policy", flags: p.tokenFlags()[:3], want: "--auth-policy-file"},
		{name: "policy alone", flags: []string{"--auth-policy-file=" + p.policyFile}, want: "--auth-policy-file"},
		{name: "insecure with auth", flags: append(p.tokenFlags(), "--insecure-allow-unauthenticated"), want: "--insecure-allow-unauthenticated"},
		{name: "bad rate", flags: []string{"--reconnect-rate=fast"}, want: "reconnect-rate"},
		{name: "zero rate count", flags: []string{"--reconnect-rate=0/m"}, want: "reconnect-rate"},
		{name: "negative streams", flags: []string{"--max-streams-per-caller=-1"}, want: "--max-streams-per-caller"},
		{name: "missing file", flags: []string{tlsFlags[0], "--tls-key-file=" + p.dir + "/nope"}, want: "--tls-key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tt.flags, mapLookup(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	// The environment twins work for the new flags too.
	cfg, err := config.Load(nil, mapLookup(map[string]string{"VASAGW_RECONNECT_RATE": "5/30s", "VASAGW_MAX_STREAMS_PER_CALLER": "3", "VASAGW_JWT_ALGORITHMS": "ES256, EdDSA"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReconnectRate.String() != "5/30s" || cfg.MaxStreamsPerCaller != 3 || cfg.JWTAlgorithms.String() != "ES256,EdDSA" {
		t.Errorf("from the environment: rate %s, streams %d, algorithms %s", &cfg.ReconnectRate, cfg.MaxStreamsPerCaller, &cfg.JWTAlgorithms)
	}
	if _, err := config.Load(append(tlsFlags, p.tokenFlags()...), mapLookup(nil)); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
}

// TestSlowClientIsCutOff sends request headers a byte at a time: the
// server closes the connection once the header timeout passes, long
// before the client would finish.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0"}, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{}
	startRun(t, cfg, g, ReadHeaderTimeout(200*time.Millisecond))
	ctx := testContext(t)
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c) // returns when the server closes the connection
		closed <- b
	}()
	if _, err := io.WriteString(c, "GET /v1/vcenters/default/vasaProviders HTTP/1.1\r\nHost: vasagw\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for sent := 0; ; sent++ {
		select {
		case b := <-closed:
			if strings.HasPrefix(string(b), "HTTP/1.1 200") {
				t.Fatalf("the slow request was served: %s", b)
			}
			return
		case <-ctx.Done():
			t.Fatalf("the connection was still open after %d header bytes", sent)
		case <-tick.C:
			if _, err := c.Write([]byte("a")); err != nil {
				return // the server has closed it
			}
		}
	}
}

// TestOversizedRequests sends a body, a header block and a gRPC message
// over their limits.
func TestOversizedRequests(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	big := `{"requestId":"` + strings.Repeat("a", 2<<20) + `"}`
	// With a Content-Length, and chunked (no length known up front): 413
	// RESOURCE_EXHAUSTED naming the limit, not "not valid JSON".
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(big)
		if chunked {
			body = io.MultiReader(body) // hides the length from net/http
		}
		req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, g.base+"/v1/vcenters/default/vasaProviders/vp-1:reconnect", body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body (chunked %v): HTTP %d %s", chunked, resp.StatusCode, b)
			continue
		}
		st := restStatus(t, b)
		if ei := errorInfo(t, st); st.Code() != codes.ResourceExhausted || ei.GetReason() != "REQUEST_TOO_LARGE" ||
			ei.GetMetadata()["limitBytes"] != "1048576" || !strings.Contains(st.Message(), "1048576 bytes") {
			t.Errorf("oversized body (chunked %v): %v", chunked, st.Proto())
		}
	}
	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders", "", "X-Big", strings.Repeat("b", 128<<10))
	if r.code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: HTTP %d", r.code)
	}
	_, err := g.providers.ReconnectProvider(testContext(t), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", RequestId: strings.Repeat("a", 2<<20)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized gRPC message: %v", err)
	}
	if strings.Contains(g.logs.String(), "audit: reconnect provider") {
		t.Error("an oversized request reached the service")
	}
}

// TestStreamCountReleased checks that a finished stream gives its slot
// back, and that the limiter forgets nothing it still needs.
func TestStreamCountReleased(t *testing.T) {
	t.Parallel()
	l := newCallerLimits(streamCaps{perCaller: 1}, config.Rate{N: 1, Per: time.Hour}, slog.New(slog.DiscardHandler))
	ctx := auth.NewContext(context.Background(), &auth.Caller{Kind: auth.KindToken, Subject: "a"})
	info := &grpc.StreamServerInfo{FullMethod: vasagwv1.TaskService_WatchTask_FullMethodName}
	for i := range 3 {
		err := l.stream()(nil, fakeServerStream{ctx: ctx}, info, func(any, grpc.ServerStream) error {
			if n := l.openStreams("token:a"); n != 1 {
				t.Errorf("open streams inside the handler: %d", n)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if n := l.openStreams("token:a"); n != 0 {
		t.Errorf("open streams after the handlers: %d", n)
	}
	now := time.Now()
	if d := l.reserve("token:a", now); d != 0 {
		t.Fatalf("first reserve waits %v", d)
	}
	if d := l.reserve("token:a", now); d <= 0 {
		t.Fatal("second reserve within the hour passed")
	}
	if d := l.reserve("token:b", now); d != 0 {
		t.Fatalf("another caller waits %v", d)
	}
}

type fakeServerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeServerStream) Context() context.Context { return s.ctx }

// TestSSEWatchIsAuthorized watches a task as Server-Sent Events, which
// take their own path through the REST facade, as a viewer and as a caller
// without a role.
func TestSSEWatchIsAuthorized(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, p.tokenFlags()...)
	ctx := testContext(t)
	providers := vasagwv1.NewVasaProviderServiceClient(g.grpcConn(t, nil))
	task, err := providers.ReconnectProvider(withToken(ctx, p.issuer.Token(t, "ops")), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/" + strings.ReplaceAll(task.GetName(), ":", "%3A") + ":watch"
	hc := g.httpClient(t, nil)
	r, err := g.restCall(t, hc, http.MethodGet, path, "", "Accept", "text/event-stream", "Authorization", "Bearer "+p.issuer.Token(t, "stranger"))
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusForbidden, auth.ReasonMissingRole)
	r, err = g.restCall(t, hc, http.MethodGet, path, "", "Accept", "text/event-stream")
	if err != nil {
		t.Fatal(err)
	}
	checkRESTRefusal(t, r, http.StatusUnauthorized, auth.ReasonUnauthenticated)
	r, err = g.restCall(t, hc, http.MethodGet, path, "", "Accept", "text/event-stream", "Authorization", "Bearer "+p.issuer.Token(t, "viewer-1", "viewers"))
	if err != nil {
		t.Fatal(err)
	}
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" || !strings.Contains(string(r.body), "event: task") {
		t.Errorf("viewer: HTTP %d %s %s", r.code, r.header.Get("Content-Type"), r.body)
	}
}
