package vcenter_test

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

// testClock is a settable clock for the simulator's tasks, so task tests
// move time forward instead of waiting.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// serverMu serialises starting and closing simulators: vcsim's
// Service.NewServer rewrites option values that all models share, so two
// smssim.Start calls in parallel race (smssim serialises only Model.Create).
var serverMu sync.Mutex

// startServer starts an SMS simulator inside vcsim for one test.
func startServer(t *testing.T, opts smssim.Options) *smssim.Server {
	t.Helper()
	serverMu.Lock()
	srv, err := smssim.Start(opts)
	serverMu.Unlock()
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		serverMu.Lock()
		defer serverMu.Unlock()
		srv.Close()
	})
	return srv
}

// sessionConfig trusts srv by its CA file.
func sessionConfig(srv *smssim.Server) vcenter.SessionConfig {
	password := srv.Password
	return vcenter.SessionConfig{
		URL:      srv.URL,
		Username: srv.Username,
		Password: func() (string, error) { return password, nil },
		CAFile:   srv.CAFile,
	}
}

// newSession opens a Session on srv, closed at cleanup.
func newSession(t *testing.T, cfg vcenter.SessionConfig) *vcenter.Session {
	t.Helper()
	s, err := vcenter.NewSession(cfg)
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("close session: %v", err)
		}
	})
	return s
}

// testContext is a generous deadline: tests wait with it, never assert speed.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newClient logs in to srv with plain govmomi and returns an SMS client.
func newClient(t *testing.T, srv *smssim.Server) *vcenter.Client {
	t.Helper()
	ctx := testContext(t)
	sc := soap.NewClient(srv.URL, false)
	if err := sc.SetRootCAs(srv.CAFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.CloseIdleConnections)
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatalf("vim25 client: %v", err)
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(srv.Username, srv.Password)); err != nil {
		t.Fatalf("login: %v", err)
	}
	c, err := vcenter.NewClient(ctx, vc)
	if err != nil {
		t.Fatalf("sms client: %v", err)
	}
	return c
}
