package smssim_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

// presented dials rawURL, trusting anything, and returns the certificate it
// presents.
func presented(rawURL string) (*x509.Certificate, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // reads the certificate
	c, err := d.DialContext(context.Background(), "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

func pemDER(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %q", s)
	}
	return b.Bytes
}

func (c *client) register(t *testing.T, spec smstypes.VasaProviderSpec) vimtypes.ManagedObjectReference {
	t.Helper()
	res, err := methods.RegisterProvider_Task(context.Background(), c.sms, &smstypes.RegisterProvider_Task{This: smssim.StorageManager, ProviderSpec: &spec})
	if err != nil {
		t.Fatalf("RegisterProvider_Task: %v", err)
	}
	return res.Returnval
}

func (c *client) unregister(t *testing.T, uid string) vimtypes.ManagedObjectReference {
	t.Helper()
	res, err := methods.UnregisterProvider_Task(context.Background(), c.sms, &smstypes.UnregisterProvider_Task{This: smssim.StorageManager, ProviderId: uid})
	if err != nil {
		t.Fatalf("UnregisterProvider_Task: %v", err)
	}
	return res.Returnval
}

// finish moves the clock past any life-cycle task and returns task's info.
func (c *client) finish(t *testing.T, clk *fakeClock, task vimtypes.ManagedObjectReference) smstypes.SmsTaskInfo {
	t.Helper()
	clk.Advance(10 * time.Second)
	info := c.taskInfo(t, task)
	if info.State != "success" && info.State != "error" {
		t.Fatalf("task %s still %s", task.Value, info.State)
	}
	return info
}

func TestProviderListeners(t *testing.T) {
	t.Parallel()
	srv, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, srv)
	urls := map[string]string{}
	for _, id := range []string{"vp-1", "vp-2", "vp-3", "vp-4", "vp-5", "vp-6"} {
		info := c.info(t, id)
		urls[id] = info.Url
		u, err := url.Parse(info.Url)
		if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Path != "/vasa/version.xml" {
			t.Errorf("%s url %q", id, info.Url)
		}
		cert, err := presented(info.Url)
		if id == "vp-4" {
			if err == nil {
				t.Errorf("vp-4 (unreachable) completed a handshake")
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s handshake: %v", id, err)
		}
		if string(cert.Raw) != string(pemDER(t, info.Certificate)) {
			t.Errorf("%s presents a certificate other than the one SMS holds", id)
		}
		if expired := time.Now().After(cert.NotAfter); expired != (id == "vp-3") {
			t.Errorf("%s presented certificate expired = %v", id, expired)
		}
	}

	if err := srv.Sim.SetProviderReachable("vp-4", true); err != nil {
		t.Fatal(err)
	}
	if _, err := presented(urls["vp-4"]); err != nil {
		t.Errorf("vp-4 after SetProviderReachable(true): %v", err)
	}
	if err := srv.Sim.SetProviderReachable("vp-404", true); err == nil {
		t.Errorf("SetProviderReachable of an unknown provider succeeded")
	}

	old := c.info(t, "vp-3").Certificate
	renewed, err := srv.Sim.RenewProviderCertificate("vp-3")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := presented(urls["vp-3"])
	if err != nil {
		t.Fatal(err)
	}
	if string(cert.Raw) != string(pemDER(t, renewed)) || !time.Now().Before(cert.NotAfter) || cert.CheckSignatureFrom(cert) != nil {
		t.Errorf("after renewal vp-3 presents %v..%v, not the renewed self-signed certificate", cert.NotBefore, cert.NotAfter)
	}
	if got, _ := srv.Sim.PresentedCertificate("vp-3"); got != renewed {
		t.Errorf("PresentedCertificate differs from the renewed one")
	}
	if c.info(t, "vp-3").Certificate != old {
		t.Errorf("renewing on the provider changed the certificate SMS holds")
	}

	srv.Close()
	for id, u := range urls {
		if _, err := presented(u); err == nil {
			t.Errorf("%s still serves after Close", id)
		}
	}
}

// TestRecoverFlow is the recovery of the expired-certificate provider done
// by hand: unregister, renew the certificate, register with confirm and
// resend.
func TestRecoverFlow(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)
	old := c.info(t, "vp-3")
	spec := smstypes.VasaProviderSpec{
		SmsProviderSpec: smstypes.SmsProviderSpec{Name: old.Name, Description: "re-registered"},
		Username:        "vasa-admin", Password: "s3cret", Url: old.Url,
	}

	// Registered already: AlreadyExists.
	info := c.finish(t, clk, c.register(t, spec))
	var exists *vimtypes.AlreadyExists
	if _, ok := fault.As(info.Error, &exists); info.State != "error" || !ok || exists.Name != old.Url {
		t.Fatalf("register of a registered URL: %s %+v", info.State, info.Error)
	}

	task := c.unregister(t, old.Uid)
	if info := c.taskInfo(t, task); info.State == "success" {
		t.Errorf("unregister done at once")
	}
	if _, err := methods.QueryProviderInfo(context.Background(), c.sms, &smstypes.QueryProviderInfo{This: providerRef("vp-3")}); err != nil {
		t.Errorf("vp-3 gone before its unregister task ended: %v", err)
	}
	if info := c.finish(t, clk, task); info.State != "success" || info.Object == nil || *info.Object != smssim.StorageManager {
		t.Fatalf("unregister: %+v", info)
	}
	if _, err := methods.QueryProviderInfo(context.Background(), c.sms, &smstypes.QueryProviderInfo{This: providerRef("vp-3")}); !fault.Is(err, new(vimtypes.ManagedObjectNotFound)) {
		t.Errorf("QueryProviderInfo after unregister: %v, want ManagedObjectNotFound", err)
	}
	if n := srv.Sim.Calls("UnregisterProvider_Task"); n != 1 {
		t.Errorf("unregister calls %d", n)
	}

	// The URL still presents the expired certificate: InvalidCertificate.
	info = c.finish(t, clk, c.register(t, spec))
	var invalid *smstypes.InvalidCertificate
	if _, ok := fault.As(info.Error, &invalid); info.State != "error" || !ok || invalid.Certificate != old.Certificate {
		t.Fatalf("register with the expired certificate: %s %+v", info.State, info.Error)
	}

	renewed, err := srv.Sim.RenewProviderCertificate("vp-3") // by the seed's moId, now unregistered
	if err != nil {
		t.Fatal(err)
	}
	info = c.finish(t, clk, c.register(t, spec))
	var untrusted *smstypes.CertificateNotTrusted
	if _, ok := fault.As(info.Error, &untrusted); info.State != "error" || !ok || untrusted.Certificate != renewed {
		t.Fatalf("register without the certificate: %s %+v", info.State, info.Error)
	}
	if _, err := c.taskResult(info.Task); !fault.Is(err, new(smstypes.CertificateNotTrusted)) {
		t.Errorf("QuerySmsTaskResult of the failed register: %v", err)
	}

	spec.Certificate = untrusted.Certificate // confirm and resend
	task = c.register(t, spec)
	info = c.finish(t, clk, task)
	ref, ok := info.Result.(vimtypes.ManagedObjectReference)
	if info.State != "success" || !ok || ref.Type != "VasaProvider" || ref.Value == "vp-3" || ref.Value == "" {
		t.Fatalf("register with the certificate: %s %#v %+v", info.State, info.Result, info.Error)
	}
	res, err := c.taskResult(task)
	if got, _ := res.(vimtypes.ManagedObjectReference); err != nil || got != ref {
		t.Errorf("QuerySmsTaskResult = %#v, %v, want %v", res, err, ref)
	}
	p := c.info(t, ref.Value)
	if p.Name != old.Name || p.Url != old.Url || p.Uid == old.Uid || p.Uid == "" || p.Certificate != renewed ||
		p.Status != "online" || p.CertificateStatus != "valid" || p.StatusFault != nil || p.Description != "re-registered" ||
		p.ServiceLocation != old.ServiceLocation || !strings.HasPrefix(p.ServiceLocation, "https://"+strings.Split(strings.TrimPrefix(old.Url, "https://"), "/")[0]+"/") {
		t.Errorf("registered provider %+v", p)
	}
	refs, err := methods.QueryProvider(context.Background(), c.sms, &smstypes.QueryProvider{This: smssim.StorageManager})
	if err != nil || len(refs.Returnval) != 6 || refs.Returnval[5] != ref {
		t.Errorf("QueryProvider after recovery: %v %v", refs, err)
	}

	// A second register of the same provider: AlreadyExists again.
	info = c.finish(t, clk, c.register(t, spec))
	if !fault.Is(info.Error, new(vimtypes.AlreadyExists)) {
		t.Errorf("second register: %+v", info.Error)
	}
}

