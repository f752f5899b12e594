package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
)

func TestListVasaProvidersPagesOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)

	var names []string
	token := ""
	for page := 0; ; page++ {
		resp, err := g.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 4, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetVasaProviders()) > 4 {
			t.Fatalf("page %d has %d providers, page_size 4", page, len(resp.GetVasaProviders()))
		}
		for _, p := range resp.GetVasaProviders() {
			names = append(names, p.GetName())
		}
		// The same page over REST is the same message.
		path := "/v1/vcenters/default/vasaProviders?pageSize=4"
		if token != "" {
			path += "&pageToken=" + token
		}
		r := g.rest(t, http.MethodGet, path, "")
		if r.code != http.StatusOK {
			t.Fatalf("REST list: %d %s", r.code, r.body)
		}
		restResp := &vasagwv1.ListVasaProvidersResponse{}
		if err := protojson.Unmarshal(r.body, restResp); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(resp, restResp, protocmp.Transform()); diff != "" {
			t.Errorf("REST page differs from gRPC page (-grpc +rest):\n%s", diff)
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	want := []string{
		"vcenters/default/vasaProviders/vp-1", "vcenters/default/vasaProviders/vp-2", "vcenters/default/vasaProviders/vp-3",
		"vcenters/default/vasaProviders/vp-4", "vcenters/default/vasaProviders/vp-5", "vcenters/default/vasaProviders/vp-6",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("provider names (-want +got):\n%s", diff)
	}
}

// TestListSkipsProviderGoneMidList: a provider that QueryProvider still
// named but whose info is already gone (unregistered in between) is left
// off the page rather than failing the list.
func TestListSkipsProviderGoneMidList(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.sim.Sim.InjectFault("QueryProviderInfo", "vp-4", &vimtypes.ManagedObjectNotFound{Obj: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-4"}})
	resp, err := g.providers.ListVasaProviders(testContext(t), &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range resp.GetVasaProviders() {
		names = append(names, strings.TrimPrefix(p.GetName(), "vcenters/default/vasaProviders/"))
	}
	if diff := cmp.Diff([]string{"vp-1", "vp-2", "vp-3", "vp-5", "vp-6"}, names); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
}

func TestGetVasaProvider(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	p, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-3"})
	if err != nil {
		t.Fatal(err)
	}
	if p.GetStatus() != vasagwv1.VasaProvider_STATUS_DISCONNECTED || p.GetCertificateStatus() != vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRED {
		t.Errorf("vp-3 = status %v certificate %v, want disconnected and expired", p.GetStatus(), p.GetCertificateStatus())
	}
	if p.GetCertificateExpireTime() == nil || p.GetUid() == "" || p.GetUrl() == "" || p.GetVasaVersion() == "" || p.GetDisplayName() == "" {
		t.Errorf("vp-3 lacks fields: %v", p)
	}

	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-3", "")
	if r.code != http.StatusOK {
		t.Fatalf("REST get: %d %s", r.code, r.body)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "uid", "displayName", "url", "vasaVersion", "status", "certificateStatus", "certificateExpireTime"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("REST body lacks %q: %s", k, r.body)
		}
	}
	if raw["status"] != "STATUS_DISCONNECTED" || raw["certificateStatus"] != "CERTIFICATE_STATUS_EXPIRED" {
		t.Errorf("REST enums not by name: %s", r.body)
	}
}

func TestReconnectAndWatchToCompletion(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	for _, via := range []string{"grpc", "ndjson", "sse"} {
		t.Run(via, func(t *testing.T) {
			// Each watcher gets its own provider so that each sees a whole task.
			id := "vp-watch-" + via
			g.sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: 4 * time.Second})
			task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + id})
			if err != nil {
				t.Fatal(err)
			}
			if task.GetTarget() != "vcenters/default/vasaProviders/"+id {
				t.Errorf("task target %q", task.GetTarget())
			}
			var tasks []*vasagwv1.Task
			switch via {
			case "grpc":
				tasks, err = watchGRPC(ctx, g.tasks, task.GetName())
			case "ndjson":
				tasks, err = watchNDJSON(ctx, g.base, task.GetName())
			case "sse":
				var events []sseEvent
				events, _, err = watchSSE(ctx, g.base, task.GetName())
				lastID := 0
				for _, e := range events {
					if e.event != "task" {
						t.Fatalf("event %q: %s", e.event, e.data)
					}
					var n int
					fmt.Sscan(e.id, &n)
					if n <= lastID {
						t.Errorf("event id %q does not increase after %d", e.id, lastID)
					}
					lastID = n
					tk := &vasagwv1.Task{}
					if err := protojson.Unmarshal([]byte(e.data), tk); err != nil {
						t.Fatalf("event data %s: %v", e.data, err)
					}
					tasks = append(tasks, tk)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			checkProgression(t, tasks, vasagwv1.Task_STATE_SUCCEEDED)
			sawRunning := false
			for _, tk := range tasks {
				sawRunning = sawRunning || tk.GetState() == vasagwv1.Task_STATE_RUNNING && tk.GetProgressPercent() > 0
			}
			if !sawRunning {
				t.Errorf("never saw a running task with progress: %v", tasks)
			}
			p, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/" + id})
			if err != nil {
				t.Fatal(err)
			}
			if p.GetStatus() != vasagwv1.VasaProvider_STATUS_CONNECTED {
				t.Errorf("after the reconnect the provider is %v", p.GetStatus())
			}
			got, err := g.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: task.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetState() != vasagwv1.Task_STATE_SUCCEEDED || got.GetCompletionTime() == nil {
				t.Errorf("GetTask after completion: %v", got)
			}
		})
	}
}

