package smssim_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	methods25 "github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

func TestInjectFaultAndCounters(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	ctx := context.Background()

	busy := &smstypes.ProviderBusy{MethodFault: vimtypes.MethodFault{
		FaultMessage: []vimtypes.LocalizableMessage{{Key: "busy", Message: "provider is busy"}},
	}}
	srv.Sim.InjectFault("QueryProviderInfo", "vp-1", busy)
	srv.Sim.InjectFault("VasaProviderReconnect_Task", "", &smstypes.ProviderOutOfResource{})

	_, err := methods.QueryProviderInfo(ctx, c.sms, &smstypes.QueryProviderInfo{This: providerRef("vp-1")})
	var got *smstypes.ProviderBusy
	if _, ok := fault.As(err, &got); !ok || len(got.FaultMessage) != 1 || got.FaultMessage[0].Message != "provider is busy" {
		t.Fatalf("injected QueryProviderInfo fault: %v (%+v)", err, got)
	}
	if !strings.Contains(err.Error(), "provider is busy") {
		t.Errorf("error %q does not carry the fault message", err)
	}
	_ = c.info(t, "vp-2") // other objects are unaffected
	for _, id := range []string{"vp-1", "vp-2"} {
		if _, err := c.reconnect(id); !fault.Is(err, new(smstypes.ProviderOutOfResource)) {
			t.Errorf("reconnect %s: %v, want ProviderOutOfResource", id, err)
		}
	}

	srv.Sim.ClearFaults()
	_ = c.info(t, "vp-1")
	task, err := c.reconnect("vp-2")
	if err != nil {
		t.Fatalf("reconnect after ClearFaults: %v", err)
	}
	srv.Sim.InjectFault("QuerySmsTaskInfo", task.Value, &vimtypes.SystemError{Reason: "boom"})
	if _, err := methods.QuerySmsTaskInfo(ctx, c.sms, &smstypes.QuerySmsTaskInfo{This: task}); !fault.Is(err, new(vimtypes.SystemError)) {
		t.Errorf("QuerySmsTaskInfo: %v, want SystemError", err)
	}

	counts := []struct {
		method, id string
		want       int
	}{
		{"QueryProviderInfo", "", 3},
		{"QueryProviderInfo", "vp-1", 2},
		{"QueryProviderInfo", "vp-2", 1},
		{"VasaProviderReconnect_Task", "", 3},
		{"VasaProviderReconnect_Task", "vp-2", 2},
		{"QuerySmsTaskInfo", "", 1},
		{"QuerySmsTaskInfo", task.Value, 1},
		{"QueryProvider", "", 0},
	}
	for _, tc := range counts {
		got := srv.Sim.Calls(tc.method)
		if tc.id != "" {
			got = srv.Sim.CallsOn(tc.method, tc.id)
		}
		if got != tc.want {
			t.Errorf("calls %s %q = %d, want %d", tc.method, tc.id, got, tc.want)
		}
	}
}

func TestDenyUser(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	const priv = "StorageViews.ConfigureService"
	srv.Sim.DenyUser(srv.Username, priv)

	for _, call := range []func(string) (vimtypes.ManagedObjectReference, error){c.reconnect, c.sync} {
		_, err := call("vp-1")
		var np *vimtypes.NoPermission
		if _, ok := fault.As(err, &np); !ok {
			t.Fatalf("denied call: %v, want NoPermission", err)
		}
		if np.PrivilegeId != priv || np.Object == nil || np.Object.Value != "vp-1" {
			t.Errorf("NoPermission %+v", np)
		}
	}
	_ = c.info(t, "vp-1") // reads stay allowed

	srv.Sim.DenyUser("someone-else", priv)
	srv.Sim.DenyUser(srv.Username, "")
	if _, err := c.reconnect("vp-1"); err != nil {
		t.Errorf("reconnect after lifting the denial: %v", err)
	}
}

func TestDropSessions(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	other := login(t, srv)
	ctx := context.Background()
	if n := srv.Logins(); n != 2 {
		t.Fatalf("Logins = %d, want 2", n)
	}

	srv.DropSessions()

	if _, err := methods.QueryStorageManager(ctx, c.sms, &smstypes.QueryStorageManager{This: smssim.ServiceInstance}); err != nil {
		var is *smstypes.InvalidSession
		if _, ok := fault.As(err, &is); !ok {
			t.Fatalf("SMS call after DropSessions: %v, want sms InvalidSession", err)
		}
		if is.SessionCookie == "" {
			t.Errorf("InvalidSession without sessionCookie")
		}
	} else {
		t.Fatal("SMS call after DropSessions succeeded")
	}
	if _, err := methods25.GetCurrentTime(ctx, other.vim); err == nil {
		t.Fatal("vim25 call after DropSessions succeeded")
	} else if !fault.Is(err, new(vimtypes.NotAuthenticated)) {
		t.Fatalf("vim25 call after DropSessions: %v, want NotAuthenticated", err)
	}

	// The same client logs in again and both endpoints work.
	if err := session.NewManager(c.vim).Login(ctx, url.UserPassword(srv.Username, srv.Password)); err != nil {
		t.Fatalf("re-login: %v", err)
	}
	_ = c.info(t, "vp-1")
	if n := srv.Logins(); n != 3 {
		t.Errorf("Logins = %d, want 3", n)
	}
}

