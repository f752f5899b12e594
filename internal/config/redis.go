package config

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Redis is the part of [Config] that lets replicas share state (README.md,
// "Scaling out"): without a URL everything stays in the process.
type Redis struct {
	// RedisURL is redis://host:port[/db] or rediss:// (TLS); empty: no
	// shared state.
	RedisURL string
	// RedisPasswordFile holds the Redis password (read once at start).
	RedisPasswordFile string
	// RedisKeyPrefix starts every key the gateway writes, so that several
	// gateways (or other users) can share one Redis.
	RedisKeyPrefix string
}

func (r *Redis) addFlags(fs *flag.FlagSet) {
	r.RedisKeyPrefix = "vasagw:"
	fs.StringVar(&r.RedisURL, "redis-url", "", "redis:// or rediss:// (TLS) URL of the Redis (or Valkey) the replicas share; empty keeps all state in this process")
	fs.StringVar(&r.RedisPasswordFile, "redis-password-file", "", "file holding the Redis password")
	fs.StringVar(&r.RedisKeyPrefix, "redis-key-prefix", r.RedisKeyPrefix, "prefix of every Redis key and channel the gateway uses")
}

// validate checks the Redis flags without echoing the URL, which may
// carry a password.
func (r Redis) validate() []error {
	if r.RedisURL == "" {
		if r.RedisPasswordFile != "" {
			return []error{fmt.Errorf("--redis-password-file needs --redis-url")}
		}
		return nil
	}
	u, err := url.Parse(r.RedisURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return []error{fmt.Errorf("--redis-url: want redis://host:port or rediss://host:port")}
	}
	if r.RedisKeyPrefix == "" {
		return []error{fmt.Errorf("--redis-key-prefix: must not be empty")}
	}
	return nil
}

// RedisPassword reads --redis-password-file ("" when none is set). The
// error names the flag, never the content.
func (r Redis) RedisPassword() (string, error) {
	if r.RedisPasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(r.RedisPasswordFile)
	if err != nil {
		return "", fmt.Errorf("read --redis-password-file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
