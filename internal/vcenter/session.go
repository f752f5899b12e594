package vcenter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/session/keepalive"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
)

// Defaults of [SessionConfig].
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultKeepAlive      = 5 * time.Minute
)

// SessionConfig says which vCenter to log in to and how to trust it.
type SessionConfig struct {
	// URL is vCenter's SDK URL, e.g. https://vc.example.com/sdk. User
	// information in it is ignored.
	URL *url.URL
	// Username logs in to vim25.
	Username string
	// Password is called at every login, so a rotated password (a password
	// file re-read) is picked up without a restart.
	Password func() (string, error)
	// CAFile is a PEM bundle to verify vCenter's certificate with; empty
	// means the system roots.
	CAFile string
	// Thumbprint pins vCenter's certificate by its SHA-256 or SHA-1
	// thumbprint (any case, with or without colons). When set, the pin
	// alone decides trust, so it cannot be combined with CAFile.
	Thumbprint string
	// Insecure skips certificate verification (a warning is logged). It
	// cannot be combined with CAFile or Thumbprint.
	Insecure bool
	// DialTimeout bounds connecting (TCP and TLS handshake); default
	// [DefaultDialTimeout].
	DialTimeout time.Duration
	// RequestTimeout bounds each call to vCenter; default
	// [DefaultRequestTimeout]. A call that hits it fails with
	// [ErrUnreachable].
	RequestTimeout time.Duration
	// KeepAlive is how long the session may stay idle before a cheap call
	// keeps it from expiring; default [DefaultKeepAlive], negative
	// disables it (the session then re-logs in when vCenter expired it).
	KeepAlive time.Duration
	// OnLogin, when set, is told the outcome of every login attempt (nil
	// for a success), for metrics. It must not block.
	OnLogin func(err error)
	// Logger receives login, re-login and warning records; nil discards.
	Logger *slog.Logger
}

// Session is one shared, self-healing login to one vCenter. It logs in
// lazily on first use and is safe for concurrent use. When vCenter
// reports the session gone (NotAuthenticated, or sms InvalidSession), it
// logs in again exactly once for all the callers that saw the failure and
// retries each failed call once. While vCenter is unreachable calls fail
// with [ErrUnreachable]; they succeed again, with the same Session, once it
// is back.
type Session struct {
	cfg    SessionConfig
	log    *slog.Logger
	soap   *soap.Client    // template: its transport is shared by every login's clients
	base   context.Context // cancelled by Close: ends logins and keep-alives
	cancel context.CancelFunc
	wg     sync.WaitGroup // running logins
	state  stateTracker   // what the latest login or call said of vCenter

	mu     sync.Mutex
	closed bool
	gen    uint64 // login generation: 0 until the first login succeeds
	conn   *conn  // the current login; nil until the first succeeds
	flight *loginFlight
}

// conn is one logged-in vim25 session and the clients that use it. It is
// immutable once published: a re-login makes a new one.
type conn struct {
	vim       *vim25.Client
	manager   *session.Manager
	keepalive *keepalive.HandlerSOAP // nil when disabled
	sms       *Client
}

// loginFlight is one login that concurrent callers wait for.
type loginFlight struct {
	done chan struct{}
	gen  uint64
	conn *conn
	err  error
}

// NewSession validates cfg and prepares the connection; it does not dial.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.URL == nil || cfg.URL.Host == "" || (cfg.URL.Scheme != "https" && cfg.URL.Scheme != "http") {
		return nil, errors.New("vcenter url: want an absolute http(s) URL such as https://vc.example.com/sdk")
	}
	if cfg.Username == "" {
		return nil, errors.New("vcenter username: empty")
	}
	if cfg.Password == nil {
		return nil, errors.New("vcenter password: no source")
	}
	if cfg.Insecure && (cfg.CAFile != "" || cfg.Thumbprint != "") {
		return nil, errors.New("vcenter insecure: cannot be combined with a CA file or a thumbprint")
	}
	if cfg.CAFile != "" && cfg.Thumbprint != "" {
		return nil, errors.New("vcenter thumbprint: cannot be combined with a CA file (the pin alone decides trust)")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	u := *cfg.URL
	u.User = nil
	if u.Path == "" {
		u.Path = vim25.Path
	}
	cfg.URL = &u

	var verifier *certVerifier
	if !cfg.Insecure && u.Scheme == "https" {
		verifier = &certVerifier{host: u.Hostname()}
		if cfg.Thumbprint != "" {
			pin, err := parseThumbprint(cfg.Thumbprint)
			if err != nil {
				return nil, fmt.Errorf("vcenter thumbprint: %w", err)
			}
			verifier.pin = pin
		}
		if cfg.CAFile != "" {
			roots, err := loadCAFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("vcenter CA file: %w", err)
			}
			verifier.roots = roots
		}
	}
	if cfg.Insecure {
		log.Warn("vCenter certificate verification is disabled (insecure)", "url", u.String())
	}

	sc := soap.NewClient(&u, cfg.Insecure)
	configureTransport(sc, verifier, cfg.DialTimeout, cfg.RequestTimeout)

	base, cancel := context.WithCancel(context.Background())
	return &Session{cfg: cfg, log: log, soap: sc, base: base, cancel: cancel}, nil
}

