package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// AllowedAlgorithms are the JWS algorithms a [TokenConfig] may allow: the
// asymmetric ones only. "none" and the HMAC family (HS256...) are never
// accepted, so a token cannot pass by naming no signature or by using a
// published public key as an HMAC secret.
var AllowedAlgorithms = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

// DefaultAlgorithms are allowed when a [TokenConfig] names none: RS256,
// which OpenID Connect makes mandatory, and ES256.
var DefaultAlgorithms = []string{oidc.RS256, oidc.ES256}

// TokenConfig configures a [TokenVerifier]. Exactly one of JWKSFile and
// DiscoveryURL says where the signing keys come from.
type TokenConfig struct {
	// Issuer is the iss a token must carry. With DiscoveryURL it defaults
	// to that URL, which OpenID Connect makes the issuer.
	Issuer string
	// Audience must be one of the token's aud values.
	Audience string
	// Algorithms are the JWS algorithms accepted, a subset of
	// [AllowedAlgorithms]; empty means [DefaultAlgorithms].
	Algorithms []string
	// JWKSFile is a JSON Web Key Set file holding the public keys. It is
	// read again when it changes, so keys rotate without a restart.
	JWKSFile string
	// DiscoveryURL is an OpenID Connect issuer URL: its
	// /.well-known/openid-configuration names the JWKS, fetched and cached
	// by go-oidc, and fetched again when a token names an unknown key.
	DiscoveryURL string
	// HTTPClient, when set, is used for discovery and key fetches.
	HTTPClient *http.Client
	// Logger receives warnings, such as a JWKS file that no longer parses.
	Logger *slog.Logger
	// Now, when set, replaces the clock (tests).
	Now func() time.Time
}

// TokenVerifier checks bearer tokens: signature by a key of the configured
// set with an allowed algorithm, issuer, audience, expiry (exp is required)
// and not-before (go-oidc allows five minutes of clock skew on nbf). The
// checks are go-oidc's IDTokenVerifier, which works for any JWT with these
// claims, OpenID Connect ID token or RFC 9068 access token alike.
type TokenVerifier struct {
	verifier *oidc.IDTokenVerifier
	file     *fileKeySet // nil with OpenID Connect discovery
}

// Token is a verified token's identity: issuer, subject and its claims.
type Token struct {
	Issuer  string
	Subject string
	claims  map[string]json.RawMessage
}

// Strings returns a claim that holds a string or a list of strings (a
// groups or roles claim), or nil when it holds neither.
func (t *Token) Strings(claim string) []string {
	raw, ok := t.claims[claim]
	if !ok {
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil && one != "" {
		return []string{one}
	}
	return nil
}

// NewTokenVerifier returns a verifier for cfg. With a DiscoveryURL it
// fetches the discovery document now; ctx must then stay alive as long as
// the verifier, as later key fetches run under it.
func NewTokenVerifier(ctx context.Context, cfg TokenConfig) (*TokenVerifier, error) {
	algs, err := checkAlgorithms(cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("token verification needs an audience")
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	oc := &oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: algs, Now: cfg.Now}
	switch {
	case cfg.JWKSFile != "" && cfg.DiscoveryURL != "":
		return nil, errors.New("token keys come from a JWKS file or from OpenID Connect discovery, not both")
	case cfg.JWKSFile != "":
		if cfg.Issuer == "" {
			return nil, errors.New("token verification with a JWKS file needs an issuer")
		}
		keys, err := newFileKeySet(cfg.JWKSFile, cfg.Logger)
		if err != nil {
			return nil, err
		}
		return &TokenVerifier{verifier: oidc.NewVerifier(cfg.Issuer, keys, oc), file: keys}, nil
	case cfg.DiscoveryURL != "":
		if cfg.Issuer != "" && cfg.Issuer != cfg.DiscoveryURL {
			return nil, fmt.Errorf("issuer %q differs from the discovery URL %q, which OpenID Connect makes the issuer", cfg.Issuer, cfg.DiscoveryURL)
		}
		p, err := oidc.NewProvider(ctx, cfg.DiscoveryURL)
		if err != nil {
			return nil, fmt.Errorf("OpenID Connect discovery: %w", err)
		}
		return &TokenVerifier{verifier: p.VerifierContext(ctx, oc)}, nil
	}
	return nil, errors.New("token verification needs a JWKS file or an OpenID Connect discovery URL")
}

// checkAlgorithms returns the algorithms to allow, refusing any outside
// [AllowedAlgorithms].
func checkAlgorithms(algs []string) ([]string, error) {
	if len(algs) == 0 {
		return slices.Clone(DefaultAlgorithms), nil
	}
	for _, a := range algs {
		if !slices.Contains(AllowedAlgorithms, a) {
			return nil, fmt.Errorf("JWT algorithm %q is not allowed; choose from %s", a, strings.Join(AllowedAlgorithms, ", "))
		}
	}
	return slices.Clone(algs), nil
}

// Verify checks a raw token and returns its identity. The error says why
// a token failed for the logs; it never contains the token.
func (v *TokenVerifier) Verify(ctx context.Context, raw string) (*Token, error) {
	idt, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		// go-oidc reports a token without exp as expired at the zero time;
		// it never had an expiry, so it is invalid, not expired.
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) && exp.Expiry.IsZero() {
			return nil, errNoExpiry
		}
		return nil, err
	}
	if idt.Subject == "" {
		return nil, errors.New("token has no sub claim")
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	return &Token{Issuer: idt.Issuer, Subject: idt.Subject, claims: claims}, nil
}

// KeyFileFailures counts the changes of the JWKS file that could not be
// used (unreadable, or not a key set), each of which kept the previous keys
// in use; it is 0 with OpenID Connect discovery. Metrics read it.
func (v *TokenVerifier) KeyFileFailures() int64 {
	if v.file == nil {
		return 0
	}
	return v.file.failures.Load()
}

// errNoExpiry refuses a token without an exp claim: the gateway accepts
// no token that is valid forever.
var errNoExpiry = errors.New("token has no exp claim")

// isExpired reports whether a [TokenVerifier.Verify] error is an expired
// token.
func isExpired(err error) bool {
	var exp *oidc.TokenExpiredError
	return errors.As(err, &exp)
}
