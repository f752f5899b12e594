package auth_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/auth/authtest"
)

const (
	readMethod  = "/test.Service/Read"
	writeMethod = "/test.Service/Write"
)

type forwardedKey struct{}

func TestInterceptor(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, testIssuer, testAudience)
	policy, err := auth.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.AuthenticatorOptions{Tokens: newFileVerifier(t, iss), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := auth.NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	secured, err := auth.NewInterceptor(auth.InterceptorOptions{
		Authenticator: authn,
		Methods:       map[string]auth.Role{readMethod: auth.RoleViewer, writeMethod: auth.RoleOperator},
		Public:        []string{"/grpc.health.v1.Health/"},
		Forwarded:     func(ctx context.Context) bool { return ctx.Value(forwardedKey{}) != nil },
		Sealer:        sealer,
	})
	if err != nil {
		t.Fatal(err)
	}
	open, err := auth.NewInterceptor(auth.InterceptorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seal := func(c *auth.Caller) string {
		v, err := sealer.Seal(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	operator := &auth.Caller{Kind: auth.KindCertificate, Subject: "reconnect-bot", Roles: []auth.Role{auth.RoleOperator, auth.RoleViewer}}
	viewerToken := "Bearer " + iss.Sign(t, withClaim(iss.Claims("carol"), "roles", []string{"storage-viewers"}))

	tests := []struct {
		name        string
		interceptor *auth.Interceptor
		method      string
		md          []string
		forwarded   bool
		wantCaller  string
		wantCode    codes.Code
		wantReason  string
		wantRole    string
	}{
		{name: "open gateway", interceptor: open, method: writeMethod, wantCaller: "anonymous"},
		{name: "public method", interceptor: secured, method: "/grpc.health.v1.Health/Check", wantCaller: "anonymous"},
		{name: "viewer reads", interceptor: secured, method: readMethod, md: []string{"authorization", viewerToken}, wantCaller: "token:carol"},
		{name: "viewer writes", interceptor: secured, method: writeMethod, md: []string{"authorization", viewerToken}, wantCode: codes.PermissionDenied, wantReason: auth.ReasonMissingRole, wantRole: "operator"},
		{name: "no role reads", interceptor: secured, method: readMethod, md: []string{"authorization", "Bearer " + iss.Token(t, "nobody")}, wantCode: codes.PermissionDenied, wantReason: auth.ReasonMissingRole, wantRole: "viewer"},
		{name: "method without role", interceptor: secured, method: "/test.Service/New", md: []string{"authorization", viewerToken}, wantCode: codes.PermissionDenied, wantReason: auth.ReasonMethodNotAuthorized},
		{name: "no credentials", interceptor: secured, method: readMethod, wantCode: codes.Unauthenticated, wantReason: auth.ReasonUnauthenticated},
		{name: "forwarded caller", interceptor: secured, method: writeMethod, forwarded: true, md: []string{auth.ForwardedMetadataKey, seal(operator)}, wantCaller: "certificate:CN=reconnect-bot"},
		{name: "forwarded ignores its own token", interceptor: secured, method: readMethod, forwarded: true, md: []string{"authorization", viewerToken}, wantCode: codes.Unauthenticated, wantReason: auth.ReasonUnauthenticated},
		{name: "forwarded twice", interceptor: secured, method: readMethod, forwarded: true, md: []string{auth.ForwardedMetadataKey, seal(operator), auth.ForwardedMetadataKey, seal(operator)}, wantCode: codes.Unauthenticated, wantReason: auth.ReasonUnauthenticated},
		{name: "seal from outside is ignored", interceptor: secured, method: writeMethod, md: []string{auth.ForwardedMetadataKey, seal(operator), "authorization", viewerToken}, wantCode: codes.PermissionDenied, wantReason: auth.ReasonMissingRole, wantRole: "operator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(tt.md...))
			if tt.forwarded {
				ctx = context.WithValue(ctx, forwardedKey{}, true)
			}
			var got string
			handler := func(ctx context.Context, _ any) (any, error) {
				c, ok := auth.CallerFrom(ctx)
				if !ok {
					t.Error("no caller in the handler's context")
				}
				got = c.String()
				return "ok", nil
			}
			_, err := tt.interceptor.Unary()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, handler)
			if tt.wantCode != codes.OK {
				ei := checkRefusal(t, err, tt.wantCode, tt.wantReason)
				if ei.GetMetadata()["role"] != tt.wantRole {
					t.Errorf("ErrorInfo role %q, want %q", ei.GetMetadata()["role"], tt.wantRole)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantCaller {
				t.Errorf("caller %s, want %s", got, tt.wantCaller)
			}

			// The stream interceptor decides alike.
			var streamCaller string
			err = tt.interceptor.Stream()(nil, fakeStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: tt.method}, func(_ any, ss grpc.ServerStream) error {
				c, _ := auth.CallerFrom(ss.Context())
				streamCaller = c.String()
				return nil
			})
			if err != nil || streamCaller != tt.wantCaller {
				t.Errorf("stream: caller %s, error %v", streamCaller, err)
			}
		})
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }
