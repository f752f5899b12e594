package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// dial opens the gRPC connection described by c. It does not block: the
// first call reports an unreachable gateway as UNAVAILABLE.
func dial(c connection) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithUserAgent("vasactl")}
	if c.plaintext {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, localf("--ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, localf("--ca-file %s: no PEM certificate in it", c.caFile)
			}
			cfg.RootCAs = pool
		}
		if c.certFile != "" {
			pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
			if err != nil {
				return nil, localf("--cert-file/--key-file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, localf("--token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, localf("--token-file %s is empty", c.tokenFile)
		}
		if c.plaintext && !loopback(c.addr) {
			return nil, usagef("--token-file with --plaintext would send the token in clear to %s; use TLS (a loopback address is allowed)", c.addr)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: tok, secure: !c.plaintext}))
	}
	conn, err := grpc.NewClient(c.addr, opts...)
	if err != nil {
		return nil, usagef("--addr %s: %w", c.addr, err)
	}
	return conn, nil
}

// bearer sends the token as `authorization: Bearer ...` on every call. Its
// String is redacted, so printing it never shows the token.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only for --plaintext to a loopback
// address, where the token never leaves the machine.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

func (b bearer) String() string { return "bearer(REDACTED)" }

// loopback reports whether addr (host:port) names this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
