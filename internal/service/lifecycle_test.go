package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	smstypes "github.com/vmware/govmomi/sms/types"
	"go.uber.org/goleak"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// providerPassword is the provider password every life-cycle test sends.
// No log line, span, error or task may ever contain it.
const providerPassword = "Vasa-Pr0vider-S3cret!"

// lifecycleFixture is the gRPC services over 127.0.0.1, on a real session
// to the SMS simulator (real SOAP, real TLS to the provider URLs), with the
// REST facade's mux in front, and everything the gateway writes captured.
type lifecycleFixture struct {
	sim       *smssim.Server
	svc       *Service
	providers vasagwv1.VasaProviderServiceClient
	tasks     vasagwv1.TaskServiceClient
	rest      *httptest.Server
	out       *captured
}

// captured holds everything the gateway wrote that a secret must never
// reach: log lines (audit lines included), spans, and every error and
// task the tests received.
type captured struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	spans *tracetest.InMemoryExporter
}

func (c *captured) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// record adds what a test received (an error, a task) as text.
func (c *captured) record(m any) {
	var s string
	switch v := m.(type) {
	case nil:
		return
	case error:
		st := status.Convert(v)
		b, _ := protojson.Marshal(st.Proto())
		s = v.Error() + " " + string(b)
	case proto.Message:
		b, _ := protojson.Marshal(v)
		s = string(b)
	default:
		return
	}
	_, _ = c.Write([]byte(s + "\n"))
}

// text is everything captured so far, spans included.
func (c *captured) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	b.Write(c.buf.Bytes())
	for _, sp := range c.spans.GetSpans() {
		b.WriteString(sp.Name)
		for _, a := range sp.Attributes {
			b.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
		}
		for _, e := range sp.Events {
			b.WriteString(" " + e.Name)
			for _, a := range e.Attributes {
				b.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
			}
		}
		b.WriteString(" " + sp.Status.Description + "\n")
	}
	return b.String()
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.Sim.SetSpeed(20) // tasks of seconds take a tenth of one

	out := &captured{spans: tracetest.NewInMemoryExporter()}
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pw := sim.Password
	session, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      sim.URL,
		Username: sim.Username,
		Password: func() (string, error) { return pw, nil },
		CAFile:   sim.CAFile,
		Logger:   logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { session.Close(context.Background()) })

	svc, err := New(Options{
		VCenters:         map[string]Upstream{"default": session},
		TaskPollInterval: 10 * time.Millisecond,
		WatchLinger:      10 * time.Millisecond,
		Logger:           logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(out.spans))
	srv := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp))))
	svc.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	mux := runtime.NewServeMux()
	ctx, cancel := context.WithCancel(context.Background())
	if err := vasagwv1.RegisterVasaProviderServiceHandlerClient(ctx, mux, vasagwv1.NewVasaProviderServiceClient(conn)); err != nil {
		t.Fatal(err)
	}
	if err := vasagwv1.RegisterTaskServiceHandlerClient(ctx, mux, vasagwv1.NewTaskServiceClient(conn)); err != nil {
		t.Fatal(err)
	}
	rest := httptest.NewServer(mux)
	t.Cleanup(func() {
		rest.Close()
		cancel()
		conn.Close()
		svc.Close()
		srv.Stop()
		<-served
		_ = tp.Shutdown(context.Background())
		if strings.Contains(out.text(), providerPassword) {
			t.Errorf("the provider password reached a log line, span, error or task:\n%s", excerpt(out.text(), providerPassword))
		}
	})
	return &lifecycleFixture{
		sim:       sim,
		svc:       svc,
		providers: vasagwv1.NewVasaProviderServiceClient(conn),
		tasks:     vasagwv1.NewTaskServiceClient(conn),
		rest:      rest,
		out:       out,
	}
}

// excerpt shows where secret occurs in s.
func excerpt(s, secret string) string {
	i := strings.Index(s, secret)
	return s[max(i-300, 0):min(i+len(secret)+100, len(s))]
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// watch follows a task to its end and returns every snapshot, in order.
func (f *lifecycleFixture) watch(t *testing.T, name string) []*vasagwv1.Task {
	t.Helper()
	stream, err := f.tasks.WatchTask(testContext(t), &vasagwv1.WatchTaskRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var seen []*vasagwv1.Task
	for {
		task, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.out.record(err)
			t.Fatalf("watch %s: %v (after %d snapshots)", name, err, len(seen))
		}
		f.out.record(task)
		seen = append(seen, task)
	}
	if len(seen) == 0 || !terminal(seen[len(seen)-1].GetState()) {
		t.Fatalf("watch %s ended without a terminal snapshot: %v", name, seen)
	}
	return seen
}

// final waits for a task's terminal snapshot.
func (f *lifecycleFixture) final(t *testing.T, task *vasagwv1.Task) *vasagwv1.Task {
	t.Helper()
	seen := f.watch(t, task.GetName())
	return seen[len(seen)-1]
}

func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("status %v has no ErrorInfo", st.Proto())
	return nil
}