func TestRegisterFaults(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)
	ctx := context.Background()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "https://" + closed.Addr().String() + "/vasa/version.xml"
	closed.Close()

	tests := []struct {
		name string
		url  string
		want vimtypes.BaseMethodFault
	}{
		{"not https", "http://127.0.0.1:8443/vasa/version.xml", new(smstypes.InvalidUrl)},
		{"not a URL", "::not a url", new(smstypes.InvalidUrl)},
		{"nobody listening", refused, new(smstypes.ProviderRegistrationFault)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := c.finish(t, clk, c.register(t, smstypes.VasaProviderSpec{SmsProviderSpec: smstypes.SmsProviderSpec{Name: tt.name}, Url: tt.url}))
			if info.State != "error" || !fault.Is(info.Error, tt.want) {
				t.Errorf("%s: %+v, want %T", info.State, info.Error, tt.want)
			}
		})
	}
	var bad *smstypes.InvalidUrl
	info := c.finish(t, clk, c.register(t, smstypes.VasaProviderSpec{SmsProviderSpec: smstypes.SmsProviderSpec{Name: "x"}, Url: "ftp://x"}))
	if _, ok := fault.As(info.Error, &bad); !ok || bad.Url != "ftp://x" {
		t.Errorf("InvalidUrl %+v", info.Error)
	}

	for _, spec := range []smstypes.VasaProviderSpec{{Url: "https://127.0.0.1:1/"}, {SmsProviderSpec: smstypes.SmsProviderSpec{Name: "no-url"}}} {
		_, err := methods.RegisterProvider_Task(ctx, c.sms, &smstypes.RegisterProvider_Task{This: smssim.StorageManager, ProviderSpec: &spec})
		if !fault.Is(err, new(vimtypes.InvalidArgument)) {
			t.Errorf("register %+v: %v, want InvalidArgument", spec, err)
		}
	}

	// Two registers of the same new provider at once: the second is a duplicate.
	if _, err := srv.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	url3 := c.info(t, "vp-3").Url
	c.finish(t, clk, c.unregister(t, c.info(t, "vp-3").Uid))
	pemText, _ := srv.Sim.PresentedCertificate("vp-3")
	spec := smstypes.VasaProviderSpec{SmsProviderSpec: smstypes.SmsProviderSpec{Name: "array-c"}, Url: url3, Certificate: pemText}
	first, second := c.register(t, spec), c.register(t, spec)
	if info := c.finish(t, clk, first); info.State != "success" {
		t.Errorf("first register: %+v", info.Error)
	}
	if info := c.finish(t, clk, second); !fault.Is(info.Error, new(vimtypes.AlreadyExists)) {
		t.Errorf("concurrent second register: %s %+v", info.State, info.Error)
	}

	// Unknown uid: the unregister task ends NotFound.
	if info := c.finish(t, clk, c.unregister(t, "no-such-uid")); !fault.Is(info.Error, new(vimtypes.NotFound)) {
		t.Errorf("unregister of an unknown uid: %+v", info.Error)
	}
}