// Providers returns the moIds of the registered VASA providers.
func (s *Session) Providers(ctx context.Context) ([]string, error) {
	return queryProviders(ctx, s.call)
}

// Provider returns what the provider with moId id reports.
func (s *Session) Provider(ctx context.Context, id string) (*Provider, error) {
	return queryProvider(ctx, s.call, id)
}

// Reconnect starts VasaProviderReconnect_Task on the provider with moId
// providerID and returns the SmsTask moId.
func (s *Session) Reconnect(ctx context.Context, providerID string) (string, error) {
	return startTask(ctx, s.call, onProvider((*Client).ReconnectProvider, providerID))
}

// Sync starts VasaProviderSync_Task on the provider with moId providerID and
// returns the SmsTask moId.
func (s *Session) Sync(ctx context.Context, providerID string) (string, error) {
	return startTask(ctx, s.call, onProvider((*Client).SyncProvider, providerID))
}

// Task returns the state of the SmsTask with moId taskID.
func (s *Session) Task(ctx context.Context, taskID string) (*TaskInfo, error) {
	return queryTask(ctx, s.call, taskID)
}

// Ping checks that vCenter answers SMS calls with this session, logging in
// if needed; for health checks.
func (s *Session) Ping(ctx context.Context) error {
	return s.call(ctx, readOnly, func(ctx context.Context, c *Client) error {
		_, err := c.QueryStorageManager(ctx)
		return err
	})
}

// Close logs out, stops the keep-alive and waits for a login in progress to
// end. Calls after Close fail with [ErrClosed]. Resources are released even
// when the logout fails (vCenter unreachable, say), whose error Close
// returns.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.cancel()
	s.wg.Wait()

	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()

	var err error
	if c != nil {
		lctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		err = c.logout(lctx)
		cancel()
	}
	s.soap.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// kind tells whether a call may be sent twice.
type kind int

const (
	readOnly kind = iota // a query: safe to resend
	mutating             // starts a task: never resent after it may have reached vCenter
)

// call runs fn with the current session, logging in first if needed. When
// fn fails because the session is gone, it takes part in one shared
// re-login and runs fn once more.
func (s *Session) call(ctx context.Context, op kind, fn func(context.Context, *Client) error) error {
	gen, c, err := s.acquire(ctx, 0)
	if err != nil {
		return err
	}
	err = s.attempt(ctx, c, fn)
	if op == readOnly && isDroppedConnection(err) {
		// A pooled connection that vCenter (or a proxy) had just closed: a
		// query is safe to send again, on a new connection.
		err = s.attempt(ctx, c, fn)
	}
	if !isSessionGone(err) {
		return err
	}
	s.log.Info("vCenter session gone; logging in again", "url", s.cfg.URL.String(), "generation", gen, "error", err)
	if _, c, err = s.acquire(ctx, gen); err != nil {
		return err
	}
	if err = s.attempt(ctx, c, fn); isSessionGone(err) {
		// A fresh login that vCenter rejects at once.
		s.state.set(StateAuthFailed, err)
	}
	return err
}

// attempt runs fn under the per-request timeout.
func (s *Session) attempt(ctx context.Context, c *conn, fn func(context.Context, *Client) error) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	err := fn(rctx, c.sms)
	if s.base.Err() != nil {
		// Closed while the call was under way: its connection went back
		// to the pool after Close emptied it, and would stay open.
		s.soap.CloseIdleConnections()
	}
	if err == nil {
		s.state.ready()
		s.keepAlive(c)
		return nil
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = &unreachableError{err: fmt.Errorf("no answer within %s: %w", s.cfg.RequestTimeout, err)}
	}
	s.state.observe(ctx, err)
	if errors.Is(err, ErrUnreachable) {
		// Pooled connections died with vCenter; do not reuse them.
		s.soap.CloseIdleConnections()
	}
	return err
}

// keepAlive (re)starts the keep-alive after a successful call: it stops by
// itself when a keep-alive call fails, e.g. while vCenter is unreachable.
func (s *Session) keepAlive(c *conn) {
	if c.keepalive == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		c.keepalive.Start()
	}
}

// isSessionGone reports whether err says the vim25 session behind the call
// no longer exists.
func isSessionGone(err error) bool {
	var f *Fault
	if !errors.As(err, &f) {
		return false
	}
	return f.HasType("NotAuthenticated") || f.HasType("InvalidSession")
}

