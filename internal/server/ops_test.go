package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
)

// get GETs url and returns the status code and body.
func get(t testing.TB, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	r := request(t, http.MethodGet, url, "", header...)
	return r.code, r.header, string(r.body)
}

// waitHealth reads the gRPC health Watch stream of service until it
// reports want. The test's context bounds the wait; nothing is timed.
func waitHealth(t *testing.T, stream healthpb.Health_WatchClient, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("health watch ended waiting for %v: %v", want, err)
		}
		if resp.GetStatus() == want {
			return
		}
	}
}

func TestHealthFollowsVCenter(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--health-interval=100ms")
	ctx := testContext(t)
	hc := healthpb.NewHealthClient(g.conn)
	services := append([]string(nil), healthServices...)
	streams := make([]healthpb.Health_WatchClient, len(services))
	for i, s := range services {
		st, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: s})
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = st
	}
	checkReady := func(want int) {
		t.Helper()
		for _, base := range []string{g.base, g.admin} {
			if code, _, body := get(t, base+"/readyz"); code != want {
				t.Errorf("%s/readyz = %d %q, want %d", base, code, body, want)
			}
			// Liveness never depends on vCenter.
			if code, _, _ := get(t, base+"/healthz"); code != http.StatusOK {
				t.Errorf("%s/healthz = %d, want 200", base, code)
			}
		}
	}
	for _, st := range streams {
		waitHealth(t, st, healthpb.HealthCheckResponse_SERVING)
	}
	checkReady(http.StatusOK)

	g.sim.Down()
	for _, st := range streams {
		waitHealth(t, st, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	checkReady(http.StatusServiceUnavailable)
	if up := scrape(t, g.admin).value(t, "vasagw_vcenter_up", "vcenter", "default"); up != 0 {
		t.Errorf("vasagw_vcenter_up = %v while vCenter is down, want 0", up)
	}

	if err := g.sim.Up(); err != nil {
		t.Fatal(err)
	}
	for _, st := range streams {
		waitHealth(t, st, healthpb.HealthCheckResponse_SERVING)
	}
	checkReady(http.StatusOK)
	if up := scrape(t, g.admin).value(t, "vasagw_vcenter_up", "vcenter", "default"); up != 1 {
		t.Errorf("vasagw_vcenter_up = %v after vCenter came back, want 1", up)
	}
}

// families is one scrape of /metrics.
type families map[string]*dto.MetricFamily

func scrape(t testing.TB, admin string) families {
	t.Helper()
	code, _, body := get(t, admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// sum adds up the samples of a family (counter or gauge value, or a
// histogram's count) whose labels include the given name/value pairs.
func (f families) sum(name string, labels ...string) (float64, bool) {
	mf, ok := f[name]
	if !ok {
		return 0, false
	}
	var total float64
	found := false
	for _, m := range mf.GetMetric() {
		have := make(map[string]string)
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total, found
}

// value is sum, failing when no series matches.
func (f families) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := f.sum(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return v
}

func TestMetricsMoveWithCalls(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)

	call := func() {
		t.Helper()
		if _, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/no-such-provider"}); status.Code(err) != codes.NotFound {
			t.Fatalf("GetVasaProvider(no-such-provider) = %v, want NotFound", err)
		}
		if r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", ""); r.code != http.StatusOK {
			t.Fatalf("GET vp-1 = %d %s", r.code, r.body)
		}
		if r := g.rest(t, http.MethodGet, "/no/such/route", ""); r.code != http.StatusNotFound {
			t.Fatalf("GET /no/such/route = %d, want 404", r.code)
		}
	}
	call()
	before := scrape(t, g.admin)
	call()
	after := scrape(t, g.admin)

	getRoute := "/v1/{name=vcenters/*/vasaProviders/*}"
	moving := []struct {
		name   string
		labels []string
	}{
		{"grpc_server_handled_total", []string{"grpc_method", "ListVasaProviders", "grpc_code", "OK"}},
		{"grpc_server_handled_total", []string{"grpc_method", "GetVasaProvider", "grpc_code", "NotFound"}},
		{"grpc_server_handling_seconds", []string{"grpc_method", "ListVasaProviders"}},
		{"vasagw_http_requests_total", []string{"method", "get", "route", getRoute, "code", "200"}},
		{"vasagw_http_requests_total", []string{"method", "get", "route", "unmatched", "code", "404"}},
		{"vasagw_http_request_duration_seconds", []string{"method", "get", "route", getRoute}},
		{"vasagw_upstream_requests_total", []string{"vcenter", "default", "method", "Providers", "outcome", "ok"}},
		{"vasagw_upstream_request_duration_seconds", []string{"vcenter", "default", "method", "Provider"}},
	}
	for _, m := range moving {
		b, _ := before.sum(m.name, m.labels...)
		a := after.value(t, m.name, m.labels...)
		if a <= b {
			t.Errorf("%s%v did not move: %v then %v", m.name, m.labels, b, a)
		}
	}
	// The unknown provider fails upstream with a fault, counted by type.
	if ok, _ := after.sum("vasagw_upstream_requests_total", "method", "Provider", "outcome", "ok"); ok == 0 {
		t.Errorf("no successful upstream Provider call counted")
	}
	var faults float64
	for _, m := range after["vasagw_upstream_requests_total"].GetMetric() {
		var method, outcome string
		for _, lp := range m.GetLabel() {
			switch lp.GetName() {
			case "method":
				method = lp.GetValue()
			case "outcome":
				outcome = lp.GetValue()
			}
		}
		if method == "Provider" && outcome != "ok" {
			faults += m.GetCounter().GetValue()
		}
	}
	if faults == 0 {
		t.Errorf("the failed upstream Provider calls are not counted by outcome")
	}
	// Labels carry route patterns, never raw paths or ids (but for the
	// provider metrics, whose `provider` label is the provider's moId by
	// contract).
	for _, mf := range after {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.HasPrefix(mf.GetName(), "vasagw_vasa_provider_") && lp.GetName() == "provider" {
					continue
				}
				if strings.Contains(lp.GetValue(), "vp-1") || strings.Contains(lp.GetValue(), "no/such") {
					t.Errorf("%s has a raw path in label %s=%q", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "vasagw_http_requests_in_flight"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}

	// A watch of a long task shows one poller and one subscriber, and
	// polls that keep counting.
	g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-metrics", Info: disconnectedInfo("vp-metrics"), ReconnectDuration: time.Hour})
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-metrics"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := g.tasks.WatchTask(wctx, &vasagwv1.WatchTaskRequest{Name: task.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	watching := scrape(t, g.admin)
	if v := watching.value(t, "vasagw_task_watch_subscribers"); v < 1 {
		t.Errorf("vasagw_task_watch_subscribers = %v during a watch, want >= 1", v)
	}
	if v := watching.value(t, "vasagw_task_watch_pollers"); v < 1 {
		t.Errorf("vasagw_task_watch_pollers = %v during a watch, want >= 1", v)
	}
	polls := watching.value(t, "vasagw_task_polls_total")
	// The poller polls every 100ms (--task-poll-interval); wait for the
	// count to move by reading the upstream Task calls it makes.
	for {
		if scrape(t, g.admin).value(t, "vasagw_task_polls_total") > polls {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("vasagw_task_polls_total never moved during a watch")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	if code, _, body := get(t, g.admin+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET admin /debug/pprof/ = %d", code)
	}
	if code, _, _ := get(t, g.admin+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("GET admin /debug/pprof/goroutine = %d", code)
	}
	// Neither metrics nor the profiler are on the API listener.
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if code, _, _ := get(t, g.base+p); code != http.StatusNotFound {
			t.Errorf("GET REST %s = %d, want 404", p, code)
		}
	}
	// OpenMetrics, when asked for, carries exemplars and ends with # EOF.
	_, h, body := get(t, g.admin+"/metrics", "Accept", "application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(h.Get("Content-Type"), "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("OpenMetrics scrape: content type %q", h.Get("Content-Type"))
	}
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	code, h, body := get(t, g.base+"/openapi.json")
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json = %d %q", code, h.Get("Content-Type"))
	}
	var doc struct {
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger = %q, want 2.0", doc.Swagger)
	}
	var reconnect bool
	for p, ops := range doc.Paths {
		if strings.HasSuffix(p, ":reconnect") && ops["post"] != nil {
			reconnect = true
		}
	}
	if !reconnect {
		t.Errorf("no POST ...:reconnect path in %d paths", len(doc.Paths))
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)

	missing := "/v1/vcenters/default/vasaProviders/no-such-provider"
	r := g.rest(t, http.MethodGet, missing, "", "X-Request-Id", "ops-req-7f3a")
	if got := r.header.Get("X-Request-Id"); got != "ops-req-7f3a" {
		t.Errorf("REST X-Request-Id echoed as %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 200)} {
		r := g.rest(t, http.MethodGet, missing, "", "X-Request-Id", bad)
		got := r.header.Get("X-Request-Id")
		if got == "" || got == bad || strings.ContainsAny(got, " \n") {
			t.Errorf("REST X-Request-Id %q answered with %q, want a fresh id", bad, got)
		}
	}
	r = g.rest(t, http.MethodGet, missing, "")
	if got := r.header.Get("X-Request-Id"); len(got) != 24 {
		t.Errorf("REST without X-Request-Id got %q, want a generated 24-hex id", got)
	}

	var header metadata.MD
	_, err := g.providers.GetVasaProvider(metadata.AppendToOutgoingContext(ctx, "x-request-id", "ops-grpc-9"),
		&vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/no-such-provider"}, grpc.Header(&header))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetVasaProvider = %v", err)
	}
	if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "ops-grpc-9" {
		t.Errorf("gRPC x-request-id header = %v", got)
	}
	logs := g.logs.String()
	for _, id := range []string{"ops-req-7f3a", "ops-grpc-9"} {
		if !strings.Contains(logs, `"request_id":"`+id+`"`) {
			t.Errorf("request id %s not in the logs", id)
		}
	}
	if strings.Contains(logs, "has space") {
		t.Errorf("an invalid caller request id reached the logs")
	}
}

// recordingExporter keeps every span it is given, across shutdown.
type recordingExporter struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (e *recordingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.spans = append(e.spans, spans...)
	return nil
}

func (e *recordingExporter) Shutdown(context.Context) error { return nil }

func (e *recordingExporter) names(traceID string) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]bool)
	for _, s := range e.spans {
		if s.SpanContext().TraceID().String() == traceID {
			out[s.Name()] = true
		}
	}
	return out
}

