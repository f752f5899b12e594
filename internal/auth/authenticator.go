package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
)

// Credentials are what a call carries to prove who made it.
type Credentials struct {
	// Authorization holds the values of the Authorization header (HTTP) or
	// metadata key (gRPC).
	Authorization []string
	// VerifiedChains are the client certificate chains the TLS handshake
	// verified against the client CA; the first chain's leaf is the caller.
	VerifiedChains [][]*x509.Certificate
}

// AuthenticatorOptions configure an [Authenticator].
type AuthenticatorOptions struct {
	// Tokens verifies bearer tokens; nil accepts none.
	Tokens *TokenVerifier
	// Certificates accepts verified client certificates.
	Certificates bool
	// Policy grants roles; required.
	Policy *Policy
	// Logger receives why credentials were refused (never the credentials).
	Logger *slog.Logger
}

// Authenticator turns [Credentials] into a [Caller] with roles. A bearer
// token, when present, decides: a bad token is refused even if a good
// client certificate came with it, so that a portal forwarding a user's
// token over its own mTLS connection acts as the user, never as itself.
// Without a token, a verified client certificate decides.
type Authenticator struct {
	opts AuthenticatorOptions
}

// NewAuthenticator returns an Authenticator; it needs a policy and at
// least one kind of credentials.
func NewAuthenticator(opts AuthenticatorOptions) (*Authenticator, error) {
	if opts.Policy == nil {
		return nil, errors.New("authentication needs a policy")
	}
	if opts.Tokens == nil && !opts.Certificates {
		return nil, errors.New("authentication needs bearer tokens or client certificates")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{opts: opts}, nil
}

// Authenticate returns the caller that creds prove, with its roles, or an
// [*Error] with code UNAUTHENTICATED.
func (a *Authenticator) Authenticate(ctx context.Context, creds Credentials) (*Caller, error) {
	if len(creds.Authorization) > 0 {
		return a.token(ctx, creds.Authorization)
	}
	if a.opts.Certificates && len(creds.VerifiedChains) > 0 && len(creds.VerifiedChains[0]) > 0 {
		c := certificateCaller(creds.VerifiedChains[0][0])
		c.Roles = a.opts.Policy.rolesOf(c)
		return c, nil
	}
	return nil, unauthenticated(ReasonUnauthenticated, a.missingMessage())
}

func (a *Authenticator) missingMessage() string {
	switch {
	case a.opts.Tokens != nil && a.opts.Certificates:
		return "credentials required: a bearer token or a client certificate"
	case a.opts.Tokens != nil:
		return "credentials required: a bearer token"
	}
	return "credentials required: a client certificate"
}

func (a *Authenticator) token(ctx context.Context, values []string) (*Caller, error) {
	if a.opts.Tokens == nil {
		return nil, unauthenticated(ReasonUnauthenticated, "bearer tokens are not accepted here; present a client certificate")
	}
	if len(values) != 1 {
		return nil, unauthenticated(ReasonUnauthenticated, "send exactly one Authorization header")
	}
	raw, err := ParseAuthorization(values[0])
	if err != nil {
		return nil, unauthenticated(ReasonUnauthenticated, "the Authorization header must be \"Bearer <token>\"")
	}
	tok, err := a.opts.Tokens.Verify(ctx, raw)
	if err != nil {
		a.opts.Logger.InfoContext(ctx, "refused a bearer token", "error", err)
		if isExpired(err) {
			return nil, unauthenticated(ReasonTokenExpired, "the bearer token has expired")
		}
		return nil, unauthenticated(ReasonTokenInvalid, "the bearer token is not valid")
	}
	c := &Caller{Kind: KindToken, Subject: tok.Subject, Issuer: tok.Issuer, Groups: tok.Strings(a.opts.Policy.GroupsClaim)}
	c.Roles = a.opts.Policy.rolesOf(c)
	return c, nil
}
