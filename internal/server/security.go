package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/config"
)

// defaultReadHeaderTimeout bounds how long a REST client may take to send
// its request headers (Slowloris).
const defaultReadHeaderTimeout = 10 * time.Second

// maxGRPCHeaderBytes bounds a gRPC request's metadata, as the REST
// server's MaxHeaderBytes bounds HTTP headers (with room for the sealed
// caller the REST facade adds).
const maxGRPCHeaderBytes = 256 << 10

// grpcConnectionTimeout bounds a gRPC client's TLS and HTTP/2 handshake.
const grpcConnectionTimeout = 10 * time.Second

// methodRoles is the authorization table: the role each API method needs,
// after vSphere's privileges for the same operations. A method missing
// here is refused to everyone once callers authenticate.
func methodRoles() map[string]auth.Role {
	return map[string]auth.Role{
		vasagwv1.VasaProviderService_ListVasaProviders_FullMethodName:          auth.RoleViewer,   // StorageViews.View
		vasagwv1.VasaProviderService_GetVasaProvider_FullMethodName:            auth.RoleViewer,   // StorageViews.View
		vasagwv1.VasaProviderService_ReconnectProvider_FullMethodName:          auth.RoleOperator, // StorageViews.ConfigureService
		vasagwv1.VasaProviderService_WatchVasaProviders_FullMethodName:         auth.RoleViewer,   // StorageViews.View
		vasagwv1.VasaProviderService_RegisterProvider_FullMethodName:           auth.RoleOperator, // StorageViews.ConfigureService
		vasagwv1.VasaProviderService_UnregisterProvider_FullMethodName:         auth.RoleOperator, // StorageViews.ConfigureService
		vasagwv1.VasaProviderService_SyncProvider_FullMethodName:               auth.RoleOperator, // StorageViews.View upstream; a write here
		vasagwv1.VasaProviderService_RefreshProviderCertificate_FullMethodName: auth.RoleOperator, // StorageViews.ConfigureService
		vasagwv1.VasaProviderService_RecoverProvider_FullMethodName:            auth.RoleOperator, // StorageViews.ConfigureService
		vasagwv1.TaskService_GetTask_FullMethodName:                            auth.RoleViewer,   // StorageViews.View
		vasagwv1.TaskService_WatchTask_FullMethodName:                          auth.RoleViewer,   // StorageViews.View
		vasagwv1.VCenterService_ListVCenters_FullMethodName:                    auth.RoleViewer,   // the gateway's own configuration, no secret
		vasagwv1.VCenterService_GetVCenter_FullMethodName:                      auth.RoleViewer,   // the gateway's own configuration, no secret
	}
}

// publicMethods need no credentials: health checks (load balancers and
// probes have none), and server reflection, which describes only the
// public API that the proto files and OpenAPI document already publish.
var publicMethods = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// security is the gateway's caller-facing protection, built from
// [config.Security]: TLS, authentication and authorization, and limits.
type security struct {
	tlsConfig   *tls.Config // nil: plaintext
	authn       *auth.Authenticator
	sealer      *auth.Sealer
	interceptor *auth.Interceptor
	limits      *callerLimits
	readHeader  time.Duration
	// keyFileFailures counts unusable changes of --jwks-file; nil without
	// one.
	keyFileFailures func() int64
}

// newSecurity builds the protection cfg asks for. ctx bounds the life of
// OpenID Connect key fetches.
func newSecurity(ctx context.Context, cfg config.Config, o options, log *slog.Logger) (*security, error) {
	sc := cfg.Security
	if errs := sc.Validate(cfg.RealVCenters()); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	caps := streamCaps{perCaller: sc.MaxStreamsPerCaller, perAnonymousIP: cfg.MaxStreamsPerAnonymousIP, public: cfg.MaxPublicStreams}
	s := &security{limits: newCallerLimits(caps, sc.ReconnectRate, log), readHeader: o.readHeaderTimeout}
	if s.readHeader <= 0 {
		s.readHeader = defaultReadHeaderTimeout
	}
	var err error
	if sc.TLSCertFile != "" {
		if s.tlsConfig, err = newTLSConfig(sc, log); err != nil {
			return nil, err
		}
	}
	if s.sealer, err = auth.NewSealer(); err != nil {
		return nil, err
	}
	if sc.CallerAuthentication() {
		var tokens *auth.TokenVerifier
		if s.authn, tokens, err = newAuthenticator(ctx, sc, log); err != nil {
			return nil, err
		}
		if tokens != nil && sc.JWKSFile != "" {
			s.keyFileFailures = tokens.KeyFileFailures
		}
	}
	s.interceptor, err = auth.NewInterceptor(auth.InterceptorOptions{
		Authenticator: s.authn,
		Methods:       methodRoles(),
		Public:        publicMethods,
		Forwarded:     isInProcess,
		Sealer:        s.sealer,
		Logger:        log,
	})
	if err != nil {
		return nil, err
	}
	switch {
	case s.authn != nil && s.tlsConfig == nil && sc.Tokens():
		log.Warn("bearer tokens are accepted over plaintext: terminate TLS in front of the gateway or set --tls-cert-file")
	case s.authn == nil && cfg.RealVCenters():
		log.Warn("--insecure-allow-unauthenticated: callers are not authenticated; anyone who can reach the gateway may reconnect storage providers")
	case s.authn == nil:
		log.Info("callers are not authenticated (embedded simulator)")
	}
	return s, nil
}

