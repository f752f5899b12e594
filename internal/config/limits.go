package config

import (
	"flag"
	"fmt"
	"time"
)

// Limits is the part of [Config] that bounds what callers, authenticated
// or not, can make the gateway hold (API.md, "Hardening rules"): streams,
// connections and their idle time. A count of 0 switches that bound off.
type Limits struct {
	// MaxPublicStreams is the budget of open streams of the public
	// services (health Watch, reflection), shared by all their callers.
	MaxPublicStreams int
	// MaxStreamsPerConnection is HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS
	// on the gRPC listener.
	MaxStreamsPerConnection int
	// MaxStreamsPerAnonymousIP caps the open streams of the anonymous
	// callers from one IP address (an IPv6 /64).
	MaxStreamsPerAnonymousIP int
	// MaxConnections bounds the connections each of the gRPC and REST
	// listeners serves at once.
	MaxConnections int
	// IdleTimeout closes a connection that has had no call or stream open
	// for this long.
	IdleTimeout time.Duration
	// KeepaliveMinTime is the shortest interval between a gRPC client's
	// keepalive pings that the gateway accepts.
	KeepaliveMinTime time.Duration
}

// DefaultLimits are the documented defaults: 10,000 watchers fit on ten
// shared gRPC connections (1,000 streams each); a browser demo's tabs from
// one address share 1,000 streams; an attacker without credentials holds
// at most 1,000 public streams and, per listener, 2,000 connections.
func DefaultLimits() Limits {
	return Limits{
		MaxPublicStreams:         1000,
		MaxStreamsPerConnection:  1000,
		MaxStreamsPerAnonymousIP: 1000,
		MaxConnections:           2000,
		IdleTimeout:              2 * time.Minute,
		KeepaliveMinTime:         10 * time.Second,
	}
}

// addFlags registers the limit flags, with c's values as defaults.
func (c *Limits) addFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.MaxPublicStreams, "max-public-streams", c.MaxPublicStreams, "most open streams of the public services (gRPC health Watch, reflection), all callers together (0: no budget)")
	fs.IntVar(&c.MaxStreamsPerConnection, "max-streams-per-connection", c.MaxStreamsPerConnection, "most concurrent streams on one gRPC connection, HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS (0: no limit)")
	fs.IntVar(&c.MaxStreamsPerAnonymousIP, "max-streams-per-anonymous-ip", c.MaxStreamsPerAnonymousIP, "most streams the anonymous callers from one IP address (IPv6: one /64) may hold open, REST watches included (0: no cap)")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "most connections each of the gRPC and REST listeners serves at once; more are answered RESOURCE_EXHAUSTED / 429 and closed (0: no bound)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a gRPC or REST connection that has had no call or stream open for this long")
	fs.DurationVar(&c.KeepaliveMinTime, "keepalive-min-time", c.KeepaliveMinTime, "shortest interval between a gRPC client's keepalive pings; a client that pings more often is disconnected")
}

// Validate checks the limits; each error names its flag.
func (c Limits) Validate() []error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"max-public-streams", c.MaxPublicStreams},
		{"max-streams-per-connection", c.MaxStreamsPerConnection},
		{"max-streams-per-anonymous-ip", c.MaxStreamsPerAnonymousIP},
		{"max-connections", c.MaxConnections},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("--%s %d: must not be negative", f.name, f.v))
		}
	}
	if c.IdleTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--idle-timeout %s: must be at least 100ms", c.IdleTimeout))
	}
	if c.KeepaliveMinTime < time.Second {
		errs = append(errs, fmt.Errorf("--keepalive-min-time %s: must be at least 1s", c.KeepaliveMinTime))
	}
	return errs
}
