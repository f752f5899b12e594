package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/vasagw/vasagw/internal/config"
)

// Healthcheck is the `vasagw healthcheck` command, for container health
// checks in images without a shell or curl: it reads the same flags and
// environment as the server, GETs /healthz on the admin listener (or on
// the REST listener when --admin-addr is empty) over loopback, and returns
// the process exit code, 0 when healthy.
func Healthcheck(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, lookup)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(stdout, "vasagw healthcheck: exits 0 when the gateway's /healthz answers 200 (admin listener, else REST listener).")
		config.Usage(stdout, "vasagw")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "vasagw healthcheck:", err)
		return 2
	}
	addr := cfg.AdminAddr
	if addr == "" {
		addr = cfg.HTTPAddr
	}
	url, err := loopbackURL(addr)
	if err != nil {
		fmt.Fprintln(stderr, "vasagw healthcheck:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		fmt.Fprintln(stderr, "vasagw healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "vasagw healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "vasagw healthcheck:", resp.Status)
		return 1
	}
	return 0
}

// loopbackURL turns a listen address into a URL to reach it from the same
// host: an unspecified host (":9091", "0.0.0.0:9091", "[::]:9091") becomes
// 127.0.0.1.
func loopbackURL(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", listenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