// wantStatus checks err's code and reason.
func wantStatus(t *testing.T, err error, code codes.Code, reason string) *status.Status {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %v %s", st.Proto(), code, reason)
	}
	if got := errorInfo(t, st).GetReason(); got != reason {
		t.Fatalf("reason %s, want %s (%v)", got, reason, st.Proto())
	}
	return st
}

// vimFaultProperty returns the property key of the outermost VimFault
// detail level that has it.
func vimFaultProperty(st *status.Status, key string) string {
	for _, d := range st.Details() {
		if f, ok := d.(*vasagwv1.VimFault); ok {
			for cur := f; cur != nil; cur = cur.GetFaultCause() {
				if v, ok := cur.GetProperties()[key]; ok {
					return v
				}
			}
		}
	}
	return ""
}

// uuid returns a fresh request id.
func uuid() string { return strings.TrimPrefix(newGatewayTaskID(), gatewayTaskPrefix) }

// restCall sends a REST request and returns the status code and body,
// recording the body.
func (f *lifecycleFixture) restCall(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, f.rest.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.out.Write(append(b, '\n'))
	return resp.StatusCode, string(b)
}

// sha256Of is the fingerprint of a PEM certificate, computed apart from
// the code under test.
func sha256Of(t *testing.T, certPEM string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatalf("not PEM: %q", certPEM)
	}
	sum := sha256.Sum256(block.Bytes)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(pairs, ":")
}

// unregister removes a provider and waits for the task.
func (f *lifecycleFixture) unregister(t *testing.T, name string) {
	t.Helper()
	task, err := f.providers.UnregisterProvider(testContext(t), &vasagwv1.UnregisterProviderRequest{Name: name, RequestId: uuid()})
	f.out.record(err)
	if err != nil {
		t.Fatal(err)
	}
	if task.GetKind() != vasagwv1.Task_KIND_UNREGISTER {
		t.Errorf("unregister task kind %v", task.GetKind())
	}
	if end := f.final(t, task); end.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("unregister ended %v", end)
	}
}

