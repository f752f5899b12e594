package vijson_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

// fault decodes a 500 answer as a MethodFault of type F.
func fault[F any](t testing.TB, a answer) *F {
	t.Helper()
	if a.code != http.StatusInternalServerError || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("want a 500 application/json fault, got %d %q: %s", a.code, a.header.Get("Content-Type"), a.body)
	}
	var v any
	v = decode[any](t, a)
	f, ok := v.(*F)
	if !ok {
		// govmomi's decoder yields values, not pointers, for interface targets.
		if fv, ok2 := v.(F); ok2 {
			return &fv
		}
		t.Fatalf("want a %T fault, got %T: %s", *new(F), v, a.body)
	}
	return f
}

// pollTask polls QuerySmsTaskInfo until the task is done.
func (e *env) pollTask(t *testing.T, task string, header ...string) (smstypes.SmsTaskInfo, answer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		a := e.post(t, sms+"SmsTask/"+task+"/QuerySmsTaskInfo", "{}", header...)
		if a.code != http.StatusOK {
			t.Fatalf("QuerySmsTaskInfo: %d %s", a.code, a.body)
		}
		info := decode[smstypes.SmsTaskInfo](t, a)
		if info.State == "success" || info.State == "error" {
			return info, a
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s still %s", task, info.State)
		case <-tick.C:
		}
	}
}

func TestReconnectPollAndProviderInfo(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sms+"VasaProvider/vp-2/VasaProviderReconnect_Task", "")
	if a.code != http.StatusOK {
		t.Fatalf("reconnect: %d %s", a.code, a.body)
	}
	golden(t, "reconnect_vp-2", a)
	ref := decode[vimtypes.ManagedObjectReference](t, a)
	if ref.Type != "SmsTask" || ref.Value == "" {
		t.Fatalf("reconnect answered %+v, want an SmsTask reference", ref)
	}

	info, last := e.pollTask(t, ref.Value)
	if info.State != "success" || info.Task != ref || info.Error != nil {
		t.Fatalf("task info %+v, want success of %v", info, ref)
	}
	if info.Object == nil || *info.Object != (vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-2"}) {
		t.Fatalf("task object %v, want VasaProvider:vp-2", info.Object)
	}
	if info.StartTime == nil || info.CompletionTime == nil {
		t.Fatalf("task times missing: %+v", info)
	}
	golden(t, "query_task_info_success", last)

	a = e.post(t, sms+"VasaProvider/vp-2/QueryProviderInfo", "{}")
	if a.code != http.StatusOK {
		t.Fatalf("QueryProviderInfo: %d %s", a.code, a.body)
	}
	p := decode[smstypes.VasaProviderInfo](t, a)
	if p.Status != "connected" || p.Name != "array-b" || p.Uid == "" || p.Url == "" {
		t.Fatalf("provider info %+v, want array-b connected", p)
	}
	golden(t, "query_provider_info_vp-2", a)

	a = e.post(t, sms+"SmsTask/"+ref.Value+"/QuerySmsTaskResult", "")
	if a.code != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("QuerySmsTaskResult of a reconnect: %d %s, want 204", a.code, a.body)
	}
}

func TestInvalidCertificateFault(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sms+"VasaProvider/vp-3/VasaProviderReconnect_Task", "{}")
	f := fault[smstypes.InvalidCertificate](t, a)
	want, ok := e.sim.Sim.Provider("vp-3")
	if !ok {
		t.Fatal("no vp-3 in the simulator")
	}
	if f.Certificate == "" || f.Certificate != want.Certificate {
		t.Fatalf("InvalidCertificate.certificate %q, want the provider's certificate", f.Certificate)
	}
	if len(f.FaultMessage) == 0 || f.FaultMessage[0].Message == "" {
		t.Fatalf("InvalidCertificate without faultMessage: %s", a.body)
	}
	golden(t, "reconnect_vp-3_invalid_certificate", a)
}

