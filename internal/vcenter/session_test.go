package vcenter_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	"golang.org/x/sync/errgroup"
)

func TestSessionLogsInLazilyOnce(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	if got := srv.Logins(); got != 0 {
		t.Fatalf("NewSession logged in %d times; it must not dial", got)
	}
	ctx := testContext(t)
	g, gctx := errgroup.WithContext(ctx)
	for range 50 {
		g.Go(func() error { return s.Ping(gctx) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent first calls: %v", err)
	}
	if got := srv.Logins(); got != 1 {
		t.Errorf("logins = %d, want 1 for 50 concurrent first calls", got)
	}
}

func TestSessionReloginAfterDropSessions(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	cfg := sessionConfig(srv)
	// 100 concurrent calls may open many TLS connections at once on a busy
	// (race-detector) machine; this test is about logins, not dial bounds.
	cfg.DialTimeout = time.Minute
	s := newSession(t, cfg)
	ctx := testContext(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	for round := range 3 {
		before := srv.Logins()
		srv.DropSessions()
		g, gctx := errgroup.WithContext(ctx)
		for i := range 100 {
			g.Go(func() error {
				if i%2 == 0 {
					_, err := s.Provider(gctx, "vp-1")
					return err
				}
				_, err := s.Providers(gctx)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("round %d: a call failed after DropSessions: %v", round, err)
		}
		if got := srv.Logins() - before; got != 1 {
			t.Errorf("round %d: %d logins for 100 concurrent calls, want exactly 1", round, got)
		}
	}
}

func TestSessionUnreachableAndBack(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	srv.Down()
	for i := range 3 {
		_, err := s.Provider(ctx, "vp-1")
		if !errors.Is(err, vcenter.ErrUnreachable) {
			t.Fatalf("call %d while down: %v, want ErrUnreachable", i, err)
		}
		if ctx.Err() != nil {
			t.Fatal("the test deadline passed while vCenter was down")
		}
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Provider(ctx, "vp-1"); err != nil {
			t.Fatalf("call %d after Up: %v", i, err)
		}
	}
}

func TestSessionFirstLoginWhileUnreachable(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	srv.Down()
	if err := s.Ping(ctx); !errors.Is(err, vcenter.ErrUnreachable) {
		t.Fatalf("Ping while down: %v, want ErrUnreachable", err)
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after Up: %v", err)
	}
}

func TestSessionReadsPasswordAtEachLogin(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	var (
		mu       sync.Mutex
		password = "not-yet-rotated"
		reads    atomic.Int32
	)
	cfg := sessionConfig(srv)
	cfg.Password = func() (string, error) {
		reads.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return password, nil
	}
	s := newSession(t, cfg)
	ctx := testContext(t)

	err := s.Ping(ctx)
	var f *vcenter.Fault
	if !errors.As(err, &f) || f.TypeName != "InvalidLogin" {
		t.Fatalf("Ping with a wrong password: %v, want InvalidLogin", err)
	}

	mu.Lock()
	password = srv.Password // the password file was rewritten
	mu.Unlock()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the password changed: %v", err)
	}
	if got := reads.Load(); got != 2 {
		t.Errorf("password read %d times, want once per login (2)", got)
	}

	srv.DropSessions()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after DropSessions: %v", err)
	}
	if got := reads.Load(); got != 3 {
		t.Errorf("password read %d times, want 3 (the re-login read it again)", got)
	}
}

func TestSessionPasswordSourceError(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	cfg := sessionConfig(srv)
	errNoFile := errors.New("password file missing")
	cfg.Password = func() (string, error) { return "", errNoFile }
	s := newSession(t, cfg)
	if err := s.Ping(testContext(t)); !errors.Is(err, errNoFile) {
		t.Errorf("Ping: %v, want the password source's error", err)
	}
}

func TestSessionClose(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s, err := vcenter.NewSession(sessionConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Providers(ctx); !errors.Is(err, vcenter.ErrClosed) {
		t.Errorf("Providers after Close: %v, want ErrClosed", err)
	}
}

func TestSessionCallerDeadline(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Ping(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, vcenter.ErrUnreachable) {
		t.Errorf("Ping with a cancelled context: %v, want context.Canceled (not ErrUnreachable)", err)
	}
}

func TestNewSessionValidates(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	tests := []struct {
		name   string
		modify func(*vcenter.SessionConfig)
	}{
		{"no URL", func(c *vcenter.SessionConfig) { c.URL = nil }},
		{"relative URL", func(c *vcenter.SessionConfig) { u := *c.URL; u.Scheme, u.Host = "", ""; c.URL = &u }},
		{"no username", func(c *vcenter.SessionConfig) { c.Username = "" }},
		{"no password source", func(c *vcenter.SessionConfig) { c.Password = nil }},
		{"missing CA file", func(c *vcenter.SessionConfig) { c.CAFile = c.CAFile + ".missing" }},
		{"bad thumbprint", func(c *vcenter.SessionConfig) { c.CAFile = ""; c.Thumbprint = "AB:CD" }},
		{"thumbprint and CA file", func(c *vcenter.SessionConfig) { c.Thumbprint = srv.Thumbprint }},
		{"insecure and CA file", func(c *vcenter.SessionConfig) { c.Insecure = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sessionConfig(srv)
			tt.modify(&cfg)
			if s, err := vcenter.NewSession(cfg); err == nil {
				_ = s.Close(context.Background())
				t.Errorf("NewSession accepted an invalid config")
			}
		})
	}
}
