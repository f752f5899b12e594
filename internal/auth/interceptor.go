package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// InterceptorOptions configure an [Interceptor].
type InterceptorOptions struct {
	// Authenticator checks callers; nil makes the gateway open: every
	// caller is anonymous and holds every role.
	Authenticator *Authenticator
	// Methods maps each full gRPC method name ("/pkg.Service/Method") to
	// the role it needs. A method in neither Methods nor Public is refused
	// to everyone when an Authenticator is set (fail closed).
	Methods map[string]Role
	// Public lists full method names or service prefixes ending in "/"
	// ("/grpc.health.v1.Health/") that anyone may call without
	// credentials.
	Public []string
	// Forwarded reports whether a call came over the in-process connection
	// of the REST facade. Such a call is authenticated by the sealed result
	// in its [ForwardedMetadataKey] metadata alone: the REST facade saw the
	// caller's credentials, the in-process connection did not.
	Forwarded func(ctx context.Context) bool
	// Sealer opens forwarded results; required with Forwarded.
	Sealer *Sealer
	// Logger receives refusals (never credentials).
	Logger *slog.Logger
}

// Interceptor authenticates each gRPC call, authorizes it for the role its
// method needs, and puts the [Caller] in its context.
type Interceptor struct {
	opts InterceptorOptions
}

// NewInterceptor returns an Interceptor.
func NewInterceptor(opts InterceptorOptions) (*Interceptor, error) {
	if opts.Forwarded != nil && opts.Sealer == nil {
		return nil, errors.New("auth interceptor: Forwarded needs a Sealer")
	}
	for m, r := range opts.Methods {
		if !r.valid() {
			return nil, errors.New("auth interceptor: method " + m + " needs unknown role " + string(r))
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Interceptor{opts: opts}, nil
}

// Unary returns the interceptor for unary methods.
func (i *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := i.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the interceptor for streaming methods.
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := i.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

// contextStream is a stream with the caller in its context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// authorize returns ctx with the caller, or the refusal.
func (i *Interceptor) authorize(ctx context.Context, method string) (context.Context, error) {
	if i.opts.Authenticator == nil || i.public(method) {
		return NewContext(ctx, anonymous()), nil
	}
	caller, err := i.authenticate(ctx)
	if err != nil {
		i.opts.Logger.InfoContext(ctx, "refused an unauthenticated call", "method", method, "error", err)
		return ctx, err
	}
	role, ok := i.opts.Methods[method]
	if !ok {
		i.opts.Logger.WarnContext(ctx, "refused a call to a method without a role in the policy table", "method", method, "caller", caller.String())
		return ctx, methodNotAuthorized(method)
	}
	if !caller.Has(role) {
		i.opts.Logger.InfoContext(ctx, "refused a call: missing role", "method", method, "caller", caller.String(), "role", string(role))
		return ctx, missingRole(role, method)
	}
	return NewContext(ctx, caller), nil
}

func (i *Interceptor) public(method string) bool {
	for _, p := range i.opts.Public {
		if method == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(method, p)) {
			return true
		}
	}
	return false
}

// authenticate finds the caller of a call: from the sealed result when it
// came through the REST facade, else from its own credentials.
func (i *Interceptor) authenticate(ctx context.Context) (*Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if i.opts.Forwarded != nil && i.opts.Forwarded(ctx) {
		v := md.Get(ForwardedMetadataKey)
		if len(v) != 1 {
			return nil, unauthenticated(ReasonUnauthenticated, "authentication failed")
		}
		return i.opts.Sealer.Open(v[0])
	}
	creds := Credentials{Authorization: md.Get("authorization")}
	if p, ok := peer.FromContext(ctx); ok {
		if tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			creds.VerifiedChains = tlsInfo.State.VerifiedChains
		}
	}
	return i.opts.Authenticator.Authenticate(ctx, creds)
}