func TestLoginRejectsBadPassword(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	vc := dial(t, srv)
	err := session.NewManager(vc).Login(context.Background(), url.UserPassword(srv.Username, "wrong"))
	if !fault.Is(err, new(vimtypes.InvalidLogin)) {
		t.Fatalf("login with a wrong password: %v, want InvalidLogin", err)
	}
	if n := srv.Logins(); n != 0 {
		t.Errorf("Logins = %d, want 0", n)
	}
}

func TestDownUp(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	ctx := context.Background()
	_ = c.info(t, "vp-1") // leaves a keep-alive connection open

	srv.Down()
	srv.Down() // idempotent
	_, err := methods.QueryProviderInfo(ctx, c.sms, &smstypes.QueryProviderInfo{This: providerRef("vp-1")})
	var opErr *net.OpError
	if err == nil || (!errors.As(err, &opErr) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("call while down: %v, want a network error", err)
	}
	if conn, err := net.DialTimeout("tcp", srv.URL.Host, time.Second); err == nil {
		conn.Close()
		t.Fatal("dial while down succeeded")
	}

	if err := srv.Up(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if err := srv.Up(); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	// Same address, same session: vCenter came back without a restart.
	if got := c.info(t, "vp-1").Name; got != "array-a" {
		t.Errorf("after Up: name %q", got)
	}

	srv.Close()
	if err := srv.Up(); err == nil {
		t.Error("Up after Close succeeded")
	}
}

// TestConcurrentClients exercises the simulator's locking under the race
// detector: several sessions reconnect, sync and poll at once.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	srv.Sim.SetSpeed(1000)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 4 {
		c := login(t, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for _, id := range []string{"vp-1", "vp-2", "vp-5", "vp-6"} {
				task, err := c.reconnect(id)
				if err != nil {
					errs <- err
					continue
				}
				if _, err := methods.QuerySmsTaskInfo(ctx, c.sms, &smstypes.QuerySmsTaskInfo{This: task}); err != nil {
					errs <- err
				}
				if i == 0 {
					srv.Sim.InjectFault("QueryProvider", "", &vimtypes.SystemError{})
					srv.Sim.ClearFaults()
				}
				if _, err := methods.QueryProviderInfo(ctx, c.sms, &smstypes.QueryProviderInfo{This: providerRef(id)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Sim.Calls("VasaProviderReconnect_Task"); n != 16 {
		t.Errorf("reconnect calls %d, want 16", n)
	}
}

func TestCertificate(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	data, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("CA file is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("certificate does not cover 127.0.0.1: %v", err)
	}
	sum := sha256.Sum256(cert.Raw)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := strings.ReplaceAll(srv.Thumbprint, ":", ""); got != want {
		t.Errorf("Thumbprint %s, want %s", got, want)
	}
	for _, tp := range []string{srv.Thumbprint, srv.ThumbprintSHA1} {
		sc := soap.NewClient(srv.URL, false)
		sc.SetThumbprint(srv.URL.Host, tp)
		t.Cleanup(sc.CloseIdleConnections)
		if _, err := vim25.NewClient(context.Background(), sc); err != nil {
			t.Errorf("client pinning %s: %v", tp, err)
		}
	}
	sc := soap.NewClient(srv.URL, false)
	t.Cleanup(sc.CloseIdleConnections)
	if _, err := vim25.NewClient(context.Background(), sc); err == nil {
		t.Errorf("a client that neither trusts nor pins the certificate connected")
	}
	if srv.URL.Scheme != "https" || srv.URL.Path != "/sdk" || srv.URL.User != nil {
		t.Errorf("URL %s", srv.URL)
	}
}

func TestAddProvider(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now, Providers: []smssim.Provider{}})
	c := login(t, srv)
	const id = "vasa:array-x.lab-1"
	srv.Sim.AddProvider(smssim.Provider{
		ID:                id,
		Info:              smstypes.VasaProviderInfo{Status: "disconnected", VasaVersion: "4.0"},
		ReconnectDuration: 10 * time.Second,
	})
	res, err := methods.QueryProvider(context.Background(), c.sms, &smstypes.QueryProvider{This: smssim.StorageManager})
	if err != nil || len(res.Returnval) != 1 || res.Returnval[0] != providerRef(id) {
		t.Fatalf("QueryProvider = %v, %v", res, err)
	}
	if info := c.info(t, id); info.Name != id || info.VasaVersion != "4.0" {
		t.Errorf("info %+v", info)
	}
	task, err := c.reconnect(id)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	// The provider is connected even if nobody polls the task.
	if info, ok := srv.Sim.Provider(id); !ok || info.Status != "connected" {
		t.Errorf("Sim.Provider = %+v, %v", info, ok)
	}
	if info := c.taskInfo(t, task); info.State != "success" {
		t.Errorf("task %s", info.State)
	}
	if _, ok := srv.Sim.Provider("vp-1"); ok {
		t.Errorf("an empty Providers seed still has vp-1")
	}
}
