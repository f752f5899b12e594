package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// Policy maps caller identities to roles. It is read from a YAML (or
// JSON, which is YAML too) file:
//
//	groupsClaim: groups   # the token claim listing the caller's groups
//	roles:
//	  operator:
//	    subjects: [svc-storage-automation]      # token sub
//	    groups: [storage-admins]                # values of groupsClaim
//	    certificates:
//	      commonNames: [reconnect-bot]
//	      dnsNames: [ops.example.com]
//	      uris: [spiffe://example.org/ns/storage/sa/operator]
//	  viewer:
//	    groups: [storage-viewers]
//
// A caller holds every role one of whose entries matches it (exactly, case
// sensitive), and the roles those imply: an operator is also a viewer.
// Unknown keys and roles are errors, so a typo cannot silently grant or
// withhold access.
type Policy struct {
	// GroupsClaim is the token claim holding the caller's groups, a string
	// or a list of strings; "groups" when empty.
	GroupsClaim string `yaml:"groupsClaim"`
	// Roles maps a role to the identities that hold it.
	Roles map[Role]Grant `yaml:"roles"`
}

// Grant lists the identities that hold a role.
type Grant struct {
	// Subjects are token sub claims.
	Subjects []string `yaml:"subjects"`
	// Groups are values of the token's groups claim.
	Groups []string `yaml:"groups"`
	// Certificates match client certificates.
	Certificates CertificateMatch `yaml:"certificates"`
}

// CertificateMatch matches a verified client certificate by any of its
// names.
type CertificateMatch struct {
	CommonNames []string `yaml:"commonNames"`
	DNSNames    []string `yaml:"dnsNames"`
	URIs        []string `yaml:"uris"`
}

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses a policy document, rejecting unknown keys and roles.
func ParsePolicy(b []byte) (*Policy, error) {
	p := &Policy{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty policy")
		}
		return nil, err
	}
	if p.GroupsClaim == "" {
		p.GroupsClaim = "groups"
	}
	for r := range p.Roles {
		if !r.valid() {
			return nil, fmt.Errorf("unknown role %q: roles are %s and %s", r, RoleViewer, RoleOperator)
		}
	}
	return p, nil
}

// rolesOf returns the roles c holds under p, implied roles included, in
// a stable order.
func (p *Policy) rolesOf(c *Caller) []Role {
	var roles []Role
	for _, r := range []Role{RoleOperator, RoleViewer} {
		g, ok := p.Roles[r]
		if !ok || !g.matches(c) {
			continue
		}
		for _, ir := range r.implies() {
			if !slices.Contains(roles, ir) {
				roles = append(roles, ir)
			}
		}
	}
	return roles
}

func (g Grant) matches(c *Caller) bool {
	switch c.Kind {
	case KindToken:
		if slices.Contains(g.Subjects, c.Subject) {
			return true
		}
		for _, grp := range c.Groups {
			if slices.Contains(g.Groups, grp) {
				return true
			}
		}
	case KindCertificate:
		m := g.Certificates
		if c.Subject != "" && slices.Contains(m.CommonNames, c.Subject) {
			return true
		}
		for _, n := range c.DNSNames {
			if slices.Contains(m.DNSNames, n) {
				return true
			}
		}
		for _, u := range c.URIs {
			if slices.Contains(m.URIs, u) {
				return true
			}
		}
	}
	return false
}
