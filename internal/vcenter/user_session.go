package vcenter

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	vimmethods "github.com/vmware/govmomi/vim25/methods"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// UserSession is one user's own login to a vCenter, made with that user's
// credentials over the same connection settings (URL, trust, timeouts) as
// the shared [Session]. Unlike a Session it never logs in again: the
// user's password is not kept, so when vCenter ends the session its calls
// fail with the NotAuthenticated or InvalidSession fault vCenter sent, as
// they would for a client logged in to vCenter directly. vCenter applies
// the user's own privileges to every call. Safe for concurrent use.
type UserSession struct {
	s    *Session
	c    *conn
	info UserInfo
}

// UserInfo is what vCenter's Login answered about a user session (vim25
// UserSession), without its key's secret counterpart, the session cookie,
// which never leaves this package.
type UserInfo struct {
	Key            string
	UserName       string
	FullName       string
	LoginTime      time.Time
	LastActiveTime time.Time
	Locale         string
	MessageLocale  string
}

// LoginUser logs in to the Session's vCenter as username and returns that
// user's own session. A wrong user name or password fails with the
// InvalidLogin [Fault] vCenter sent. The password is used once and not
// kept.
func (s *Session) LoginUser(ctx context.Context, username, password string) (*UserSession, error) {
	s.mu.Lock()
	closed, prev := s.closed, s.conn
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout+2*s.cfg.RequestTimeout)
	defer cancel()

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
	c := &conn{vim: vc, manager: session.NewManager(vc)}
	req := vimtypes.Login{This: *vc.ServiceContent.SessionManager, UserName: username, Password: password}
	res, err := vimmethods.Login(ctx, vc, &req)
	if err != nil {
		return nil, fmt.Errorf("login to vcenter: %w", translate(err))
	}
	u := &UserSession{s: s, c: c, info: UserInfo{
		Key:            res.Returnval.Key,
		UserName:       res.Returnval.UserName,
		FullName:       res.Returnval.FullName,
		LoginTime:      res.Returnval.LoginTime.UTC(),
		LastActiveTime: res.Returnval.LastActiveTime.UTC(),
		Locale:         res.Returnval.Locale,
		MessageLocale:  res.Returnval.MessageLocale,
	}}
	if c.sms, err = NewClient(ctx, vc); err != nil {
		_ = u.Logout(context.WithoutCancel(ctx))
		return nil, err
	}
	c.sms.Client.Client.Transport = &sizedRequests{base: c.sms.Client.Client.Transport}
	return u, nil
}

// Info returns what vCenter's Login answered.
func (u *UserSession) Info() UserInfo { return u.info }

// Logout ends the user's session on vCenter. A session vCenter already
// ended is not an error.
func (u *UserSession) Logout(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, u.s.cfg.RequestTimeout)
	defer cancel()
	return u.c.logout(ctx)
}

// call runs fn once in the user's session: it never logs in again (the
// password is not kept), so it never resends, whatever op.
func (u *UserSession) call(ctx context.Context, _ kind, fn func(context.Context, *Client) error) error {
	return u.s.attempt(ctx, u.c, fn)
}

// Providers returns the moIds of the registered VASA providers, as the
// user sees them.
func (u *UserSession) Providers(ctx context.Context) ([]string, error) {
	return queryProviders(ctx, u.call)
}

// Provider returns what the provider with moId id reports.
func (u *UserSession) Provider(ctx context.Context, id string) (*Provider, error) {
	return queryProvider(ctx, u.call, id)
}

// Reconnect starts VasaProviderReconnect_Task on the provider with moId
// providerID in the user's session and returns the SmsTask moId.
func (u *UserSession) Reconnect(ctx context.Context, providerID string) (string, error) {
	return startTask(ctx, u.call, onProvider((*Client).ReconnectProvider, providerID))
}

// Sync starts VasaProviderSync_Task on the provider with moId providerID in
// the user's session and returns the SmsTask moId.
func (u *UserSession) Sync(ctx context.Context, providerID string) (string, error) {
	return startTask(ctx, u.call, onProvider((*Client).SyncProvider, providerID))
}

// Task returns the state of the SmsTask with moId taskID.
func (u *UserSession) Task(ctx context.Context, taskID string) (*TaskInfo, error) {
	return queryTask(ctx, u.call, taskID)
}

// RegisterProvider starts RegisterProvider_Task with spec in the user's
// session and returns the SmsTask moId (see [Session.RegisterProvider]).
func (u *UserSession) RegisterProvider(ctx context.Context, spec ProviderSpec) (string, error) {
	return startTask(ctx, u.call, func(ctx context.Context, c *Client) (vimtypes.ManagedObjectReference, error) {
		return c.RegisterProvider(ctx, spec.sms())
	})
}

// UnregisterProvider starts UnregisterProvider_Task for the provider whose
// uid is providerUID in the user's session and returns the SmsTask moId.
func (u *UserSession) UnregisterProvider(ctx context.Context, providerUID string) (string, error) {
	return startTask(ctx, u.call, func(ctx context.Context, c *Client) (vimtypes.ManagedObjectReference, error) {
		return c.UnregisterProvider(ctx, providerUID)
	})
}

// RefreshCertificate starts VasaProviderRefreshCertificate_Task on the
// provider with moId providerID in the user's session and returns the
// SmsTask moId.
func (u *UserSession) RefreshCertificate(ctx context.Context, providerID string) (string, error) {
	return startTask(ctx, u.call, onProvider((*Client).RefreshProviderCertificate, providerID))
}

// TaskResult returns the result of the finished SmsTask with moId taskID
// (see [Session.TaskResult]).
func (u *UserSession) TaskResult(ctx context.Context, taskID string) (*TaskResult, error) {
	return queryTaskResult(ctx, u.call, taskID)
}