// TestUnregisterThenGet: an unregistered provider is gone, by the one
// fault mapping's NOT_FOUND.
func TestUnregisterThenGet(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	f.unregister(t, "vcenters/default/vasaProviders/vp-1")
	_, err := f.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
	f.out.record(err)
	wantStatus(t, err, codes.NotFound, "PROVIDER_NOT_FOUND")
	code, body := f.restCall(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", "")
	if code != http.StatusNotFound || !strings.Contains(body, "PROVIDER_NOT_FOUND") {
		t.Errorf("REST GET after unregister: %d %s", code, body)
	}
}

// TestRegisterConfirmAndResend: without a fingerprint the register ends
// FAILED CERTIFICATE_NOT_TRUSTED with the certificate's SHA-256 in
// metadata and its PEM in the VimFault; with that fingerprint the gateway
// resends and the provider is registered, named by the task's result.
func TestRegisterConfirmAndResend(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := testContext(t)
	before, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.unregister(t, before.GetName())
	presented, err := f.sim.Sim.PresentedCertificate("vp-1")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256Of(t, presented)

	// Over REST, as a portal would send it: the password in the body.
	code, body := f.restCall(t, http.MethodPost, "/v1/vcenters/default/vasaProviders",
		`{"displayName":"array-a","url":"`+before.GetUrl()+`","username":"vasa-admin","password":"`+providerPassword+`"}`)
	if code != http.StatusOK {
		t.Fatalf("REST register: %d %s", code, body)
	}
	var first vasagwv1.Task
	if err := protojson.Unmarshal([]byte(body), &first); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.GetName(), "vcenters/default/tasks/"+gatewayTaskPrefix) || first.GetKind() != vasagwv1.Task_KIND_REGISTER {
		t.Fatalf("register answered %v", &first)
	}
	end := f.final(t, &first)
	if end.GetState() != vasagwv1.Task_STATE_FAILED {
		t.Fatalf("register without a fingerprint ended %v", end)
	}
	st := status.FromProto(end.GetError())
	wantStatus(t, st.Err(), codes.FailedPrecondition, "CERTIFICATE_NOT_TRUSTED")
	if got := errorInfo(t, st).GetMetadata()["certificateSha256Fingerprint"]; got != want {
		t.Errorf("fingerprint in metadata %q, want %q", got, want)
	}
	if got := vimFaultProperty(st, "certificate"); got != presented {
		t.Errorf("VimFault certificate %q, want the presented PEM", got)
	}
	if n := len(end.GetSteps()); n != 1 || end.GetSteps()[0].GetState() != vasagwv1.Task_STATE_FAILED {
		t.Errorf("steps %v", end.GetSteps())
	}

	// Confirmed, lower case and without colons: the gateway resends.
	confirmed := strings.ToLower(strings.ReplaceAll(want, ":", ""))
	task, err := f.providers.RegisterProvider(ctx, &vasagwv1.RegisterProviderRequest{
		Parent: "vcenters/default", DisplayName: "array-a", Url: before.GetUrl(),
		Username: "vasa-admin", Password: providerPassword,
		CertificateSha256Fingerprint: confirmed, RequestId: uuid(),
	})
	f.out.record(err)
	if err != nil {
		t.Fatal(err)
	}
	seen := f.watch(t, task.GetName())
	end = seen[len(seen)-1]
	if end.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("confirmed register ended %v", end)
	}
	steps := end.GetSteps()
	if len(steps) != 2 || steps[0].GetKind() != vasagwv1.TaskStep_KIND_REGISTER || steps[0].GetState() != vasagwv1.Task_STATE_FAILED ||
		steps[1].GetKind() != vasagwv1.TaskStep_KIND_REGISTER_WITH_CERTIFICATE || steps[1].GetState() != vasagwv1.Task_STATE_SUCCEEDED ||
		steps[0].GetTask() == "" || steps[1].GetTask() == "" {
		t.Errorf("steps %v", steps)
	}
	if end.GetResult() == "" || end.GetResult() == before.GetName() {
		t.Fatalf("result %q: want the new provider", end.GetResult())
	}
	got, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: end.GetResult()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetUrl() != before.GetUrl() || got.GetCertificateSha256Fingerprint() != want {
		t.Errorf("registered provider %v", got)
	}
	// GetTask serves the gateway task like any other.
	again, err := f.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: task.GetName()})
	if err != nil || !proto.Equal(again, end) {
		t.Errorf("GetTask %v, %v; want %v", again, err, end)
	}
}

// TestRegisterRefusesBadRequests: a register without a password or with a
// malformed fingerprint is refused before anything starts, naming the
// field and never the password.
func TestRegisterRefusesBadRequests(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	tests := []struct {
		name  string
		req   *vasagwv1.RegisterProviderRequest
		field string
	}{
		{"no password", &vasagwv1.RegisterProviderRequest{Parent: "vcenters/default", DisplayName: "x", Url: "https://127.0.0.1:1/vasa", Username: "u"}, "password"},
		{"no url", &vasagwv1.RegisterProviderRequest{Parent: "vcenters/default", DisplayName: "x", Username: "u", Password: providerPassword}, "url"},
		{"url with a password in it", &vasagwv1.RegisterProviderRequest{Parent: "vcenters/default", DisplayName: "x", Url: "https://u:" + providerPassword + "@127.0.0.1:1/vasa", Username: "u", Password: providerPassword}, "url"},
		{"short fingerprint", &vasagwv1.RegisterProviderRequest{Parent: "vcenters/default", DisplayName: "x", Url: "https://127.0.0.1:1/vasa", Username: "u", Password: providerPassword, CertificateSha256Fingerprint: "AB:CD"}, "certificate_sha256_fingerprint"},
	}
	for _, tt := range tests {
		_, err := f.providers.RegisterProvider(testContext(t), tt.req)
		f.out.record(err)
		st := wantStatus(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() != tt.field {
				t.Errorf("%s: field %s, want %s", tt.name, br.GetFieldViolations()[0].GetField(), tt.field)
			}
		}
	}
	if n := f.sim.Sim.Calls("RegisterProvider_Task"); n != 0 {
		t.Errorf("%d registers reached vCenter", n)
	}
}