func TestGatewayFaults(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path, body string
		golden           string
		check            func(t *testing.T, a answer)
	}{
		{
			name: "unknown provider moId", path: sms + "VasaProvider/vp-404/QueryProviderInfo", golden: "unknown_moid",
			check: func(t *testing.T, a answer) {
				f := fault[vimtypes.ManagedObjectNotFound](t, a)
				if f.Obj != (vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-404"}) {
					t.Errorf("obj %v", f.Obj)
				}
			},
		},
		{
			name: "unknown task moId", path: sms + "SmsTask/SmsTask-404/QuerySmsTaskInfo",
			check: func(t *testing.T, a answer) { fault[vimtypes.ManagedObjectNotFound](t, a) },
		},
		{
			name: "unknown moType", path: sms + "Datastore/ds-1/QueryProviderInfo",
			check: func(t *testing.T, a answer) { fault[vimtypes.ManagedObjectNotFound](t, a) },
		},
		{
			name: "unknown method", path: sms + "VasaProvider/vp-1/Destroy_Task", golden: "unknown_method",
			check: func(t *testing.T, a answer) {
				f := fault[vimtypes.MethodNotFound](t, a)
				if f.Method != "Destroy_Task" || f.Receiver.Value != "vp-1" {
					t.Errorf("MethodNotFound %+v", f)
				}
			},
		},
		{
			name: "body not JSON", path: sms + "VasaProvider/vp-1/QueryProviderInfo", body: "{", golden: "bad_body",
			check: func(t *testing.T, a answer) { fault[vimtypes.InvalidRequest](t, a) },
		},
		{
			name: "unknown parameter", path: sms + "VasaProvider/vp-1/QueryProviderInfo", body: `{"bogus":1}`,
			check: func(t *testing.T, a answer) { fault[vimtypes.InvalidRequest](t, a) },
		},
		{
			name: "_this of another object", path: sms + "VasaProvider/vp-1/QueryProviderInfo",
			body:  `{"_this":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vp-2"}}`,
			check: func(t *testing.T, a answer) { fault[vimtypes.InvalidRequest](t, a) },
		},
		{
			name: "sync of one array", path: sms + "VasaProvider/vp-1/VasaProviderSync_Task", body: `{"arrayId":"a-1"}`,
			check: func(t *testing.T, a answer) {
				if f := fault[vimtypes.InvalidArgument](t, a); f.InvalidProperty != "arrayId" {
					t.Errorf("invalidProperty %q", f.InvalidProperty)
				}
			},
		},
		{
			name: "unknown vCenter", path: "/vcenters/nowhere" + sms + "VasaProvider/vp-1/QueryProviderInfo",
			check: func(t *testing.T, a answer) { fault[vimtypes.ManagedObjectNotFound](t, a) },
		},
		{
			name: "session id unknown", path: sms + "VasaProvider/vp-1/QueryProviderInfo",
			check: func(t *testing.T, a answer) { fault[vimtypes.NotAuthenticated](t, a) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a answer
			if tt.name == "session id unknown" {
				a = e.post(t, tt.path, tt.body, "vmware-api-session-id", "0123456789abcdef0123456789abcdef01234567")
			} else {
				a = e.post(t, tt.path, tt.body)
			}
			tt.check(t, a)
			if tt.golden != "" {
				golden(t, tt.golden, a)
			}
		})
	}
}

func TestGovmomiClientRequestShape(t *testing.T) {
	// govmomi's JSON client sends the request type with `_typeName` and
	// `_this`; the facade accepts that shape.
	e := newEnv(t)
	body := `{"_typeName":"QueryProviderInfoRequestType","_this":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vp-1"}}`
	a := e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", body)
	if a.code != http.StatusOK {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if p := decode[smstypes.VasaProviderInfo](t, a); p.Name != "array-a" {
		t.Fatalf("provider %+v", p)
	}
}

func TestPathsAndReleases(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/sdk/vim25/8.0.0.0/sms/VasaProvider/vp-1/QueryProviderInfo", http.StatusNotFound},
		{"/sdk/vim25/7.0.3.0/sms/VasaProvider/vp-1/QueryProviderInfo", http.StatusNotFound},
		{"/sdk/vim25/8.0.1/sms/VasaProvider/vp-1/QueryProviderInfo", http.StatusNotFound},
		{"/sdk/vim25/8.0.2.0/sms/VasaProvider/vp-1/QueryProviderInfo", http.StatusOK},
		{"/sdk/vim25/9.0.0.0/sms/VasaProvider/vp-1/QueryProviderInfo", http.StatusOK},
		{"/vcenters/default/sdk/vim25/8.0.3.0/sms/VasaProvider/vp-1/QueryProviderInfo", http.StatusOK},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-1", http.StatusNotFound},
	} {
		if a := e.post(t, tt.path, ""); a.code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.path, a.code, a.body, tt.code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+sms+"VasaProvider/vp-1/QueryProviderInfo", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestQueryProvider(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sms+"SmsStorageManager/StorageManager/QueryProvider", "")
	if a.code != http.StatusOK {
		t.Fatalf("%d %s", a.code, a.body)
	}
	refs := decode[[]vimtypes.ManagedObjectReference](t, a)
	if len(refs) < 6 || refs[0] != (vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-1"}) {
		t.Fatalf("QueryProvider %v", refs)
	}
	if a := e.post(t, sms+"SmsStorageManager/sm-2/QueryProvider", ""); a.code != http.StatusInternalServerError {
		t.Fatalf("another storage manager: %d %s", a.code, a.body)
	}
}

func TestServiceInstance(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sms+"SmsServiceInstance/ServiceInstance/QueryStorageManager", "")
	if ref := decode[vimtypes.ManagedObjectReference](t, a); a.code != http.StatusOK || ref.Type != "SmsStorageManager" || ref.Value != "StorageManager" {
		t.Fatalf("QueryStorageManager: %d %s", a.code, a.body)
	}
	golden(t, "query_storage_manager", a)
	// apiVersion is the vCenter's sms_version as VCenterService reports it
	// once the gateway's session is logged in.
	e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", "")
	a = e.post(t, sms+"SmsServiceInstance/ServiceInstance/QueryAboutInfo", "{}")
	if about := decode[smstypes.SmsAboutInfo](t, a); a.code != http.StatusOK || about.ApiVersion != smssim.APIVersion {
		t.Fatalf("QueryAboutInfo: %d %s", a.code, a.body)
	}
	golden(t, "query_about_info", a)
	if a := e.post(t, sms+"SmsServiceInstance/si-2/QueryAboutInfo", ""); a.code != http.StatusInternalServerError {
		t.Fatalf("another service instance: %d %s", a.code, a.body)
	}
}

func TestOversizedBody(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", `{"_this":"`+strings.Repeat("x", 1<<20)+`"}`)
	f := fault[vimtypes.InvalidRequest](t, a)
	if len(f.FaultMessage) == 0 || !strings.Contains(f.FaultMessage[0].Message, "larger than the limit of 1 MiB") {
		t.Fatalf("oversized body: %s", a.body)
	}
}
