package smssim_test

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a manually advanced clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startServer(t *testing.T, opts smssim.Options) *smssim.Server {
	t.Helper()
	srv, err := smssim.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// client is a logged-in vim25 client and an SMS client sharing its session,
// built the way pbm.NewClient builds one.
type client struct {
	vim *vim25.Client
	sms *soap.Client
}

func dial(t *testing.T, srv *smssim.Server) *vim25.Client {
	t.Helper()
	sc := soap.NewClient(srv.URL, false)
	if err := sc.SetRootCAs(srv.CAFile); err != nil {
		t.Fatalf("SetRootCAs: %v", err)
	}
	t.Cleanup(sc.CloseIdleConnections)
	vc, err := vim25.NewClient(context.Background(), sc)
	if err != nil {
		t.Fatalf("vim25.NewClient: %v", err)
	}
	return vc
}

func login(t *testing.T, srv *smssim.Server) *client {
	t.Helper()
	vc := dial(t, srv)
	if err := session.NewManager(vc).Login(context.Background(), url.UserPassword(srv.Username, srv.Password)); err != nil {
		t.Fatalf("Login: %v", err)
	}
	sc := vc.NewServiceClient(smssim.Path, smssim.Namespace)
	sc.Cookie = vc.SessionCookie
	t.Cleanup(sc.CloseIdleConnections)
	return &client{vim: vc, sms: sc}
}

func providerRef(id string) vimtypes.ManagedObjectReference {
	return vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: id}
}

func (c *client) info(t *testing.T, id string) *smstypes.VasaProviderInfo {
	t.Helper()
	res, err := methods.QueryProviderInfo(context.Background(), c.sms, &smstypes.QueryProviderInfo{This: providerRef(id)})
	if err != nil {
		t.Fatalf("QueryProviderInfo(%s): %v", id, err)
	}
	info, ok := res.Returnval.(*smstypes.VasaProviderInfo)
	if !ok {
		t.Fatalf("QueryProviderInfo(%s) returned %T", id, res.Returnval)
	}
	return info
}

func (c *client) reconnect(id string) (vimtypes.ManagedObjectReference, error) {
	res, err := methods.VasaProviderReconnect_Task(context.Background(), c.sms, &smstypes.VasaProviderReconnect_Task{This: providerRef(id)})
	if err != nil {
		return vimtypes.ManagedObjectReference{}, err
	}
	return res.Returnval, nil
}

func (c *client) sync(id string) (vimtypes.ManagedObjectReference, error) {
	res, err := methods.VasaProviderSync_Task(context.Background(), c.sms, &smstypes.VasaProviderSync_Task{This: providerRef(id)})
	if err != nil {
		return vimtypes.ManagedObjectReference{}, err
	}
	return res.Returnval, nil
}

func (c *client) taskInfo(t *testing.T, task vimtypes.ManagedObjectReference) smstypes.SmsTaskInfo {
	t.Helper()
	res, err := methods.QuerySmsTaskInfo(context.Background(), c.sms, &smstypes.QuerySmsTaskInfo{This: task})
	if err != nil {
		t.Fatalf("QuerySmsTaskInfo(%s): %v", task, err)
	}
	return res.Returnval
}

func (c *client) taskResult(task vimtypes.ManagedObjectReference) (vimtypes.AnyType, error) {
	res, err := methods.QuerySmsTaskResult(context.Background(), c.sms, &smstypes.QuerySmsTaskResult{This: task})
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}