// disconnectedInfo is the info of a fresh disconnected, reconnectable
// provider, modelled on the seeded vp-2.
func disconnectedInfo(id string) types.VasaProviderInfo {
	info := smssim.DefaultProviders()[1].Info
	info.Uid = "uid-" + id
	info.Name = "array-" + id
	return info
}

func TestReconnectRequestIDReturnsTheSameTask(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	const reqID = "0b5b2f4e-39a1-4f7e-9f43-6a2c1d0e8b77"
	first := g.rest(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-2:reconnect", `{"requestId":"`+reqID+`"}`)
	if first.code != http.StatusOK {
		t.Fatalf("first reconnect: %d %s", first.code, first.body)
	}
	var a vasagwv1.Task
	if err := protojson.Unmarshal(first.body, &a); err != nil {
		t.Fatal(err)
	}
	// The retry comes after the task finished: still the same task, not a new one.
	if _, err := watchGRPC(ctx, g.tasks, a.GetName()); err != nil {
		t.Fatal(err)
	}
	b, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-2", RequestId: strings.ToUpper(reqID)})
	if err != nil {
		t.Fatal(err)
	}
	if b.GetName() != a.GetName() {
		t.Errorf("retry returned %s, first call %s", b.GetName(), a.GetName())
	}
	if n := g.sim.Sim.Calls("VasaProviderReconnect_Task"); n != 1 {
		t.Errorf("upstream reconnect calls = %d, want 1", n)
	}
	// The same request id for another provider is a caller error.
	_, err = g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1", RequestId: reqID})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("request id reused for another provider: %v, want InvalidArgument", err)
	}
}

func TestConcurrentReconnectsShareOneUpstreamTask(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	// Warm the provider facts so that the callers race on the reconnect itself.
	if _, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-2"}); err != nil {
		t.Fatal(err)
	}
	const callers = 16
	names := make([]string, callers)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-2"})
			if err != nil {
				errs <- err
				return
			}
			names[i] = task.GetName()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, n := range names {
		if n != names[0] {
			t.Errorf("caller %d got %s, caller 0 got %s", i, n, names[0])
		}
	}
	if n := g.sim.Sim.Calls("VasaProviderReconnect_Task"); n != 1 {
		t.Errorf("upstream reconnect calls = %d, want 1", n)
	}
}

func TestReconnectFaults(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	tests := []struct {
		name     string
		provider string
		code     codes.Code
		http     int
		reason   string
	}{
		{name: "expired certificate", provider: "vp-3", code: codes.FailedPrecondition, http: 400, reason: "INVALID_CERTIFICATE"},
		{name: "unreachable provider", provider: "vp-4", code: codes.Unavailable, http: 503, reason: "PROVIDER_CONNECTION_FAILED"},
		{name: "VASA 1.0", provider: "vp-6", code: codes.FailedPrecondition, http: 400, reason: "VASA_VERSION_UNSUPPORTED"},
		{name: "unknown provider", provider: "vp-404", code: codes.NotFound, http: 404, reason: "PROVIDER_NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			name := "vcenters/default/vasaProviders/" + tt.provider
			_, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: name})
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("gRPC: %v, want %v", err, tt.code)
			}
			ei := errorInfo(t, st)
			if ei.GetReason() != tt.reason || ei.GetMetadata()["vcenter"] != "default" || ei.GetMetadata()["resource"] != name {
				t.Errorf("gRPC ErrorInfo = %v", ei)
			}
			r := g.rest(t, http.MethodPost, "/v1/"+name+":reconnect", "{}")
			if r.code != tt.http {
				t.Errorf("REST status %d, want %d: %s", r.code, tt.http, r.body)
			}
			rst := restStatus(t, r.body)
			if diff := cmp.Diff(st.Proto(), rst.Proto(), protocmp.Transform()); diff != "" {
				t.Errorf("REST status differs from gRPC status (-grpc +rest):\n%s", diff)
			}
		})
	}
	// vp-6 is refused from facts the gateway holds, never asking vCenter to reconnect.
	if n := g.sim.Sim.CallsOn("VasaProviderReconnect_Task", "vp-6"); n != 0 {
		t.Errorf("VASA 1.0 provider: %d upstream reconnect calls", n)
	}
}

