package auth

import (
	"crypto/x509"
)

// certificateCaller returns the identity in a client certificate the TLS
// handshake verified: its subject common name, DNS and URI subject
// alternative names (a SPIFFE ID is a URI SAN).
func certificateCaller(leaf *x509.Certificate) *Caller {
	c := &Caller{Kind: KindCertificate, Subject: leaf.Subject.CommonName, DNSNames: leaf.DNSNames}
	for _, u := range leaf.URIs {
		c.URIs = append(c.URIs, u.String())
	}
	return c
}