// acquire returns a logged-in conn and its generation. A caller whose call
// failed on generation stale passes it: a login starts only if the session
// is still that generation (or none), and every caller arriving meanwhile
// waits for the same login.
func (s *Session) acquire(ctx context.Context, stale uint64) (uint64, *conn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, nil, ErrClosed
	}
	f := s.flight
	if f == nil {
		if s.gen != 0 && s.gen != stale {
			gen, c := s.gen, s.conn
			s.mu.Unlock()
			return gen, c, nil
		}
		f = &loginFlight{done: make(chan struct{})}
		s.flight = f
		s.wg.Add(1)
		go s.runLogin(f, s.conn)
	}
	s.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return 0, nil, f.err
		}
		return f.gen, f.conn, nil
	case <-ctx.Done():
		return 0, nil, fmt.Errorf("wait for vcenter login: %w", ctx.Err())
	}
}

// runLogin performs the login of flight f, detached from any one caller's
// context (the callers share it) but ended by Close.
func (s *Session) runLogin(f *loginFlight, prev *conn) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.base, s.cfg.DialTimeout+2*s.cfg.RequestTimeout)
	defer cancel()

	c, err := s.login(ctx, prev)
	if err == nil {
		s.state.ready()
	} else {
		s.state.loginFailed(err)
	}

	s.mu.Lock()
	if err == nil && s.closed {
		err = ErrClosed
	}
	if err == nil {
		s.gen++
		s.conn = c
		f.gen, f.conn = s.gen, c
	} else {
		f.err = err
	}
	s.flight = nil
	gen := s.gen
	s.mu.Unlock()
	close(f.done)

	if s.cfg.OnLogin != nil {
		s.cfg.OnLogin(err)
	}
	if err != nil {
		if c != nil {
			s.logoutDetached(c)
		}
		s.log.Warn("vCenter login failed", "url", s.cfg.URL.String(), "user", s.cfg.Username, "error", err)
		return
	}
	s.log.Info("logged in to vCenter", "url", s.cfg.URL.String(), "user", s.cfg.Username, "generation", gen)
	if prev != nil {
		// The old session is dead as far as SMS is concerned; end it on
		// vCenter too, in case vim25 still holds it, and stop its keep-alive.
		s.logoutDetached(prev)
	}
}

// logoutDetached logs c out on a context of its own: the login's may have
// been cancelled by Close, and the session on vCenter should still end.
func (s *Session) logoutDetached(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	if err := c.logout(ctx); err != nil {
		s.log.Debug("vCenter logout of a replaced session failed", "error", err)
	}
}

// login starts a new vim25 session on a fresh cookie jar (vCenter refuses a
// Login on a connection that still carries a session cookie), sharing the
// Session's transport. It reuses what prev learnt (the service content). A
// conn returned with an error was logged in and must be logged out.
func (s *Session) login(ctx context.Context, prev *conn) (*conn, error) {
	sc := s.soap.NewServiceClient(s.cfg.URL.Path, vim25.Namespace)
	var vc *vim25.Client
	if prev != nil {
		sc.Version = prev.vim.Version
		vc = &vim25.Client{Client: sc, ServiceContent: prev.vim.ServiceContent, RoundTripper: sc}
	} else {
		var err error
		if vc, err = vim25.NewClient(ctx, sc); err != nil {
			return nil, fmt.Errorf("connect to vcenter: %w", translate(err))
		}
	}
	c := &conn{vim: vc}
	if s.cfg.KeepAlive > 0 {
		c.keepalive = keepalive.NewHandlerSOAP(sc, s.cfg.KeepAlive, func() error {
			kctx, cancel := context.WithTimeout(s.base, s.cfg.RequestTimeout)
			defer cancel()
			_, err := methods.GetCurrentTime(kctx, sc)
			return err
		})
		vc.RoundTripper = c.keepalive
	}
	c.manager = session.NewManager(vc)

	password, err := s.cfg.Password()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPassword, err)
	}
	if err := c.manager.Login(ctx, url.UserPassword(s.cfg.Username, password)); err != nil {
		return nil, fmt.Errorf("login to vcenter as %s: %w", s.cfg.Username, translate(err))
	}
	if c.sms, err = NewClient(ctx, vc); err != nil {
		return c, err
	}
	// Every SMS call of the session goes through this one http.Client;
	// the *http.Transport and its connections stay shared.
	c.sms.Client.Client.Transport = &sizedRequests{base: c.sms.Client.Client.Transport}
	return c, nil
}

// logout ends c's session on vCenter, best effort, and stops its keep-alive.
func (c *conn) logout(ctx context.Context) error {
	err := c.manager.Logout(ctx)
	if c.keepalive != nil {
		c.keepalive.Stop()
	}
	if err = translate(err); isSessionGone(err) {
		return nil
	}
	return err
}