func TestCertificateRefreshAndRevoke(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)
	ctx := context.Background()
	refresh := func(id string) smstypes.SmsTaskInfo {
		res, err := methods.VasaProviderRefreshCertificate_Task(ctx, c.sms, &smstypes.VasaProviderRefreshCertificate_Task{This: providerRef(id)})
		if err != nil {
			t.Fatalf("refresh %s: %v", id, err)
		}
		return c.finish(t, clk, res.Returnval)
	}
	revoke := func(id string) smstypes.SmsTaskInfo {
		res, err := methods.VasaProviderRevokeCertificate_Task(ctx, c.sms, &smstypes.VasaProviderRevokeCertificate_Task{This: providerRef(id)})
		if err != nil {
			t.Fatalf("revoke %s: %v", id, err)
		}
		return c.finish(t, clk, res.Returnval)
	}

	before := c.info(t, "vp-1")
	if info := refresh("vp-1"); info.State != "success" || info.Error != nil {
		t.Fatalf("refresh vp-1: %+v", info)
	}
	after := c.info(t, "vp-1")
	cert, err := presented(after.Url)
	if err != nil {
		t.Fatal(err)
	}
	if after.Certificate == before.Certificate || string(cert.Raw) != string(pemDER(t, after.Certificate)) || after.CertificateStatus != "valid" {
		t.Errorf("after refresh: SMS holds a new certificate %v, presented matches %v", after.Certificate != before.Certificate, string(cert.Raw) == string(pemDER(t, after.Certificate)))
	}
	if after.CertificateExpiryDate != cert.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("certificateExpiryDate %s, certificate NotAfter %s", after.CertificateExpiryDate, cert.NotAfter)
	}

	for _, id := range []string{"vp-3", "vp-4"} { // expired; disconnected
		info := refresh(id)
		var rf *smstypes.CertificateRefreshFailed
		if _, ok := fault.As(info.Error, &rf); info.State != "error" || !ok || len(rf.ProviderId) != 1 || rf.ProviderId[0] != c.info(t, id).Uid {
			t.Errorf("refresh %s: %s %+v", id, info.State, info.Error)
		}
	}

	if info := revoke("vp-2"); !fault.Is(info.Error, new(smstypes.CertificateRevocationFailed)) {
		t.Errorf("revoke of a disconnected provider: %+v", info.Error)
	}
	if info := revoke("vp-6"); info.State != "success" {
		t.Fatalf("revoke vp-6: %+v", info.Error)
	}
	if p := c.info(t, "vp-6"); p.CertificateStatus != "invalid" || p.Status != "disconnected" {
		t.Errorf("after revoke: %s %s", p.Status, p.CertificateStatus)
	}
}

