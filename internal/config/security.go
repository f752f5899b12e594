package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vasagw/vasagw/internal/auth"
)

// Security is the part of [Config] that decides who may call the
// gateway: TLS for both listeners, client certificates (mTLS), bearer
// tokens, the role policy, and per-caller limits.
type Security struct {
	TLSCertFile    string
	TLSKeyFile     string
	ClientCAFile   string
	JWKSFile       string
	OIDCIssuerURL  string
	JWTIssuer      string
	JWTAudience    string
	JWTAlgorithms  List
	AuthPolicyFile string
	// InsecureAllowUnauthenticated lets a gateway in front of a real
	// vCenter start without caller authentication.
	InsecureAllowUnauthenticated bool
	// MaxStreamsPerCaller caps an authenticated caller's open streams; 0
	// means no cap.
	MaxStreamsPerCaller int
	// ReconnectRate limits each caller's ReconnectProvider calls; zero
	// means no limit.
	ReconnectRate Rate
}

// addFlags registers the security flags, with their defaults.
func (c *Security) addFlags(fs *flag.FlagSet) {
	c.JWTAlgorithms = List(auth.DefaultAlgorithms)
	c.MaxStreamsPerCaller = 32
	c.ReconnectRate = Rate{N: 10, Per: time.Minute}
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", "", "PEM certificate (chain) served on the gRPC and REST listeners; re-read when it changes (empty: plaintext)")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", "", "PEM bundle of CAs whose client certificates authenticate callers (mutual TLS)")
	fs.StringVar(&c.JWKSFile, "jwks-file", "", "JSON Web Key Set file of the keys that sign bearer tokens; re-read when it changes")
	fs.StringVar(&c.OIDCIssuerURL, "oidc-issuer-url", "", "OpenID Connect issuer whose discovery document names the token signing keys")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "iss a bearer token must carry (default: --oidc-issuer-url)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "aud a bearer token must carry")
	fs.Var(&c.JWTAlgorithms, "jwt-algorithms", "comma-separated JWS algorithms accepted: "+strings.Join(auth.AllowedAlgorithms, ", "))
	fs.StringVar(&c.AuthPolicyFile, "auth-policy-file", "", "YAML or JSON file mapping token claims and certificate names to the roles viewer and operator")
	fs.BoolVar(&c.InsecureAllowUnauthenticated, "insecure-allow-unauthenticated", false, "serve a real vCenter without caller authentication: anyone who reaches the gateway may reconnect providers (unsafe)")
	fs.IntVar(&c.MaxStreamsPerCaller, "max-streams-per-caller", c.MaxStreamsPerCaller, "most streams one authenticated caller may hold open (0: no cap; anonymous callers: --max-streams-per-anonymous-ip)")
	fs.Var(&c.ReconnectRate, "reconnect-rate", "ReconnectProvider calls allowed per caller, as N/s, N/m, N/h or N/<duration> (0: no limit)")
}

// CallerAuthentication reports whether callers must authenticate.
func (c Security) CallerAuthentication() bool {
	return c.ClientCAFile != "" || c.Tokens()
}

// Tokens reports whether callers may authenticate with bearer tokens.
func (c Security) Tokens() bool { return c.JWKSFile != "" || c.OIDCIssuerURL != "" }

// ErrNoCallerAuthentication refuses to put an open gateway in front of a
// real vCenter.
var ErrNoCallerAuthentication = errors.New("--vcenter-url: refusing to serve a real vCenter without caller authentication: " +
	"configure --client-ca-file and/or --jwks-file or --oidc-issuer-url with --auth-policy-file, " +
	"or pass --insecure-allow-unauthenticated to accept anyone who can reach the gateway")

// Validate checks the security flags; realVCenter is true with
// --vcenter-url.
func (c Security) Validate(realVCenter bool) []error {
	var errs []error
	exists := func(flagName, path string) {
		if path == "" {
			return
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %v", flagName, err))
		}
	}
	exists("tls-cert-file", c.TLSCertFile)
	exists("tls-key-file", c.TLSKeyFile)
	exists("client-ca-file", c.ClientCAFile)
	exists("jwks-file", c.JWKSFile)
	exists("auth-policy-file", c.AuthPolicyFile)
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file: give both or neither"))
	}
	if c.ClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("--client-ca-file: needs --tls-cert-file and --tls-key-file (client certificates are checked in the TLS handshake)"))
	}
	if c.JWKSFile != "" && c.OIDCIssuerURL != "" {
		errs = append(errs, errors.New("--jwks-file and --oidc-issuer-url: give one source of token keys, not both"))
	}
	if c.OIDCIssuerURL != "" {
		if u, err := url.Parse(c.OIDCIssuerURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("--oidc-issuer-url %q: must be an https:// URL", c.OIDCIssuerURL))
		}
		if c.JWTIssuer != "" && c.JWTIssuer != c.OIDCIssuerURL {
			errs = append(errs, errors.New("--jwt-issuer: must equal --oidc-issuer-url, which OpenID Connect makes the issuer (or be left out)"))
		}
	}
	if c.Tokens() {
		if c.JWTAudience == "" {
			errs = append(errs, errors.New("--jwt-audience: required with bearer tokens (a token for another service must not pass)"))
		}
		if c.JWKSFile != "" && c.JWTIssuer == "" {
			errs = append(errs, errors.New("--jwt-issuer: required with --jwks-file"))
		}
	} else if c.JWTIssuer != "" || c.JWTAudience != "" {
		errs = append(errs, errors.New("--jwt-issuer and --jwt-audience: need --jwks-file or --oidc-issuer-url"))
	}
	for _, a := range c.JWTAlgorithms {
		if !slices.Contains(auth.AllowedAlgorithms, a) {
			errs = append(errs, fmt.Errorf("--jwt-algorithms: %q is not allowed; choose from %s (never none or HMAC)", a, strings.Join(auth.AllowedAlgorithms, ", ")))
		}
	}
	if len(c.JWTAlgorithms) == 0 {
		errs = append(errs, errors.New("--jwt-algorithms: name at least one algorithm"))
	}
	switch {
	case c.CallerAuthentication() && c.AuthPolicyFile == "":
		errs = append(errs, errors.New("--auth-policy-file: required with caller authentication (without it no caller holds a role)"))
	case !c.CallerAuthentication() && c.AuthPolicyFile != "":
		errs = append(errs, errors.New("--auth-policy-file: needs --client-ca-file, --jwks-file or --oidc-issuer-url"))
	}
	if c.InsecureAllowUnauthenticated && c.CallerAuthentication() {
		errs = append(errs, errors.New("--insecure-allow-unauthenticated: cannot be combined with caller authentication"))
	}
	if realVCenter && !c.CallerAuthentication() && !c.InsecureAllowUnauthenticated {
		errs = append(errs, ErrNoCallerAuthentication)
	}
	if c.MaxStreamsPerCaller < 0 {
		errs = append(errs, fmt.Errorf("--max-streams-per-caller %d: must not be negative", c.MaxStreamsPerCaller))
	}
	return errs
}