func TestFailedTaskCarriesTheFault(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-5"})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := watchGRPC(ctx, g.tasks, task.GetName())
	if err != nil {
		t.Fatal(err)
	}
	checkProgression(t, tasks, vasagwv1.Task_STATE_FAILED)
	last := tasks[len(tasks)-1]
	if last.GetError() == nil {
		t.Fatalf("failed task without error: %v", last)
	}
	st := status.FromProto(last.GetError())
	if st.Code() != codes.Unavailable || errorInfo(t, st).GetReason() != "PROVIDER_CONNECTION_FAILED" {
		t.Errorf("task error = %v", st.Proto())
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	tests := []struct {
		name, method, path, body string
		http                     int
		field                    string
	}{
		{name: "unknown field", method: http.MethodPost, path: "/v1/vcenters/default/vasaProviders/vp-1:reconnect", body: `{"bogus":1}`, http: 400, field: "bogus"},
		{name: "malformed JSON", method: http.MethodPost, path: "/v1/vcenters/default/vasaProviders/vp-1:reconnect", body: `{"requestId":`, http: 400, field: "body"},
		{name: "bad request id", method: http.MethodPost, path: "/v1/vcenters/default/vasaProviders/vp-1:reconnect", body: `{"requestId":"not-a-uuid"}`, http: 400, field: "request_id"},
		{name: "bad provider id", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders/vp%20one", http: 400, field: "name"},
		{name: "negative page size", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders?pageSize=-1", http: 400, field: "page_size"},
		{name: "invalid UTF-8 in the path", method: http.MethodPost, path: "/v1/vcenters/default/vasaProviders/%f4:reconnect", body: "{}", http: 400, field: "path"},
		{name: "invalid UTF-8 in the query", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders?pageToken=%ff", http: 400, field: "pageToken"},
		{name: "forged page token", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders?pageToken=abc", http: 400, field: "page_token"},
		{name: "query value that does not parse names its parameter", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders?pageSize=abc", http: 400, field: "pageSize"},
		{name: "unknown query parameter", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders?foo=1", http: 400, field: "foo"},
		{name: "unknown query parameter on a Get", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders/vp-1?pageSize=2", http: 400, field: "pageSize"},
		{name: "query parameter on a method with a body", method: http.MethodPost, path: "/v1/vcenters/default/vasaProviders/vp-1:reconnect?requestId=x", body: "{}", http: 400, field: "requestId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := g.rest(t, tt.method, tt.path, tt.body)
			if r.code != tt.http {
				t.Fatalf("status %d, want %d: %s", r.code, tt.http, r.body)
			}
			st := restStatus(t, r.body)
			if st.Code() != codes.InvalidArgument || errorInfo(t, st).GetReason() != "INVALID_REQUEST" {
				t.Errorf("status %v", st.Proto())
			}
			var field string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
					field = br.GetFieldViolations()[0].GetField()
				}
			}
			if field != tt.field {
				t.Errorf("BadRequest field %q, want %q (%s)", field, tt.field, r.body)
			}
		})
	}
	t.Run("unknown route", func(t *testing.T) {
		r := g.rest(t, http.MethodGet, "/v2/nothing", "")
		if r.code != http.StatusNotFound || restStatus(t, r.body).Code() != codes.NotFound {
			t.Errorf("unknown route: %d %s", r.code, r.body)
		}
	})
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-2:reconnect", http.MethodPost},
		{http.MethodDelete, "/v1/vcenters/default/vasaProviders/vp-2:sync", http.MethodPost},
		{http.MethodPost, "/v1/vcenters/default/tasks/SmsTask-1:watch", http.MethodGet},
	} {
		t.Run("wrong method for a verb route "+tt.method+" "+tt.path, func(t *testing.T) {
			r := g.rest(t, tt.method, tt.path, "")
			if r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") != tt.allow {
				t.Errorf("%d Allow %q, want 405 Allow %s: %s", r.code, r.header.Get("Allow"), tt.allow, r.body)
			}
			if reason := errorInfo(t, restStatus(t, r.body)).GetReason(); reason != "METHOD_NOT_ALLOWED" {
				t.Errorf("reason %q", reason)
			}
		})
	}
	t.Run("wrong method", func(t *testing.T) {
		r := g.rest(t, http.MethodPut, "/v1/vcenters/default/vasaProviders/vp-1", "")
		if r.code != http.StatusMethodNotAllowed {
			t.Errorf("wrong method: %d %s", r.code, r.body)
		}
	})
	t.Run("gRPC bad name", func(t *testing.T) {
		_, err := g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vasaProviders/vp-1"})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("got %v", err)
		}
	})
}

func TestMoIDWithColonOverREST(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	const id = "VasaProvider:array-9.lab"
	g.sim.Sim.AddProvider(smssim.Provider{ID: id, Info: smssim.DefaultProviders()[0].Info})
	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/VasaProvider%3Aarray-9.lab", "")
	if r.code != http.StatusOK {
		t.Fatalf("GET with %%3A: %d %s", r.code, r.body)
	}
	p := &vasagwv1.VasaProvider{}
	if err := protojson.Unmarshal(r.body, p); err != nil {
		t.Fatal(err)
	}
	if p.GetName() != "vcenters/default/vasaProviders/"+id {
		t.Errorf("name %q", p.GetName())
	}
	r = g.rest(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/VasaProvider%3Aarray-9.lab:reconnect", "{}")
	if r.code != http.StatusOK {
		t.Fatalf("reconnect with %%3A: %d %s", r.code, r.body)
	}
}

func TestRequestIDIsEchoedAndLogged(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.rest(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", "{}", "X-Request-Id", "req-e2e-42")
	if r.code != http.StatusOK {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if got := r.header.Get("X-Request-Id"); got != "req-e2e-42" {
		t.Errorf("X-Request-Id = %q", got)
	}
	var hdr metadata.MD
	ctx := testContext(t)
	if _, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if len(hdr.Get("x-request-id")) != 1 {
		t.Errorf("gRPC response lacks x-request-id: %v", hdr)
	}
	logs := g.logs.String()
	if !strings.Contains(logs, `"request_id":"req-e2e-42"`) || !strings.Contains(logs, "audit") {
		t.Errorf("audit line with the request id not logged:\n%s", logs)
	}
	if strings.Contains(logs, g.sim.Password) && len(g.sim.Password) > 3 {
		t.Errorf("the vCenter password appears in the logs")
	}
}

func TestShutdownEndsWatchesWithUnavailable(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-slow", Info: disconnectedInfo("vp-slow"), ReconnectDuration: time.Hour})
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-slow"})
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
	g.stop()
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		st := status.Convert(err)
		if st.Code() != codes.Unavailable {
			t.Fatalf("watch ended with %v, want UNAVAILABLE", err)
		}
		hasRetry := false
		for _, d := range st.Details() {
			_, ok := d.(*errdetails.RetryInfo)
			hasRetry = hasRetry || ok
		}
		if !hasRetry {
			t.Errorf("shutdown status without RetryInfo: %v", st.Proto())
		}
		break
	}
	if err := g.wait(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestRetryAfter checks that every REST answer whose status carries a
// RetryInfo also says so in Retry-After, in whole seconds: a provider that
// refused the connection (503) and a caller over its reconnect rate (429).
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--reconnect-rate=1/h")
	r := g.rest(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-4:reconnect", "{}")
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("vp-4 reconnect: %d %s", r.code, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("503 without Retry-After: %q", ra)
	}
	r = g.rest(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", "{}")
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("second reconnect within the rate: %d %s", r.code, r.body)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 3000 || secs > 3600 {
		t.Errorf("429 Retry-After %q, want the seconds until the next call passes (about 3600)", r.header.Get("Retry-After"))
	}
	r = g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", "")
	if r.code != http.StatusOK || r.header.Get("Retry-After") != "" {
		t.Errorf("a successful call: %d Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
}