func TestInjectTaskFault(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)
	srv.Sim.InjectTaskFault("UnregisterProvider_Task", "", &smstypes.ProviderUnregistrationFault{})
	srv.Sim.InjectTaskFault("VasaProviderSync_Task", "vp-1", &smstypes.ProviderSyncFailed{})
	srv.Sim.InjectTaskFault("RegisterProvider_Task", "StorageManager", &smstypes.IncorrectUsernamePassword{})

	uid := c.info(t, "vp-2").Uid
	if info := c.finish(t, clk, c.unregister(t, uid)); !fault.Is(info.Error, new(smstypes.ProviderUnregistrationFault)) {
		t.Errorf("unregister: %+v", info.Error)
	}
	if _, err := methods.QueryProviderInfo(context.Background(), c.sms, &smstypes.QueryProviderInfo{This: providerRef("vp-2")}); err != nil {
		t.Errorf("a failed unregister removed the provider: %v", err)
	}
	task, err := c.sync("vp-1")
	if err != nil {
		t.Fatal(err)
	}
	if info := c.finish(t, clk, task); !fault.Is(info.Error, new(smstypes.ProviderSyncFailed)) {
		t.Errorf("sync: %+v", info.Error)
	}
	info := c.finish(t, clk, c.register(t, smstypes.VasaProviderSpec{SmsProviderSpec: smstypes.SmsProviderSpec{Name: "n"}, Url: "https://127.0.0.1:1/"}))
	if !fault.Is(info.Error, new(smstypes.IncorrectUsernamePassword)) {
		t.Errorf("register: %+v", info.Error)
	}

	srv.Sim.ClearFaults()
	if info := c.finish(t, clk, c.unregister(t, uid)); info.State != "success" {
		t.Errorf("unregister after ClearFaults: %+v", info.Error)
	}
}

