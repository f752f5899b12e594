package auth

import (
	"context"
	"slices"
)

// Role is a set of permissions a [Policy] grants a caller.
type Role string

const (
	// RoleViewer may list and read providers and read and watch tasks, as
	// vSphere's StorageViews.View privilege allows.
	RoleViewer Role = "viewer"
	// RoleOperator may also reconnect providers, as vSphere's
	// StorageViews.ConfigureService privilege allows. It implies
	// [RoleViewer].
	RoleOperator Role = "operator"
)

// implies lists, for each role, the roles it includes.
func (r Role) implies() []Role {
	switch r {
	case RoleOperator:
		return []Role{RoleOperator, RoleViewer}
	case RoleViewer:
		return []Role{RoleViewer}
	}
	return nil
}

// valid reports whether r is a role the gateway knows.
func (r Role) valid() bool { return r == RoleViewer || r == RoleOperator }

// Kind says how a [Caller] proved who it is.
type Kind string

const (
	// KindToken is a caller that presented a verified bearer token.
	KindToken Kind = "token"
	// KindCertificate is a caller that presented a client certificate the
	// TLS handshake verified.
	KindCertificate Kind = "certificate"
	// KindAnonymous is a caller of a gateway that authenticates no one (the
	// embedded simulator, or --insecure-allow-unauthenticated), or of a
	// method open to all, such as health checks.
	KindAnonymous Kind = "anonymous"
	// KindVSphere is a caller that logged in to vCenter as itself (the
	// VI/JSON facade's SessionManager Login) and calls in that session:
	// vCenter applies the user's own privileges, so it holds every role of
	// the gateway.
	KindVSphere Kind = "vsphere"
	// KindInternal is the gateway itself acting on its own behalf (an
	// automatic reconnect); its Subject names the component, e.g.
	// "vasagw/auto-reconnect". No request can claim it.
	KindInternal Kind = "internal"
)

// Caller is who made a call, as far as the gateway could establish it, and
// the roles it holds. It is what the audit log names and what per-caller
// limits count by.
type Caller struct {
	Kind Kind `json:"kind"`
	// Subject is the token's sub claim, or the certificate's subject common
	// name.
	Subject string `json:"sub,omitempty"`
	// Issuer is the token's iss claim.
	Issuer string `json:"iss,omitempty"`
	// Groups are the values of the token's groups claim (see
	// [Policy.GroupsClaim]).
	Groups []string `json:"groups,omitempty"`
	// DNSNames and URIs are the certificate's subject alternative names.
	DNSNames []string `json:"dns,omitempty"`
	URIs     []string `json:"uris,omitempty"`
	// Roles are the roles the policy grants, each implied role included.
	Roles []Role `json:"roles,omitempty"`
}

// anonymous returns the caller of a gateway that authenticates no one: it
// holds every role.
func anonymous() *Caller {
	return &Caller{Kind: KindAnonymous, Roles: []Role{RoleOperator, RoleViewer}}
}

// Has reports whether the caller holds role r.
func (c *Caller) Has(r Role) bool {
	return c != nil && slices.Contains(c.Roles, r)
}

// String names the caller in logs and is the key per-caller limits count
// by: "token:" + sub, "certificate:" + the first URI SAN, else the first DNS
// SAN, else "CN=" + common name, "vsphere:" + user name, or "anonymous". Token subjects and
// certificate names live in separate namespaces, so one cannot pose as the
// other.
func (c *Caller) String() string {
	if c == nil {
		return string(KindAnonymous)
	}
	switch c.Kind {
	case KindToken:
		return "token:" + c.Subject
	case KindCertificate:
		switch {
		case len(c.URIs) > 0:
			return "certificate:" + c.URIs[0]
		case len(c.DNSNames) > 0:
			return "certificate:" + c.DNSNames[0]
		default:
			return "certificate:CN=" + c.Subject
		}
	case KindVSphere:
		return "vsphere:" + c.Subject
	case KindInternal:
		return c.Subject
	}
	return string(KindAnonymous)
}

// VSphereUser returns the caller of a call made in vSphere user userName's
// own vCenter session.
func VSphereUser(userName string) *Caller {
	return &Caller{Kind: KindVSphere, Subject: userName, Roles: []Role{RoleOperator, RoleViewer}}
}

type callerKey struct{}

// NewContext returns a context that carries c, for [CallerFrom].
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the [Interceptor] put in a call's context.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}
