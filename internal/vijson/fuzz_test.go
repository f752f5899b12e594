package vijson_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/vijson"
)

// smsMethods are the SOAP methods the simulator counts.
var smsMethods = []string{
	"QueryStorageManager", "QueryAboutInfo", "QueryProvider", "QueryProviderInfo",
	"VasaProviderReconnect_Task", "VasaProviderSync_Task", "VasaProviderRefreshCertificate_Task",
	"RegisterProvider_Task", "UnregisterProvider_Task", "QuerySmsTaskInfo", "QuerySmsTaskResult",
}

func (e *env) upstreamCalls() int {
	n := 0
	for _, m := range smsMethods {
		n += e.sim.Sim.Calls(m)
	}
	return n
}

// FuzzVIJSONRequest feeds the facade arbitrary paths and bodies: it never
// panics, answers no 5xx but a MethodFault 500 that govmomi's decoder
// reads, and sends nothing upstream for a request it refuses as
// malformed.
func FuzzVIJSONRequest(f *testing.F) {
	for _, s := range []struct{ path, body string }{
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-1/QueryProviderInfo", ""},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-3/VasaProviderReconnect_Task", "{}"},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-1/QueryProviderInfo", `{"_this":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vp-1"}}`},
		{"/sdk/vim25/8.0.1.0/sms/SmsTask/SmsTask-9/QuerySmsTaskInfo", `{"_typeName":"QuerySmsTaskInfoRequestType"}`},
		{"/sdk/vim25/8.0.1.0/sms/SmsStorageManager/StorageManager/UnregisterProvider_Task", `{"providerId":"no-such-uid"}`},
		{"/sdk/vim25/8.0.1.0/sms/SmsStorageManager/StorageManager/QueryProvider", `{"_this":{"_typeName":"Nope"}}`},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-1/VasaProviderSync_Task", `{"arrayId":7}`},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp%3A1/QueryProviderInfo", `[]`},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-1/QueryProviderInfo", `{"_typeName":"x"} {}`},
		{"/sdk/vim25/8.0.1.0/SessionManager/SessionManager/Login", `{"userName":"u","password":1}`},
		{"/vcenters/x/sdk/vim25/9.9.9.9/sms/a/b/c", "\xff"},
		{"/sdk/vim25/8.0.1.0/sms/VasaProvider/%zz/QueryProviderInfo", ""},
	} {
		f.Add(s.path, s.body)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		unescaped, err := url.PathUnescape(path)
		if err != nil {
			unescaped = path
		}
		if strings.Contains(unescaped, "RegisterProvider_Task") {
			// A register makes vCenter (the simulator) connect to the
			// provider URL of the body: an arbitrary URL would reach past
			// this machine. TestProviderLifeCycle covers register.
			return
		}
		req := httptest.NewRequest(http.MethodPost, "http://gateway/", strings.NewReader(body))
		req.URL.Path, req.URL.RawPath = "", ""
		if err := setPath(req, path); err != nil {
			return
		}
		before := e.upstreamCalls()
		rec := httptest.NewRecorder()
		e.http.ServeHTTP(rec, req)
		calls := e.upstreamCalls() - before

		switch rec.Code {
		case http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect: // ServeMux cleaning the path
		case http.StatusInternalServerError:
			var v any
			if err := vijson.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&v); err != nil {
				t.Fatalf("500 that is not VI/JSON: %v: %s", err, rec.Body.Bytes())
			}
			fault, ok := asFault(v)
			if !ok {
				t.Fatalf("500 that is not a MethodFault (%T): %s", v, rec.Body.Bytes())
			}
			switch fault.(type) {
			case *vimtypes.InvalidRequest, *vimtypes.MethodNotFound:
				if calls != 0 {
					t.Fatalf("a malformed request (%T) sent %d calls upstream", fault, calls)
				}
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusNotFound && calls != 0 {
			t.Fatalf("an unknown path sent %d calls upstream", calls)
		}
	})
}

func setPath(req *http.Request, path string) error {
	u, err := req.URL.Parse(path)
	if err != nil {
		return err
	}
	req.URL = u
	return nil
}

func asFault(v any) (vimtypes.BaseMethodFault, bool) {
	if f, ok := v.(vimtypes.BaseMethodFault); ok {
		return f, true
	}
	if v == nil {
		return nil, false
	}
	// govmomi's decoder yields values for an interface target.
	p := reflect.New(reflect.TypeOf(v))
	p.Elem().Set(reflect.ValueOf(v))
	f, ok := p.Interface().(vimtypes.BaseMethodFault)
	return f, ok
}