func TestAboutAndSessionManager(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	ctx := context.Background()
	about, err := methods.QueryAboutInfo(ctx, c.sms, &smstypes.QueryAboutInfo{This: smssim.ServiceInstance})
	if err != nil {
		t.Fatal(err)
	}
	if about.Returnval.ApiVersion != smssim.APIVersion || about.Returnval.Name == "" || about.Returnval.InstanceUuid == "" || about.Returnval.Vendor == "" {
		t.Errorf("about %+v", about.Returnval)
	}
	sm, err := methods.QuerySessionManager(ctx, c.sms, &smstypes.QuerySessionManager{This: smssim.ServiceInstance})
	if err != nil || sm.Returnval != smssim.SessionManager {
		t.Errorf("QuerySessionManager = %v, %v", sm, err)
	}
}

func TestDenyUserLifecycle(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	srv.Sim.DenyUser(srv.Username, "StorageViews.ConfigureService")
	ctx := context.Background()
	calls := map[string]func() error{
		"register": func() error {
			spec := smstypes.VasaProviderSpec{SmsProviderSpec: smstypes.SmsProviderSpec{Name: "n"}, Url: "https://127.0.0.1:1/"}
			_, err := methods.RegisterProvider_Task(ctx, c.sms, &smstypes.RegisterProvider_Task{This: smssim.StorageManager, ProviderSpec: &spec})
			return err
		},
		"unregister": func() error {
			_, err := methods.UnregisterProvider_Task(ctx, c.sms, &smstypes.UnregisterProvider_Task{This: smssim.StorageManager, ProviderId: "x"})
			return err
		},
		"refresh": func() error {
			_, err := methods.VasaProviderRefreshCertificate_Task(ctx, c.sms, &smstypes.VasaProviderRefreshCertificate_Task{This: providerRef("vp-1")})
			return err
		},
		"revoke": func() error {
			_, err := methods.VasaProviderRevokeCertificate_Task(ctx, c.sms, &smstypes.VasaProviderRevokeCertificate_Task{This: providerRef("vp-1")})
			return err
		},
	}
	for name, call := range calls {
		var np *vimtypes.NoPermission
		if _, ok := fault.As(call(), &np); !ok || np.PrivilegeId != "StorageViews.ConfigureService" {
			t.Errorf("%s: %+v, want NoPermission", name, np)
		}
	}
}

func TestRenewCertificateControl(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA file: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	post := func(id, user, pass string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "https://"+srv.URL.Host+smssim.ControlPrefix+"providers/"+id+"/renew-certificate", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}

	before, _ := srv.Sim.PresentedCertificate("vp-3")
	for _, creds := range [][2]string{{"", ""}, {srv.Username, "wrong"}} {
		if res, _ := post("vp-3", creds[0], creds[1]); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("control with credentials %q: %s", creds[0], res.Status)
		}
	}
	if after, _ := srv.Sim.PresentedCertificate("vp-3"); after != before {
		t.Fatal("an unauthenticated control renewed the certificate")
	}
	res, body := post("vp-3", srv.Username, srv.Password)
	var got struct{ Provider, Certificate, SHA256Fingerprint string }
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("renew: %s %s", res.Status, body)
	}
	now, _ := srv.Sim.PresentedCertificate("vp-3")
	sum := sha256.Sum256(pemDER(t, now))
	if got.Provider != "vp-3" || got.Certificate != now || now == before ||
		strings.ReplaceAll(got.SHA256Fingerprint, ":", "") != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Errorf("renew answered %+v", got)
	}
	if res, _ := post("vp-404", srv.Username, srv.Password); res.StatusCode != http.StatusNotFound {
		t.Errorf("renew of an unknown provider: %s", res.Status)
	}
}