// opsConfig is the configuration startGateway uses, against sim.
func opsConfig(t *testing.T, sim *smssim.Server, env map[string]string, flags ...string) config.Config {
	t.Helper()
	args := append([]string{
		"--grpc-addr=127.0.0.1:0",
		"--http-addr=127.0.0.1:0",
		"--admin-addr=127.0.0.1:0",
		"--vcenter-url=" + sim.URL.String(),
		"--vcenter-username=" + sim.Username,
		"--vcenter-ca-file=" + sim.CAFile,
		"--task-poll-interval=100ms",
		"--log-level=debug",
		"--insecure-allow-unauthenticated",
	}, flags...)
	cfg, err := config.Load(args, mapLookup(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTracingSpansAndLogs(t *testing.T) {
	t.Parallel()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cfg := opsConfig(t, sim, map[string]string{"VASAGW_VCENTER_PASSWORD": sim.Password})
	exp := &recordingExporter{}
	g := &gateway{sim: sim}
	startRun(t, cfg, g, SpanExporter(exp))

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/no-such-provider", "",
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if r.code != http.StatusNotFound {
		t.Fatalf("GET no-such-provider = %d %s", r.code, r.body)
	}
	g.stop()
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}
	names := exp.names(traceID)
	for _, want := range []string{
		"GET /v1/{name=vcenters/*/vasaProviders/*}",     // REST
		"vasagw.v1.VasaProviderService/GetVasaProvider", // gRPC client and server
		"vcenter.sms/Provider",                          // upstream
	} {
		if !names[want] {
			t.Errorf("no span %q in the caller's trace; spans: %v", want, names)
		}
	}
	if !strings.Contains(g.logs.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("the call's log lines do not carry its trace id")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	const (
		right = "Right-Horse-Battery-9f3c41"
		wrong = "Wrong-Staple-Correct-7a1e05"
	)
	sim.Password = right // the simulator checks logins against this field
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := opsConfig(t, sim, nil, "--vcenter-password-file="+pwFile, "--health-interval=100ms")
	g := &gateway{sim: sim}
	startRun(t, cfg, g)
	ctx := testContext(t)
	health, err := healthpb.NewHealthClient(g.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}

	var seen []string // every error text a caller saw
	_, err = g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
	// The gateway's own credentials failed: UNAVAILABLE / 503 without
	// RetryInfo, never the UNAUTHENTICATED / 401 that a portal would read
	// as its own token refused.
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || errorInfo(t, st).GetReason() != "VCENTER_AUTH_FAILED" || hasDetail(st, "RetryInfo") {
		t.Fatalf("ListVasaProviders with the wrong password = %v %v, want UNAVAILABLE VCENTER_AUTH_FAILED without RetryInfo", err, detailTypes(st))
	}
	seen = append(seen, fmt.Sprint(err))
	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders", "")
	if r.code != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"VCENTER_AUTH_FAILED"`) || strings.Contains(string(r.body), "RetryInfo") {
		t.Fatalf("REST list with the wrong password = %d %s, want 503 VCENTER_AUTH_FAILED without RetryInfo", r.code, r.body)
	}
	seen = append(seen, string(r.body))
	waitHealth(t, health, healthpb.HealthCheckResponse_NOT_SERVING)

	// The operator fixes the file; the next login reads it.
	if err := os.WriteFile(pwFile, []byte(right+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, health, healthpb.HealthCheckResponse_SERVING)
	if _, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"}); err != nil {
		t.Fatalf("ListVasaProviders after the password was fixed: %v", err)
	}
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watchGRPC(ctx, g.tasks, task.GetName()); err != nil {
		t.Fatal(err)
	}
	metricsText := func() string { _, _, b := get(t, g.admin+"/metrics"); return b }()
	logins := scrape(t, g.admin)
	for _, outcome := range []string{"failed", "ok"} {
		if n, _ := logins.sum("vasagw_vcenter_logins_total", "vcenter", "default", "outcome", outcome); n < 1 {
			t.Errorf("vasagw_vcenter_logins_total{outcome=%q} = %v, want at least 1", outcome, n)
		}
	}
	g.stop()
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}

	logs := g.logs.String()
	if !strings.Contains(logs, "NOT_SERVING") || !strings.Contains(strings.ToLower(logs), "login") {
		t.Errorf("the logs do not show the failed login; is this test looking at the right output?\n%s", logs)
	}
	for what, text := range map[string]string{"logs": logs, "metrics": metricsText, "caller errors": strings.Join(seen, "\n")} {
		for _, secret := range []string{right, wrong} {
			if strings.Contains(text, secret) {
				t.Errorf("a password appears in the %s", what)
			}
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	adminAddr := strings.TrimPrefix(g.admin, "http://")
	var stderr bytes.Buffer
	if code := Healthcheck(context.Background(), []string{"--admin-addr=" + adminAddr}, mapLookup(nil), io.Discard, &stderr); code != 0 {
		t.Errorf("healthcheck of a running gateway = %d: %s", code, stderr.String())
	}
	// VASAGW_* variables configure it as they configure the server.
	if code := Healthcheck(context.Background(), nil, mapLookup(map[string]string{"VASAGW_ADMIN_ADDR": adminAddr}), io.Discard, &stderr); code != 0 {
		t.Errorf("healthcheck from VASAGW_ADMIN_ADDR = %d: %s", code, stderr.String())
	}
	g.stop()
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := Healthcheck(context.Background(), []string{"--admin-addr=" + adminAddr}, mapLookup(nil), io.Discard, &stderr); code != 1 {
		t.Errorf("healthcheck of a stopped gateway = %d, want 1", code)
	}
}

func TestLoopbackURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{name: "port only", in: ":9091", want: "http://127.0.0.1:9091"},
		{name: "ipv4 any", in: "0.0.0.0:9091", want: "http://127.0.0.1:9091"},
		{name: "ipv6 any", in: "[::]:9091", want: "http://127.0.0.1:9091"},
		{name: "host kept", in: "10.0.0.5:9091", want: "http://10.0.0.5:9091"},
		{name: "ipv6 host", in: "[::1]:8080", want: "http://[::1]:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := loopbackURL(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("loopbackURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := loopbackURL("no-port"); err == nil {
		t.Error("loopbackURL(no-port) did not fail")
	}
}
