package server

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
)

// fleetSims are simulators a config file names, each with providers of its
// own ids so a test can tell whose answer it got.
type fleetSims struct {
	dir  string
	sims map[string]*smssim.Server
}

func startFleetSims(t *testing.T, ids ...string) *fleetSims {
	t.Helper()
	f := &fleetSims{dir: t.TempDir(), sims: map[string]*smssim.Server{}}
	for _, id := range ids {
		defaults := smssim.DefaultProviders()
		a, b := defaults[0], defaults[1]
		a.ID, b.ID = id+"-vp-1", id+"-vp-2"
		b.ReconnectDuration = time.Hour // a task that stays running
		sim, err := smssim.Start(smssim.Options{Providers: []smssim.Provider{a, b}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		f.sims[id] = sim
		if err := os.WriteFile(filepath.Join(f.dir, id+".pw"), []byte(sim.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// entry is the config file entry of simulator id, trusting it by its CA
// file (or by its thumbprint).
func (f *fleetSims) entry(id string, thumbprint bool) string {
	sim := f.sims[id]
	trust := "caFile: " + sim.CAFile
	if thumbprint {
		trust = `thumbprint: "` + sim.Thumbprint + `"`
	}
	return fmt.Sprintf("  - id: %s\n    url: %s\n    username: %s\n    passwordFile: %s.pw\n    %s\n", id, sim.URL, sim.Username, id, trust)
}

// write replaces the config file, atomically (as an editor or a
// ConfigMap update does).
func (f *fleetSims) write(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(f.dir, "vasagw.yaml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (f *fleetSims) file(t *testing.T, ids ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("vcenters:\n")
	for _, id := range ids {
		b.WriteString(f.entry(id, false))
	}
	return f.write(t, b.String())
}

// startFleetGateway runs the gateway on a config file (and flags).
func startFleetGateway(t *testing.T, path string, flags []string, opts ...Option) *gateway {
	t.Helper()
	args := append([]string{
		"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0",
		"--config=" + path,
		"--task-poll-interval=100ms", "--health-interval=100ms",
		"--insecure-allow-unauthenticated", "--reconnect-rate=0",
		// Reads go to the simulators, as in gatewayConfig: these tests see
		// each vCenter's outage through its calls.
		"--provider-poll-interval=0", "--provider-max-age=0",
	}, flags...)
	cfg, err := config.Load(args, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{}
	startRun(t, cfg, g, opts...)
	return g
}

func (g *gateway) vcenters() vasagwv1.VCenterServiceClient {
	return vasagwv1.NewVCenterServiceClient(g.conn)
}

// vcenterIDs lists the gateway's vCenters.
func vcenterIDs(t *testing.T, g *gateway) []string {
	t.Helper()
	resp, err := g.vcenters().ListVCenters(testContext(t), &vasagwv1.ListVCentersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, vc := range resp.GetVcenters() {
		ids = append(ids, strings.TrimPrefix(vc.GetName(), "vcenters/"))
	}
	return ids
}

// waitVCenters waits until the gateway serves exactly ids; the test's
// context bounds the wait.
func waitVCenters(t *testing.T, g *gateway, ids ...string) {
	t.Helper()
	ctx := testContext(t)
	for !slices.Equal(vcenterIDs(t, g), ids) {
		select {
		case <-ctx.Done():
			t.Fatalf("the gateway serves %v, want %v", vcenterIDs(t, g), ids)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func reasonOfREST(t *testing.T, r restResult) string {
	t.Helper()
	return errorInfo(t, restStatus(t, r.body)).GetReason()
}

// TestTwoVCentersBehindOneGateway: over real sockets, each vCenter lists
// its own providers, an unknown one is 404 VCENTER_NOT_FOUND, and one
// simulator down makes only its calls 503 while GetVCenter and health
// follow it down and back.
func TestTwoVCentersBehindOneGateway(t *testing.T) {
	t.Parallel()
	f := startFleetSims(t, "east", "west")
	g := startFleetGateway(t, f.file(t, "east", "west"), nil)
	ctx := testContext(t)

	for _, id := range []string{"east", "west"} {
		r := g.rest(t, http.MethodGet, "/v1/vcenters/"+id+"/vasaProviders", "")
		if r.code != http.StatusOK || !strings.Contains(string(r.body), `"vcenters/`+id+`/vasaProviders/`+id+`-vp-1"`) {
			t.Errorf("GET %s's providers = %d %s", id, r.code, r.body)
		}
		other := map[string]string{"east": "west", "west": "east"}[id]
		if strings.Contains(string(r.body), other+"-vp-1") {
			t.Errorf("%s lists %s's providers: %s", id, other, r.body)
		}
	}
	for _, path := range []string{"/v1/vcenters/north/vasaProviders", "/v1/vcenters/north/vasaProviders/vp-1", "/v1/vcenters/north", "/v1/vcenters/default/vasaProviders"} {
		r := g.rest(t, http.MethodGet, path, "")
		if r.code != http.StatusNotFound || reasonOfREST(t, r) != "VCENTER_NOT_FOUND" {
			t.Errorf("GET %s = %d %s, want 404 VCENTER_NOT_FOUND", path, r.code, r.body)
		}
	}
	if ids := vcenterIDs(t, g); !slices.Equal(ids, []string{"east", "west"}) {
		t.Errorf("ListVCenters = %v; with a config file there is no embedded default", ids)
	}

	hc := healthpb.NewHealthClient(g.conn)
	eastHealth, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "vcenters/east"})
	if err != nil {
		t.Fatal(err)
	}
	waitHealth(t, eastHealth, healthpb.HealthCheckResponse_SERVING)

	f.sims["east"].Down()
	r := g.rest(t, http.MethodGet, "/v1/vcenters/east/vasaProviders", "")
	if r.code != http.StatusServiceUnavailable || reasonOfREST(t, r) != "VCENTER_UNREACHABLE" {
		t.Errorf("GET east's providers while down = %d %s, want 503 VCENTER_UNREACHABLE", r.code, r.body)
	}
	if r := g.rest(t, http.MethodGet, "/v1/vcenters/west/vasaProviders", ""); r.code != http.StatusOK {
		t.Errorf("GET west's providers while east is down = %d %s", r.code, r.body)
	}
	vc, err := g.vcenters().GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"})
	if err != nil || vc.GetState() != vasagwv1.VCenter_STATE_UNREACHABLE {
		t.Errorf("GetVCenter(east) while down = %v, %v; want STATE_UNREACHABLE", vc, err)
	}
	waitHealth(t, eastHealth, healthpb.HealthCheckResponse_NOT_SERVING)
	// West still works, so the gateway as a whole is ready.
	if resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("overall health while only east is down: %v, %v; want SERVING", resp, err)
	}
	if resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "vcenters/west"}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("west's health while east is down: %v, %v", resp, err)
	}
	if code, _, body := get(t, g.base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz while only east is down = %d %q, want 200", code, body)
	}

	if err := f.sims["east"].Up(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, eastHealth, healthpb.HealthCheckResponse_SERVING)
	vc, err = g.vcenters().GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"})
	if err != nil || vc.GetState() != vasagwv1.VCenter_STATE_READY || vc.GetLastError() != nil || vc.GetSmsVersion() != smssim.APIVersion {
		t.Errorf("GetVCenter(east) after it returned = %v, %v; want STATE_READY, no last_error, sms_version %s", vc, err, smssim.APIVersion)
	}
	r = g.rest(t, http.MethodGet, "/v1/vcenters/east", "")
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `"url":"`+f.sims["east"].URL.String()+`"`) || strings.Contains(string(r.body), f.sims["east"].Password) {
		t.Errorf("GET /v1/vcenters/east = %d %s", r.code, r.body)
	}

	// Both down: the gateway is not ready.
	f.sims["east"].Down()
	f.sims["west"].Down()
	overall, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitHealth(t, overall, healthpb.HealthCheckResponse_NOT_SERVING)
	if code, _, _ := get(t, g.base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with every vCenter down = %d, want 503", code)
	}
}

// TestConfigReload: an added vCenter serves, a removed one's open watch
// ends NOT_FOUND, a changed one logs in again, and a garbage file changes
// nothing (one log line, one metric). SIGHUP: TestReloadLeavesNothingBehind.
func TestConfigReload(t *testing.T) {
	t.Parallel()
	f := startFleetSims(t, "east", "west")
	path := f.file(t, "east")
	g := startFleetGateway(t, path, []string{"--admin-addr=127.0.0.1:0"}, ConfigCheckInterval(50*time.Millisecond))
	ctx := testContext(t)
	waitVCenters(t, g, "east")

	// Added.
	start := time.Now()
	f.file(t, "east", "west")
	waitVCenters(t, g, "east", "west")
	if _, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/west"}); err != nil {
		t.Fatalf("west after it was added: %v", err)
	}
	t.Logf("an added vCenter served %v after the file changed", time.Since(start).Round(time.Millisecond))

	// Removed, with a watch open.
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/west/vasaProviders/west-vp-2"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := g.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: task.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	f.file(t, "east")
	for err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.NotFound || reasonOf(err) != "VCENTER_NOT_FOUND" {
		t.Errorf("west's watch ended with %v, want NOT_FOUND VCENTER_NOT_FOUND", err)
	}
	waitVCenters(t, g, "east")
	r := g.rest(t, http.MethodGet, "/v1/vcenters/west/vasaProviders", "")
	if r.code != http.StatusNotFound || reasonOfREST(t, r) != "VCENTER_NOT_FOUND" {
		t.Errorf("west after removal = %d %s", r.code, r.body)
	}
	if _, found := scrape(t, g.admin).sum("vasagw_vcenter_up", "vcenter", "west"); found {
		t.Error("vasagw_vcenter_up still has a series for the removed west")
	}

	// Garbage: refused, nothing changes.
	before := scrape(t, g.admin)
	refused, _ := before.sum("vasagw_config_reloads_total", "outcome", "refused")
	f.write(t, "vcenters:\n  - id: east\n    pasword: x\n")
	for {
		n, _ := scrape(t, g.admin).sum("vasagw_config_reloads_total", "outcome", "refused")
		if n == refused+1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the garbage file was not refused")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if ok, _ := scrape(t, g.admin).sum("vasagw_config_last_reload_successful"); ok != 0 {
		t.Errorf("vasagw_config_last_reload_successful = %v after a refused reload, want 0", ok)
	}
	if ids := vcenterIDs(t, g); !slices.Equal(ids, []string{"east"}) {
		t.Errorf("after a garbage file the gateway serves %v, want [east]", ids)
	}
	if _, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/east"}); err != nil {
		t.Errorf("east after a garbage file: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(l, "config reload refused") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `pasword: unknown key`) || !strings.Contains(lines[0], `vcenters[0] (id \"east\")`) {
		t.Errorf("want one log line naming the entry and key, got %q", lines)
	}

	// Changed: east now trusts by thumbprint, and logs in again.
	logins := f.sims["east"].Logins()
	f.write(t, "vcenters:\n"+f.entry("east", true))
	for f.sims["east"].Logins() == logins {
		if _, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/east"}); err != nil {
			t.Fatalf("east while it is being replaced: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("east did not log in again with its new settings")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if applied, _ := scrape(t, g.admin).sum("vasagw_config_reloads_total", "outcome", "applied"); applied < 3 {
		t.Errorf("vasagw_config_reloads_total{outcome=applied} = %v, want at least 3", applied)
	}
	if !strings.Contains(g.logs.String(), `"changed":["east"]`) {
		t.Errorf("no log line says east changed:\n%s", g.logs.String())
	}
}

// TestReloadRefusesWhatCannotStart: a file that parses but names a vCenter
// whose settings a session refuses changes nothing either.
func TestReloadRefusesWhatCannotStart(t *testing.T) {
	t.Parallel()
	f := startFleetSims(t, "east")
	g := startFleetGateway(t, f.file(t, "east"), nil, ConfigCheckInterval(50*time.Millisecond))
	bad := filepath.Join(f.dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.write(t, "vcenters:\n"+f.entry("east", false)+strings.Replace(f.entry("east", false), "id: east", "id: west", 1)+
		"  - id: lab\n    url: https://lab.example.test/sdk\n    username: u\n    passwordFile: east.pw\n    caFile: bad.pem\n")
	ctx := testContext(t)
	for !strings.Contains(g.logs.String(), "config reload refused") {
		select {
		case <-ctx.Done():
			t.Fatal("the file was not refused")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(g.logs.String(), "vcenter lab") {
		t.Errorf("the refusal does not name the vCenter:\n%s", g.logs.String())
	}
	if ids := vcenterIDs(t, g); !slices.Equal(ids, []string{"east"}) {
		t.Errorf("after a refused file the gateway serves %v, want [east] (west must not have been added)", ids)
	}
}

// TestSimulateVCenters: --simulate-vcenters serves one embedded simulator
// per id, and no `default`.
func TestSimulateVCenters(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--simulate-vcenters=east,west"}, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{}
	startRun(t, cfg, g)
	if ids := vcenterIDs(t, g); !slices.Equal(ids, []string{"east", "west"}) {
		t.Fatalf("ListVCenters = %v", ids)
	}
	ctx := testContext(t)
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/east/vasaProviders/vp-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Each has a simulator of its own: east's task is not west's.
	if _, err := g.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: strings.Replace(task.GetName(), "/east/", "/west/", 1)}); status.Code(err) != codes.NotFound {
		t.Errorf("east's task through west: %v, want NOT_FOUND", err)
	}
	if r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders", ""); r.code != http.StatusNotFound {
		t.Errorf("default with --simulate-vcenters = %d %s, want 404", r.code, r.body)
	}
}

// TestReloadLeavesNothingBehind: 20 reloads that add and remove a vCenter
// (with a watch open on it each time) leave no goroutine behind. Not
// parallel: goleak compares the process's goroutines.
func TestReloadLeavesNothingBehind(t *testing.T) {
	f := startFleetSims(t, "east", "west")
	hup := make(chan os.Signal, 1)
	// East, which stays, gets one call at a time, all before the
	// goroutines are counted: its first health check (waited for; no
	// other during the cycles) and GetVCenter's QueryAboutInfo. Two calls
	// at once could have its transport dial a second connection in the
	// background that comes up after the count, which is no leak.
	g := startFleetGateway(t, f.file(t, "east"), []string{"--health-interval=1h"}, ConfigCheckInterval(time.Hour), ReloadOn(hup))
	ctx := testContext(t)
	health, err := healthpb.NewHealthClient(g.conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "vcenters/east"})
	if err != nil {
		t.Fatal(err)
	}
	waitHealth(t, health, healthpb.HealthCheckResponse_SERVING)
	waitVCenters(t, g, "east")
	ignore := goleak.IgnoreCurrent()
	for i := range 20 {
		f.file(t, "east", "west")
		hup <- os.Interrupt
		waitVCenters(t, g, "east", "west")
		task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/west/vasaProviders/west-vp-2"})
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := watchGRPC(ctx, g.tasks, task.GetName())
			done <- err
		}()
		f.file(t, "east")
		hup <- os.Interrupt
		waitVCenters(t, g, "east")
		if err := <-done; status.Code(err) != codes.NotFound {
			t.Fatalf("reload %d: west's watch ended with %v, want NOT_FOUND", i, err)
		}
	}
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
}

// reasonOf returns the ErrorInfo reason of a gRPC error.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(interface{ GetReason() string }); ok {
			return ei.GetReason()
		}
	}
	return ""
}

// TestReloadNeedsCallerAuthenticationForRealVCenters: a gateway that
// started on simulators only runs without caller authentication, so a
// reload that would add a real vCenter is refused, and the embedded
// default stays.
func TestReloadNeedsCallerAuthenticationForRealVCenters(t *testing.T) {
	t.Parallel()
	f := startFleetSims(t, "east")
	path := f.write(t, "vcenters: []\n")
	cfg, err := config.Load([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--config=" + path}, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{}
	startRun(t, cfg, g, ConfigCheckInterval(50*time.Millisecond))
	waitVCenters(t, g, "default")
	f.file(t, "east")
	ctx := testContext(t)
	for !strings.Contains(g.logs.String(), "config reload refused") {
		select {
		case <-ctx.Done():
			t.Fatal("the reload was not refused")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(g.logs.String(), "authentication") {
		t.Errorf("the refusal does not say why:\n%s", g.logs.String())
	}
	if ids := vcenterIDs(t, g); !slices.Equal(ids, []string{"default"}) {
		t.Errorf("after the refused reload the gateway serves %v, want [default]", ids)
	}
}

// TestSIGHUPRereadsTheCAFile: the config file is unchanged, but its CA
// file now holds another certificate: SIGHUP sets the vCenter up again
// with it, and the session no longer trusts the vCenter.
func TestSIGHUPRereadsTheCAFile(t *testing.T) {
	t.Parallel()
	f := startFleetSims(t, "east", "west")
	ca := filepath.Join(f.dir, "east-ca.pem")
	copyFile := func(from string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ca, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(f.sims["east"].CAFile)
	path := f.write(t, "vcenters:\n"+strings.Replace(f.entry("east", false), f.sims["east"].CAFile, "east-ca.pem", 1))
	hup := make(chan os.Signal, 1)
	g := startFleetGateway(t, path, nil, ConfigCheckInterval(time.Hour), ReloadOn(hup))
	ctx := testContext(t)
	if _, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/east"}); err != nil {
		t.Fatal(err)
	}
	copyFile(f.sims["west"].CAFile) // not the certificate east presents
	hup <- os.Interrupt
	for {
		vc, err := g.vcenters().GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: "vcenters/east"})
		if err != nil {
			t.Fatal(err)
		}
		if vc.GetState() == vasagwv1.VCenter_STATE_CERTIFICATE_UNTRUSTED {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("east is %v after its CA file changed, want STATE_CERTIFICATE_UNTRUSTED", vc.GetState())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(g.logs.String(), `"changed":["east"]`) {
		t.Errorf("no log line says east changed:\n%s", g.logs.String())
	}
}