// newAuthenticator returns the caller authentication sc asks for, and its
// token verifier (nil without bearer tokens).
func newAuthenticator(ctx context.Context, sc config.Security, log *slog.Logger) (*auth.Authenticator, *auth.TokenVerifier, error) {
	policy, err := auth.LoadPolicy(sc.AuthPolicyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--auth-policy-file: %w", err)
	}
	opts := auth.AuthenticatorOptions{Policy: policy, Certificates: sc.ClientCAFile != "", Logger: log}
	if sc.Tokens() {
		opts.Tokens, err = auth.NewTokenVerifier(ctx, auth.TokenConfig{
			Issuer:       sc.JWTIssuer,
			Audience:     sc.JWTAudience,
			Algorithms:   sc.JWTAlgorithms,
			JWKSFile:     sc.JWKSFile,
			DiscoveryURL: sc.OIDCIssuerURL,
			Logger:       log,
		})
		if err != nil {
			flagName := "--jwks-file"
			if sc.OIDCIssuerURL != "" {
				flagName = "--oidc-issuer-url"
			}
			return nil, nil, fmt.Errorf("%s: %w", flagName, err)
		}
	}
	a, err := auth.NewAuthenticator(opts)
	return a, opts.Tokens, err
}

// grpcCredentials returns the gRPC server's transport credentials: TLS,
// or plaintext. (The REST side's in-process channel has no transport; its
// calls are marked by the channel itself, see [isInProcess].)
func (s *security) grpcCredentials() grpc.ServerOption {
	if s.tlsConfig == nil {
		return grpc.Creds(insecure.NewCredentials())
	}
	return grpc.Creds(credentials.NewTLS(s.tlsConfig.Clone()))
}

// unaryInterceptors authenticate and authorize, then apply the rate limit.
func (s *security) unaryInterceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{s.interceptor.Unary(), s.limits.unary()}
}

// streamInterceptors authenticate and authorize, then cap streams.
func (s *security) streamInterceptors() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{s.interceptor.Stream(), s.limits.stream()}
}

// restAuthKey carries a REST request's authentication outcome from
// [security.authenticateREST] to the in-process gRPC client interceptors.
type restAuthKey struct{}

type restAuth struct {
	caller *auth.Caller
	err    error
}

// authenticateREST authenticates REST callers.
//
// Why here and how the result travels: only the HTTP server sees a REST
// caller's client certificate; the gRPC call that grpc-gateway makes for it
// runs over the in-process channel, whose peer is the gateway itself.
// So the HTTP layer authenticates (certificate and bearer token alike,
// with the same Authenticator the gRPC server uses) and does not refuse:
// it hands the outcome, caller or refusal, to the gRPC server, whose
// interceptor refuses or authorizes exactly as for a gRPC caller. Errors
// are then rendered by grpc-gateway's error handler inside the CORS
// wrapper, so a browser portal can read a 401 and refresh its token.
//
// The outcome rides in metadata sealed with a per-process random HMAC key
// ([auth.Sealer]), and the gRPC server trusts it only on a call of the
// in-process channel (the channel marks those, see [isInProcess]); the
// channel also drops any value of that key before adding its own
// ([security.seal]). A REST caller can smuggle metadata through
// grpc-gateway's Grpc-Metadata- headers and a gRPC caller can send any
// metadata it likes, but neither can produce a valid seal, and the seal
// is not even read on a network connection.
func (s *security) authenticateREST(next http.Handler) http.Handler {
	if s.authn == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		creds := auth.Credentials{Authorization: r.Header.Values("Authorization")}
		if r.TLS != nil {
			creds.VerifiedChains = r.TLS.VerifiedChains
		}
		caller, err := s.authn.Authenticate(r.Context(), creds)
		ctx := context.WithValue(r.Context(), restAuthKey{}, restAuth{caller: caller, err: err})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientAddrMetadataKey carries a REST caller's network address over the
// in-process connection, for the stream cap of anonymous callers, which
// counts by address. The gRPC server reads it only on that connection, and
// [security.seal] drops any value a caller smuggled in before adding the
// real one.
const clientAddrMetadataKey = "x-vasagw-client-addr"

// restClientAddrKey carries a REST request's remote address from
// [withClientAddr] to the in-process gRPC client interceptors.
type restClientAddrKey struct{}

// withClientAddr remembers each REST request's remote address for [seal].
func withClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), restClientAddrKey{}, r.RemoteAddr)))
	})
}

// seal replaces any forwarded-identity metadata in ctx with the sealed
// outcome of the REST caller's authentication, or with nothing, which
// the gRPC server refuses; and any forwarded address with the REST
// caller's own.
func (s *security) seal(ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Delete(auth.ForwardedMetadataKey)
	md.Delete(clientAddrMetadataKey)
	if addr, ok := ctx.Value(restClientAddrKey{}).(string); ok {
		md.Set(clientAddrMetadataKey, addr)
	}
	if ra, ok := ctx.Value(restAuthKey{}).(restAuth); ok {
		if v, err := s.sealer.Seal(ra.caller, ra.err); err == nil {
			md.Set(auth.ForwardedMetadataKey, v)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}
