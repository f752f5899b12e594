package vcenter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	smstypes "github.com/vmware/govmomi/sms/types"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// finishTask moves the simulator's clock past any life-cycle task and
// returns the task's final state.
func finishTask(t *testing.T, s *vcenter.Session, clock *testClock, taskID string) *vcenter.TaskInfo {
	t.Helper()
	clock.Advance(10 * time.Second)
	ti, err := s.Task(testContext(t), taskID)
	if err != nil {
		t.Fatalf("Task %s: %v", taskID, err)
	}
	if !ti.Done() {
		t.Fatalf("task %s still %s", taskID, ti.State)
	}
	return ti
}

func TestProviderInfoFields(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	p, err := s.Provider(ctx, "vp-1")
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := &vcenter.Provider{
		RelatedStorageArrays:     []vcenter.RelatedStorageArray{{ArrayID: "com.example:array:array-a:1001", Active: true, Manageable: true, Priority: 1}},
		SupportedVendorModels:    []vcenter.VendorModel{{VendorID: "EXAMPLE", ModelID: "FlashArray array-a"}},
		MaxBatchSize:             128,
		ArrayIndependentProvider: &f,
	}
	got := &vcenter.Provider{
		RelatedStorageArrays:     p.RelatedStorageArrays,
		SupportedVendorModels:    p.SupportedVendorModels,
		MaxBatchSize:             p.MaxBatchSize,
		ArrayIndependentProvider: p.ArrayIndependentProvider,
		Priority:                 p.Priority,
		FailoverGroupID:          p.FailoverGroupID,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("provider fields (-want +got):\n%s", diff)
	}

	// The fingerprint SMS reports is the one the provider's URL presents.
	pc, err := vcenter.ProbeCertificate(ctx, p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if p.CertificateSHA256 == "" || p.CertificateSHA256 != pc.SHA256 || pc.PEM != p.Certificate {
		t.Errorf("CertificateSHA256 %q, presented %q", p.CertificateSHA256, pc.SHA256)
	}
	legacy, err := s.Provider(ctx, "vp-6")
	if err != nil {
		t.Fatal(err)
	}
	if legacy.RelatedStorageArrays[0].Priority != -1 || len(legacy.SupportedProviderProfiles) != 0 {
		t.Errorf("vp-6 %+v", legacy)
	}
}

func TestProbeCertificate(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	expired, err := s.Provider(ctx, "vp-3")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := vcenter.ProbeCertificate(ctx, expired.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !pc.Expired(time.Now()) || !pc.SelfSigned || pc.PEM != expired.Certificate || !pc.NotAfter.Equal(expired.CertificateExpiry) {
		t.Errorf("vp-3 presented %+v", pc)
	}

	renewed, err := srv.Sim.RenewProviderCertificate("vp-3")
	if err != nil {
		t.Fatal(err)
	}
	pc, err = vcenter.ProbeCertificate(ctx, expired.URL)
	if err != nil {
		t.Fatal(err)
	}
	if pc.PEM != renewed || pc.Expired(time.Now()) || pc.SHA256 != vcenter.CertificateSHA256(renewed) {
		t.Errorf("after renewal presented %+v", pc)
	}

	unreachable, err := s.Provider(ctx, "vp-4")
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "https://" + closed.Addr().String() + "/vasa"
	closed.Close()
	for _, u := range []string{unreachable.URL, refused} {
		_, err := vcenter.ProbeCertificate(ctx, u)
		var pe *vcenter.ProbeError
		if !errors.As(err, &pe) || errors.Is(err, vcenter.ErrUnreachable) || errors.Is(err, vcenter.ErrInvalidProviderURL) {
			t.Errorf("probe %s: %v, want a ProbeError about the provider", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1/vasa", "no url", "https:///x", "https://admin:hunter2@:1"} {
		_, err := vcenter.ProbeCertificate(ctx, u)
		if !errors.Is(err, vcenter.ErrInvalidProviderURL) || strings.Contains(fmt.Sprint(err), "hunter2") {
			t.Errorf("probe %q: %v, want ErrInvalidProviderURL without the password", u, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := vcenter.ProbeCertificate(cctx, expired.URL); !errors.Is(err, context.Canceled) {
		t.Errorf("probe with a cancelled context: %v", err)
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	t.Parallel()
	const canonical = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	tests := []struct {
		name, in, want string
	}{
		{"canonical", canonical, canonical},
		{"lower case", strings.ToLower(canonical), canonical},
		{"no colons", strings.ReplaceAll(canonical, ":", ""), canonical},
		{"spaces and padding", " " + strings.ReplaceAll(canonical, ":", " ") + "\n", canonical},
		{"dashes", strings.ReplaceAll(canonical, ":", "-"), canonical},
		{"SHA-1 length", canonical[:59], ""},
		{"not hex", strings.Replace(canonical, "AB", "ZZ", 1), ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := vcenter.NormalizeFingerprint(tt.in)
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("NormalizeFingerprint(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	if got := vcenter.CertificateSHA256("not a certificate"); got != "" {
		t.Errorf("CertificateSHA256 of garbage = %q", got)
	}
}

// TestRegisterConfirmAndResend runs the recovery of the expired-certificate
// provider through the Session.
func TestRegisterConfirmAndResend(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	srv := startServer(t, smssim.Options{Now: clock.Now})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	old, err := s.Provider(ctx, "vp-3")
	if err != nil {
		t.Fatal(err)
	}
	unregister, err := s.UnregisterProvider(ctx, old.UID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TaskResult(ctx, unregister); !errors.Is(err, &vcenter.Fault{TypeName: "InvalidState"}) {
		t.Errorf("TaskResult of a running task: %v, want InvalidState", err)
	}
	if ti := finishTask(t, s, clock, unregister); ti.State != vcenter.TaskSuccess || ti.TargetType != "SmsStorageManager" {
		t.Fatalf("unregister task %+v", ti)
	}
	if res, err := s.TaskResult(ctx, unregister); res != nil || err != nil {
		t.Errorf("TaskResult of unregister = %+v, %v; want nil, nil", res, err)
	}
	if _, err := s.Provider(ctx, "vp-3"); !errors.Is(err, &vcenter.Fault{TypeName: "ManagedObjectNotFound"}) {
		t.Errorf("Provider after unregister: %v", err)
	}

	renewed, err := srv.Sim.RenewProviderCertificate("vp-3")
	if err != nil {
		t.Fatal(err)
	}
	const password = "hunter2-provider-secret"
	spec := vcenter.ProviderSpec{Name: old.Name, URL: old.URL, Username: "vasa-admin", Password: password, Description: "recovered"}
	first, err := s.RegisterProvider(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ti := finishTask(t, s, clock, first)
	if ti.State != vcenter.TaskError || ti.Error.TypeName != "CertificateNotTrusted" || ti.Error.Properties["certificate"] != renewed {
		t.Fatalf("register without the certificate: %+v", ti)
	}
	if ti.Error.Find("ProviderRegistrationFault") == nil {
		t.Errorf("CertificateNotTrusted supertypes %v", ti.Error.Supertypes)
	}
	if _, err := s.TaskResult(ctx, first); !errors.Is(err, &vcenter.Fault{TypeName: "CertificateNotTrusted"}) {
		t.Errorf("TaskResult of the failed register: %v", err)
	}
	pc, err := vcenter.ProbeCertificate(ctx, spec.URL)
	if err != nil {
		t.Fatal(err)
	}
	if pc.SHA256 != vcenter.CertificateSHA256(ti.Error.Properties["certificate"]) {
		t.Errorf("fault certificate fingerprint differs from the presented one")
	}

	spec.Certificate = ti.Error.Properties["certificate"]
	second, err := s.RegisterProvider(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if ti := finishTask(t, s, clock, second); ti.State != vcenter.TaskSuccess {
		t.Fatalf("register with the certificate: %+v", ti.Error)
	}
	res, err := s.TaskResult(ctx, second)
	if err != nil || res == nil || res.Type != vcenter.TypeVasaProvider || res.Value == "" || res.Value == "vp-3" {
		t.Fatalf("TaskResult = %+v, %v", res, err)
	}
	p, err := s.Provider(ctx, res.Value)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != old.Name || p.URL != old.URL || p.UID == old.UID || p.Status != "online" || p.CertificateSHA256 != pc.SHA256 || p.Description != "recovered" {
		t.Errorf("registered provider %+v", p)
	}

	// A duplicate ends AlreadyExists; a spec without a name faults the
	// call itself, and neither error shows the password.
	dup, err := s.RegisterProvider(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if ti := finishTask(t, s, clock, dup); ti.Error == nil || ti.Error.TypeName != "AlreadyExists" || strings.Contains(ti.Error.Error(), password) {
		t.Errorf("duplicate register: %+v", ti.Error)
	}
	_, err = s.RegisterProvider(ctx, vcenter.ProviderSpec{URL: "https://admin:" + password + "@127.0.0.1:1/", Password: password})
	var f *vcenter.Fault
	if !errors.As(err, &f) || f.TypeName != "InvalidArgument" || strings.Contains(err.Error(), password) {
		t.Errorf("register without a name: %v", err)
	}
}

func TestRefreshCertificateAndAbout(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	srv := startServer(t, smssim.Options{Now: clock.Now})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	before, err := s.Provider(ctx, "vp-1")
	if err != nil {
		t.Fatal(err)
	}
	task, err := s.RefreshCertificate(ctx, "vp-1")
	if err != nil {
		t.Fatal(err)
	}
	if ti := finishTask(t, s, clock, task); ti.State != vcenter.TaskSuccess || ti.Target != "vp-1" {
		t.Fatalf("refresh vp-1: %+v", ti)
	}
	after, err := s.Provider(ctx, "vp-1")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := vcenter.ProbeCertificate(ctx, after.URL)
	if err != nil {
		t.Fatal(err)
	}
	if after.CertificateSHA256 == before.CertificateSHA256 || after.CertificateSHA256 != pc.SHA256 {
		t.Errorf("refresh: fingerprint %s -> %s, presented %s", before.CertificateSHA256, after.CertificateSHA256, pc.SHA256)
	}

	task, err = s.RefreshCertificate(ctx, "vp-3")
	if err != nil {
		t.Fatal(err)
	}
	if ti := finishTask(t, s, clock, task); ti.Error == nil || ti.Error.TypeName != "CertificateRefreshFailed" || ti.Error.Properties["providerId"] == "" && len(ti.Error.Messages) == 0 {
		t.Errorf("refresh of the expired provider: %+v", ti.Error)
	}
	if _, err := s.RefreshCertificate(ctx, "vp-404"); !errors.Is(err, &vcenter.Fault{TypeName: "ManagedObjectNotFound"}) {
		t.Errorf("refresh of an unknown provider: %v", err)
	}

	about, err := s.AboutInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if about.APIVersion != smssim.APIVersion || about.Name == "" || about.Vendor == "" || about.InstanceUUID == "" || about.VasaAPIVersion == "" {
		t.Errorf("AboutInfo %+v", about)
	}

	srv.Sim.DenyUser(srv.Username, "StorageViews.ConfigureService")
	_, err = s.UnregisterProvider(ctx, before.UID)
	var f *vcenter.Fault
	if !errors.As(err, &f) || f.TypeName != "NoPermission" || f.Properties["privilegeId"] != "StorageViews.ConfigureService" {
		t.Errorf("denied unregister: %v", err)
	}
}

func TestProviderSpecRedactsPassword(t *testing.T) {
	t.Parallel()
	const password = "hunter2-spec-secret"
	spec := vcenter.ProviderSpec{Name: "n", URL: "https://u:" + password + "@array.example.test/vasa", Username: "u", Password: password}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("register", "spec", spec)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("register", "spec", spec, "ptr", &spec)
	for _, out := range []string{
		fmt.Sprint(spec), fmt.Sprintf("%v %+v %#v %s %q", spec, spec, spec, spec, spec), fmt.Sprintf("%v %+v", &spec, &spec), buf.String(),
	} {
		if strings.Contains(out, password) {
			t.Errorf("password in %q", out)
		}
		if !strings.Contains(out, "[REDACTED]") {
			t.Errorf("no redaction marker in %q", out)
		}
	}
}

// TestClientRevokeAndSessionManager covers the raw Client calls the Session
// does not wrap.
func TestClientRevokeAndSessionManager(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	srv := startServer(t, smssim.Options{Now: clock.Now})
	c := newClient(t, srv)
	ctx := testContext(t)

	sm, err := c.QuerySessionManager(ctx)
	if err != nil || sm.Type != "SmsSessionManager" || sm.Value == "" {
		t.Errorf("QuerySessionManager = %v, %v", sm, err)
	}
	task, err := c.RevokeProviderCertificate(ctx, vcenter.ProviderRef("vp-1"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	info, err := c.QueryTaskInfo(ctx, task)
	if err != nil || info.State != vcenter.TaskSuccess {
		t.Fatalf("revoke task %+v, %v", info, err)
	}
	p, err := c.QueryProviderInfo(ctx, vcenter.ProviderRef("vp-1"))
	if err != nil || p.CertificateStatus != "invalid" || p.Status != "disconnected" {
		t.Errorf("after revoke: %+v, %v", p, err)
	}
	task, err = c.RevokeProviderCertificate(ctx, vcenter.ProviderRef("vp-1")) // now disconnected
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	info, err = c.QueryTaskInfo(ctx, task)
	if err != nil || vcenter.TaskInfoFromSMS(info).Error.TypeName != "CertificateRevocationFailed" {
		t.Errorf("second revoke %+v, %v", info, err)
	}

	task, err = c.UnregisterProvider(ctx, "no-such-uid")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	info, err = c.QueryTaskInfo(ctx, task)
	if err != nil || vcenter.TaskInfoFromSMS(info).Error.TypeName != "NotFound" {
		t.Errorf("unregister of an unknown uid %+v, %v", info, err)
	}
	if _, err := c.RegisterProvider(ctx, &smstypes.VasaProviderSpec{Url: "https://127.0.0.1:1/"}); !errors.Is(err, &vcenter.Fault{TypeName: "InvalidArgument"}) {
		t.Errorf("register without a name: %v", err)
	}
}
