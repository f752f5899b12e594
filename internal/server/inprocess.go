package server

import (
	"context"
	"crypto/tls"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
)

// inProcessListener is the listener of the REST facade's in-process gRPC
// connection. Its connections have a type of their own, which the server
// credentials recognise: that type, not an address or a header, is what
// marks a call as coming from the REST facade.
type inProcessListener struct{ net.Listener }

// Accept returns the next in-process connection, marked.
func (l inProcessListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return inProcessConn{c}, nil
}

type inProcessConn struct{ net.Conn }

// inProcessAuthInfo is the AuthInfo of an in-process connection. Only
// [serverCredentials] makes one, and only for an [inProcessConn].
type inProcessAuthInfo struct{ credentials.CommonAuthInfo }

func (inProcessAuthInfo) AuthType() string { return "in-process" }

// serverCredentials are the gRPC server's transport credentials: TLS (or
// plaintext) on the network, nothing on the in-process connection, which
// never leaves the process and needs no handshake, no certificate of its
// own and no client certificate even under mutual TLS.
type serverCredentials struct {
	credentials.TransportCredentials
}

func newServerCredentials(tlsConfig *tls.Config) credentials.TransportCredentials {
	if tlsConfig == nil {
		return serverCredentials{insecure.NewCredentials()}
	}
	return serverCredentials{credentials.NewTLS(tlsConfig.Clone())}
}

// ServerHandshake skips the handshake for in-process connections.
func (c serverCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := conn.(inProcessConn); ok {
		return conn, inProcessAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

// Clone keeps the in-process exception in the clone.
func (c serverCredentials) Clone() credentials.TransportCredentials {
	return serverCredentials{c.TransportCredentials.Clone()}
}

// isInProcess reports whether a call came over the REST facade's
// in-process connection.
func isInProcess(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.AuthInfo.(inProcessAuthInfo)
	return ok
}