// TestSyncTwiceConcurrently: the second of two concurrent syncs is ABORTED
// SYNC_IN_PROGRESS, vCenter's own fault through the one mapping.
func TestSyncTwiceConcurrently(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	f.sim.Sim.SetSpeed(1) // the first sync runs two seconds
	ctx := testContext(t)
	errs := make([]error, 2)
	tasks := make([]*vasagwv1.Task, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			tasks[i], errs[i] = f.providers.SyncProvider(ctx, &vasagwv1.SyncProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
		})
	}
	wg.Wait()
	ok, aborted := 0, 0
	for i, err := range errs {
		f.out.record(err)
		switch {
		case err == nil:
			ok++
			if tasks[i].GetKind() != vasagwv1.Task_KIND_SYNC || tasks[i].GetTarget() != "vcenters/default/vasaProviders/vp-1" {
				t.Errorf("sync task %v", tasks[i])
			}
		default:
			wantStatus(t, err, codes.Aborted, "SYNC_IN_PROGRESS")
			aborted++
		}
	}
	if ok != 1 || aborted != 1 {
		t.Fatalf("%d syncs started and %d aborted, want 1 and 1: %v", ok, aborted, errs)
	}
	code, body := f.restCall(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:sync", "{}")
	if code != http.StatusConflict || !strings.Contains(body, "SYNC_IN_PROGRESS") {
		t.Errorf("REST sync during a sync: %d %s", code, body)
	}
}

// TestLifecycleRequestIDs: the same caller resending a request_id gets the
// same task (a retried sync is not aborted by its own first call); the id
// sent to another operation or target is REQUEST_ID_REUSED.
func TestLifecycleRequestIDs(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	f.sim.Sim.SetSpeed(1)
	ctx := testContext(t)
	id := uuid()
	first, err := f.providers.SyncProvider(ctx, &vasagwv1.SyncProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.providers.SyncProvider(ctx, &vasagwv1.SyncProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", RequestId: strings.ToUpper(id)})
	if err != nil || again.GetName() != first.GetName() {
		t.Fatalf("retried sync: %v, %v; want %s", again, err, first.GetName())
	}
	_, err = f.providers.RefreshProviderCertificate(ctx, &vasagwv1.RefreshProviderCertificateRequest{Name: "vcenters/default/vasaProviders/vp-1", RequestId: id})
	f.out.record(err)
	wantStatus(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	_, err = f.providers.SyncProvider(ctx, &vasagwv1.SyncProviderRequest{Name: "vcenters/default/vasaProviders/vp-2", RequestId: id})
	wantStatus(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	_, err = f.providers.RecoverProvider(ctx, &vasagwv1.RecoverProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", Username: "u", Password: providerPassword, RequestId: id})
	f.out.record(err)
	wantStatus(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")

	f.sim.Sim.SetSpeed(20) // the register's task fails half-way through
	reg := uuid()
	task, err := f.providers.RegisterProvider(ctx, &vasagwv1.RegisterProviderRequest{
		Parent: "vcenters/default", DisplayName: "array-new", Url: "https://127.0.0.1:1/vasa/version.xml",
		Username: "u", Password: providerPassword, RequestId: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	retried, err := f.providers.RegisterProvider(ctx, &vasagwv1.RegisterProviderRequest{
		Parent: "vcenters/default", DisplayName: "array-new", Url: "https://127.0.0.1:1/vasa/version.xml",
		Username: "u", Password: providerPassword, RequestId: reg,
	})
	if err != nil || retried.GetName() != task.GetName() {
		t.Errorf("retried register: %v, %v; want %s", retried, err, task.GetName())
	}
	if end := f.final(t, task); end.GetState() != vasagwv1.Task_STATE_FAILED {
		t.Errorf("register of a URL nobody serves ended %v", end)
	}
	_, err = f.providers.UnregisterProvider(ctx, &vasagwv1.UnregisterProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", RequestId: reg})
	wantStatus(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	if n := f.sim.Sim.Calls("RegisterProvider_Task"); n != 1 {
		t.Errorf("%d registers reached vCenter, want 1", n)
	}
}

// TestRefreshProviderCertificate: the refresh is one SmsTask of its kind.
func TestRefreshProviderCertificate(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	task, err := f.providers.RefreshProviderCertificate(testContext(t), &vasagwv1.RefreshProviderCertificateRequest{Name: "vcenters/default/vasaProviders/vp-1"})
	if err != nil {
		t.Fatal(err)
	}
	end := f.final(t, task)
	if end.GetKind() != vasagwv1.Task_KIND_REFRESH_CERTIFICATE || end.GetState() != vasagwv1.Task_STATE_SUCCEEDED || len(end.GetSteps()) != 0 {
		t.Errorf("refresh ended %v", end)
	}
}

const vp3 = "vcenters/default/vasaProviders/vp-3"

// recoverRequest is the recovery call of vp-3 the tests send.
func recoverRequest(requestID, fingerprint string) *vasagwv1.RecoverProviderRequest {
	return &vasagwv1.RecoverProviderRequest{
		Name: vp3, Username: "vasa-admin", Password: providerPassword,
		CertificateSha256Fingerprint: fingerprint, RequestId: requestID,
	}
}

// checkSteps checks that a watch saw a recovery's steps move forward in
// order: no step starts before the one before it succeeded, no step goes
// back, and every snapshot has all four steps.
func checkSteps(t *testing.T, seen []*vasagwv1.Task) {
	t.Helper()
	kinds := []vasagwv1.TaskStep_Kind{vasagwv1.TaskStep_KIND_PREFLIGHT, vasagwv1.TaskStep_KIND_UNREGISTER, vasagwv1.TaskStep_KIND_REGISTER, vasagwv1.TaskStep_KIND_WAIT_ONLINE}
	prev := make([]vasagwv1.Task_State, len(kinds))
	for n, task := range seen {
		steps := task.GetSteps()
		if len(steps) != len(kinds) {
			t.Fatalf("snapshot %d has steps %v", n, steps)
		}
		for i, s := range steps {
			if s.GetKind() != kinds[i] {
				t.Fatalf("snapshot %d step %d is %v, want %v", n, i, s.GetKind(), kinds[i])
			}
			if s.GetState() < prev[i] {
				t.Errorf("snapshot %d: step %v went back from %v to %v", n, s.GetKind(), prev[i], s.GetState())
			}
			if i > 0 && s.GetState() != vasagwv1.Task_STATE_QUEUED && steps[i-1].GetState() != vasagwv1.Task_STATE_SUCCEEDED {
				t.Errorf("snapshot %d: step %v is %v while %v is %v", n, s.GetKind(), s.GetState(), steps[i-1].GetKind(), steps[i-1].GetState())
			}
			prev[i] = s.GetState()
		}
	}
}

// TestRecoverPreflightRefuses: while vp-3's URL still presents its expired
// certificate the recovery is refused PROVIDER_CERTIFICATE_NOT_RENEWED with
// the missing step, and nothing is unregistered; a provider that needs no
// recovery is refused RECOVERY_NOT_NEEDED; after the renewal, a provider
// that cannot be reached is PROVIDER_UNREACHABLE, and a fingerprint that is
// not the presented certificate's is CERTIFICATE_FINGERPRINT_MISMATCH.
func TestRecoverPreflightRefuses(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := testContext(t)

	_, err := f.providers.RecoverProvider(ctx, recoverRequest(uuid(), ""))
	f.out.record(err)
	st := wantStatus(t, err, codes.FailedPrecondition, "PROVIDER_CERTIFICATE_NOT_RENEWED")
	var help, precondition bool
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.Help:
			help = len(d.GetLinks()) == 1 && strings.Contains(d.GetLinks()[0].GetDescription(), "Provision a new self-signed certificate on the provider")
		case *errdetails.PreconditionFailure:
			precondition = strings.Contains(d.GetViolations()[0].GetDescription(), "provision a new self-signed certificate")
		}
	}
	if !help || !precondition {
		t.Errorf("refusal lacks the missing step in Help and PreconditionFailure: %v", st.Proto())
	}
	presented, err := f.sim.Sim.PresentedCertificate("vp-3")
	if err != nil {
		t.Fatal(err)
	}
	if got := errorInfo(t, st).GetMetadata()["certificateSha256Fingerprint"]; got != sha256Of(t, presented) {
		t.Errorf("refusal names fingerprint %q, want the presented %q", got, sha256Of(t, presented))
	}
	code, body := f.restCall(t, http.MethodPost, "/v1/"+vp3+":recover", `{"username":"vasa-admin","password":"`+providerPassword+`"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "PROVIDER_CERTIFICATE_NOT_RENEWED") {
		t.Errorf("REST recover before renewal: %d %s", code, body)
	}

	_, err = f.providers.RecoverProvider(ctx, &vasagwv1.RecoverProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", Username: "u", Password: providerPassword})
	f.out.record(err)
	wantStatus(t, err, codes.FailedPrecondition, "RECOVERY_NOT_NEEDED")

	renewed, err := f.sim.Sim.RenewProviderCertificate("vp-3")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sim.Sim.SetProviderReachable("vp-3", false); err != nil {
		t.Fatal(err)
	}
	_, err = f.providers.RecoverProvider(ctx, recoverRequest(uuid(), ""))
	f.out.record(err)
	wantStatus(t, err, codes.Unavailable, "PROVIDER_UNREACHABLE")
	if err := f.sim.Sim.SetProviderReachable("vp-3", true); err != nil {
		t.Fatal(err)
	}
	_, err = f.providers.RecoverProvider(ctx, recoverRequest(uuid(), strings.Repeat("ab", 32)))
	f.out.record(err)
	st = wantStatus(t, err, codes.FailedPrecondition, "CERTIFICATE_FINGERPRINT_MISMATCH")
	if got := errorInfo(t, st).GetMetadata()["certificateSha256Fingerprint"]; got != sha256Of(t, renewed) {
		t.Errorf("mismatch names fingerprint %q, want the presented %q", got, sha256Of(t, renewed))
	}

	if n := f.sim.Sim.Calls("UnregisterProvider_Task"); n != 0 {
		t.Errorf("the simulator counted %d unregisters; a refused recovery must change nothing", n)
	}
	if _, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: vp3}); err != nil {
		t.Errorf("vp-3 after refused recoveries: %v", err)
	}
}

// TestRecoverEndToEnd: after the storage admin renewed vp-3's certificate,
// the recovery unregisters it, registers it again with the new
// certificate and waits until it is online; a watch sees the steps in
// order, and the result names the new provider.
func TestRecoverEndToEnd(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := testContext(t)
	old, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: vp3})
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := f.sim.Sim.RenewProviderCertificate("vp-3")
	if err != nil {
		t.Fatal(err)
	}
	id := uuid()
	task, err := f.providers.RecoverProvider(ctx, recoverRequest(id, sha256Of(t, renewed)))
	f.out.record(err)
	if err != nil {
		t.Fatal(err)
	}
	if task.GetKind() != vasagwv1.Task_KIND_RECOVER || task.GetTarget() != vp3 || !strings.HasPrefix(task.GetName(), "vcenters/default/tasks/"+gatewayTaskPrefix) {
		t.Fatalf("recover answered %v", task)
	}
	seen := f.watch(t, task.GetName())
	checkSteps(t, seen)
	if len(seen) < 3 {
		t.Errorf("the watch saw %d snapshots; a recovery has several steps to show", len(seen))
	}
	end := seen[len(seen)-1]
	if end.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("recovery ended %v", end)
	}
	for _, s := range end.GetSteps() {
		if s.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
			t.Errorf("step %v ended %v", s.GetKind(), s.GetState())
		}
	}
	if end.GetSteps()[1].GetTask() == "" || end.GetSteps()[2].GetTask() == "" {
		t.Errorf("unregister and register steps name no SmsTask: %v", end.GetSteps())
	}
	if end.GetResult() == "" || end.GetResult() == vp3 {
		t.Fatalf("result %q, want the new provider", end.GetResult())
	}
	got, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: end.GetResult()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetDisplayName() != old.GetDisplayName() || got.GetUrl() != old.GetUrl() ||
		got.GetCertificateSha256Fingerprint() != sha256Of(t, renewed) ||
		(got.GetStatus() != vasagwv1.VasaProvider_STATUS_ONLINE && got.GetStatus() != vasagwv1.VasaProvider_STATUS_CONNECTED) {
		t.Errorf("recovered provider %v", got)
	}
	_, err = f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: vp3})
	f.out.record(err)
	wantStatus(t, err, codes.NotFound, "PROVIDER_NOT_FOUND")
	// The same call again is answered with the same, finished task.
	again, err := f.providers.RecoverProvider(ctx, recoverRequest(id, sha256Of(t, renewed)))
	if err != nil || again.GetName() != task.GetName() || again.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Errorf("repeated recover: %v, %v", again, err)
	}
	if n := f.sim.Sim.Calls("UnregisterProvider_Task"); n != 1 {
		t.Errorf("%d unregisters, want 1", n)
	}
}

// TestRecoverResumesAfterFailedRegister: a register that fails after the
// unregister ends the recovery FAILED naming the step; the same call
// resumes from that step (no second unregister) and finishes.
func TestRecoverResumesAfterFailedRegister(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := testContext(t)
	if _, err := f.sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	f.sim.Sim.InjectTaskFault("RegisterProvider_Task", "", &smstypes.ProviderRegistrationFault{})
	id := uuid()
	task, err := f.providers.RecoverProvider(ctx, recoverRequest(id, ""))
	if err != nil {
		t.Fatal(err)
	}
	seen := f.watch(t, task.GetName())
	checkSteps(t, seen)
	end := seen[len(seen)-1]
	if end.GetState() != vasagwv1.Task_STATE_FAILED {
		t.Fatalf("recovery with a failing register ended %v", end)
	}
	st := status.FromProto(end.GetError())
	info := errorInfo(t, st)
	if info.GetMetadata()["step"] != "KIND_REGISTER" || !strings.Contains(st.Message(), "KIND_REGISTER") || info.GetReason() != "PROVIDER_REGISTRATION_FAULT" {
		t.Errorf("failed recovery's error does not name the step: %v", st.Proto())
	}
	if s := end.GetSteps(); s[1].GetState() != vasagwv1.Task_STATE_SUCCEEDED || s[2].GetState() != vasagwv1.Task_STATE_FAILED || s[3].GetState() != vasagwv1.Task_STATE_QUEUED {
		t.Errorf("steps %v", s)
	}

	f.sim.Sim.ClearFaults()
	resumed, err := f.providers.RecoverProvider(ctx, recoverRequest(id, ""))
	f.out.record(err)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.GetName() == task.GetName() {
		t.Fatalf("resume answered the failed attempt %v", resumed)
	}
	seen = f.watch(t, resumed.GetName())
	checkSteps(t, seen)
	end = seen[len(seen)-1]
	if end.GetState() != vasagwv1.Task_STATE_SUCCEEDED || end.GetResult() == "" {
		t.Fatalf("resumed recovery ended %v", end)
	}
	if first := seen[0].GetSteps(); first[1].GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Errorf("the resumed attempt did not start after the unregister: %v", first)
	}
	if _, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: end.GetResult()}); err != nil {
		t.Errorf("recovered provider: %v", err)
	}
	if n := f.sim.Sim.Calls("UnregisterProvider_Task"); n != 1 {
		t.Errorf("%d unregisters, want 1", n)
	}
	if n := f.sim.Sim.Calls("RegisterProvider_Task"); n != 2 {
		t.Errorf("%d registers, want 2", n)
	}
	// Once finished, the same call answers the finished attempt.
	again, err := f.providers.RecoverProvider(ctx, recoverRequest(id, ""))
	if err != nil || again.GetName() != resumed.GetName() {
		t.Errorf("repeated recover: %v, %v; want %s", again, err, resumed.GetName())
	}
}

// TestGatewayTaskWatchesDoNotLeak: watchers of a gateway task, those that
// leave early and those that stay to the end, leave no goroutine behind;
// a task still running when the service closes stops its work and ends
// FAILED (UNAVAILABLE SHUTTING_DOWN), which its watchers see last. Not parallel: goleak sees the whole
// process.
func TestGatewayTaskWatchesDoNotLeak(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, baseline,
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
	})
	f := newLifecycleFixture(t)
	ctx := testContext(t)
	f.sim.Sim.SetSpeed(4)
	if _, err := f.sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	task, err := f.providers.RecoverProvider(ctx, recoverRequest(uuid(), ""))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ends := make([]*vasagwv1.Task, 3)
	for i := range 6 {
		wctx, cancel := context.WithCancel(ctx)
		stream, err := f.tasks.WatchTask(wctx, &vasagwv1.WatchTaskRequest{Name: task.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer cancel()
			for {
				got, err := stream.Recv()
				if err != nil {
					if !errors.Is(err, io.EOF) && status.Code(err) != codes.Canceled {
						t.Errorf("watcher %d: %v", i, err)
					}
					return
				}
				if i >= 3 { // leaves after the first snapshot
					return
				}
				ends[i] = got
			}
		})
	}
	wg.Wait()
	for i, end := range ends {
		if end.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
			t.Errorf("watcher %d ended at %v", i, end)
		}
	}
	_, err = f.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: "vcenters/default/tasks/" + gatewayTaskPrefix + uuid()})
	wantStatus(t, err, codes.NotFound, "TASK_NOT_FOUND")
	stream, err := f.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: "vcenters/default/tasks/" + gatewayTaskPrefix + uuid()})
	if err == nil {
		_, err = stream.Recv()
	}
	wantStatus(t, err, codes.NotFound, "TASK_NOT_FOUND")

	// A register whose SmsTask runs long is still running at Close.
	f.sim.Sim.SetSpeed(0.01)
	reg, err := f.providers.RegisterProvider(ctx, &vasagwv1.RegisterProviderRequest{
		Parent: "vcenters/default", DisplayName: "slow", Url: "https://127.0.0.1:1/vasa/version.xml",
		Username: "u", Password: providerPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := f.tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: reg.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	f.svc.Close()
	var last *vasagwv1.Task
	for {
		got, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("watch of a task interrupted by Close: %v", err)
		}
		last = got
	}
	// The task's work stopped: it failed, and says why.
	if last.GetState() != vasagwv1.Task_STATE_FAILED {
		t.Fatalf("last snapshot %v", last)
	}
	wantStatus(t, status.FromProto(last.GetError()).Err(), codes.Unavailable, "SHUTTING_DOWN")
	if end, err := f.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: reg.GetName()}); err != nil || end.GetState() != vasagwv1.Task_STATE_FAILED {
		t.Errorf("register interrupted by Close: %v, %v", end, err)
	}
	if p, s := f.svc.WatchStats(); p != 0 || s != 0 {
		t.Errorf("after Close: %d pollers, %d subscribers", p, s)
	}
}

// TestRecoverAfterFailedUnregister: a recovery whose unregister failed left
// the provider registered; the same call (here without a request_id)
// starts over, pre-flight included, and finishes.
func TestRecoverAfterFailedUnregister(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := testContext(t)
	if _, err := f.sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	f.sim.Sim.InjectTaskFault("UnregisterProvider_Task", "", &smstypes.ProviderUnregistrationFault{})
	task, err := f.providers.RecoverProvider(ctx, recoverRequest("", ""))
	if err != nil {
		t.Fatal(err)
	}
	end := f.final(t, task)
	st := status.FromProto(end.GetError())
	if end.GetState() != vasagwv1.Task_STATE_FAILED || errorInfo(t, st).GetMetadata()["step"] != "KIND_UNREGISTER" {
		t.Fatalf("recovery with a failing unregister ended %v", end)
	}
	if _, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: vp3}); err != nil {
		t.Fatalf("vp-3 after a failed unregister: %v", err)
	}
	f.sim.Sim.ClearFaults()
	again, err := f.providers.RecoverProvider(ctx, recoverRequest("", ""))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetName() == task.GetName() {
		t.Fatalf("the retry answered the failed attempt")
	}
	if end := f.final(t, again); end.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("retried recovery ended %v", end)
	}
	if n := f.sim.Sim.Calls("UnregisterProvider_Task"); n != 2 {
		t.Errorf("%d unregisters, want 2", n)
	}
}

// TestRecoverAfterReconnectFaultedInvalidCertificate: a provider whose
// certificate vCenter reports valid, with no status fault, needs no
// recovery, until its reconnect faults InvalidCertificate; then the
// recovery gets to the pre-flight (which refuses it here: its URL still
// presents the old, expired certificate).
func TestRecoverAfterReconnectFaultedInvalidCertificate(t *testing.T) {
	t.Parallel()
	f := newLifecycleFixture(t)
	ctx := testContext(t)
	p := smssim.DefaultProviders()[2] // vp-3's seed: reconnect faults InvalidCertificate
	p.ID = "vp-quiet"
	p.Info.Name = "array-quiet"
	p.Info.Url = "https://array-quiet.example.test:8443/vasa/version.xml"
	p.Info.Uid = "5b1e2c9a-7d4f-4e8b-9a1c-0000000000aa"
	p.Info.CertificateStatus = "valid"
	p.Info.StatusFault = nil
	f.sim.Sim.AddProvider(p)
	name := "vcenters/default/vasaProviders/vp-quiet"
	req := &vasagwv1.RecoverProviderRequest{Name: name, Username: "vasa-admin", Password: providerPassword}

	_, err := f.providers.RecoverProvider(ctx, req)
	f.out.record(err)
	wantStatus(t, err, codes.FailedPrecondition, "RECOVERY_NOT_NEEDED")
	_, err = f.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name})
	wantStatus(t, err, codes.FailedPrecondition, "INVALID_CERTIFICATE")
	_, err = f.providers.RecoverProvider(ctx, req)
	f.out.record(err)
	wantStatus(t, err, codes.FailedPrecondition, "PROVIDER_CERTIFICATE_NOT_RENEWED")
}
