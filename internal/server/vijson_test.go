package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vijson"
)

func decodeVIJSON(t *testing.T, r restResult) any {
	t.Helper()
	var v any
	if err := vijson.NewDecoder(bytes.NewReader(r.body)).Decode(&v); err != nil {
		t.Fatalf("decode VI/JSON %s: %v", r.body, err)
	}
	return v
}

// TestVIJSONThroughTheServer drives the VI/JSON facade through Run: the
// seed's reconnect, a fault, and a read-only user's own session.
func TestVIJSONThroughTheServer(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.sim.AddReadOnlyUser()
	const sms = "/sdk/vim25/8.0.1.0/sms/"

	r := g.rest(t, http.MethodPost, sms+"VasaProvider/vp-2/VasaProviderReconnect_Task", "")
	if r.code != http.StatusOK {
		t.Fatalf("reconnect: %d %s", r.code, r.body)
	}
	if ref, ok := decodeVIJSON(t, r).(vimtypes.ManagedObjectReference); !ok || ref.Type != "SmsTask" {
		t.Fatalf("reconnect answered %s", r.body)
	}
	r = g.rest(t, http.MethodPost, "/vcenters/default"+sms+"VasaProvider/vp-3/VasaProviderReconnect_Task", "{}")
	if r.code != http.StatusInternalServerError {
		t.Fatalf("vp-3: %d %s", r.code, r.body)
	}
	r = g.rest(t, http.MethodPost, sms+"SmsServiceInstance/ServiceInstance/QueryStorageManager", "")
	if ref, ok := decodeVIJSON(t, r).(vimtypes.ManagedObjectReference); r.code != http.StatusOK || !ok || ref.Type != "SmsStorageManager" {
		t.Fatalf("QueryStorageManager: %d %s", r.code, r.body)
	}

	// The REST metrics label the facade's calls by method, never by moId.
	m := request(t, http.MethodGet, g.admin+"/metrics", "")
	for _, want := range []string{
		`route="/sdk/vim25/{release}/sms/VasaProvider/{moId}/VasaProviderReconnect_Task"`,
		`route="/vcenters/{vcenter}/sdk/vim25/{release}/sms/VasaProvider/{moId}/VasaProviderReconnect_Task"`,
		`route="/sdk/vim25/{release}/sms/SmsServiceInstance/ServiceInstance/QueryStorageManager"`,
	} {
		if !bytes.Contains(m.body, []byte(want)) {
			t.Errorf("metrics without %s", want)
		}
	}

	r = g.rest(t, http.MethodGet, "/sdk/openapi.json", "")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" || !bytes.Equal(r.body, vijson.OpenAPI()) {
		t.Fatalf("GET /sdk/openapi.json: %d %q", r.code, r.header.Get("Content-Type"))
	}

	r = g.rest(t, http.MethodPost, "/sdk/vim25/8.0.1.0/SessionManager/SessionManager/Login",
		`{"userName":"`+smssim.ReadOnlyUsername+`","password":"`+smssim.ReadOnlyPassword+`"}`)
	id := r.header.Get(vijson.SessionHeader)
	if r.code != http.StatusOK || id == "" {
		t.Fatalf("login: %d %s", r.code, r.body)
	}
	r = g.rest(t, http.MethodPost, sms+"VasaProvider/vp-4/VasaProviderReconnect_Task", "", vijson.SessionHeader, id)
	if _, ok := decodeVIJSON(t, r).(vimtypes.NoPermission); r.code != http.StatusInternalServerError || !ok {
		t.Fatalf("read-only reconnect: %d %s", r.code, r.body)
	}
	if bytes.Contains([]byte(g.logs.String()), []byte(id)) {
		t.Fatal("a session id reached the logs")
	}
	r = g.rest(t, http.MethodPost, "/sdk/vim25/8.0.1.0/SessionManager/SessionManager/Logout", "", vijson.SessionHeader, id)
	if r.code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.code, r.body)
	}
	r = g.rest(t, http.MethodPost, sms+"VasaProvider/vp-4/QueryProviderInfo", "", vijson.SessionHeader, id)
	if _, ok := decodeVIJSON(t, r).(vimtypes.NotAuthenticated); !ok {
		t.Fatalf("after logout: %d %s", r.code, r.body)
	}
}

// TestVIJSONCallersAndRoles: on a gateway that authenticates callers, the
// facade's callers are the gateway's (bearer tokens with their roles) or
// vSphere users in their own sessions; every refusal is the MethodFault
// vCenter sends.
func TestVIJSONCallersAndRoles(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	g := startSecureGateway(t, p, append(append(p.mtlsFlags(), p.tokenFlags()[:3]...), "--reconnect-rate=1/h")...)
	g.sim.AddReadOnlyUser()
	c := g.httpClient(t, nil)
	const sms = "/sdk/vim25/8.0.1.0/sms/"
	post := func(path string, header ...string) restResult {
		t.Helper()
		r, err := g.restCall(t, c, http.MethodPost, path, "", header...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	viewer := "Bearer " + p.issuer.Token(t, "viewer-1", "viewers")
	ops := "Bearer " + p.issuer.Token(t, "ops")

	if _, ok := decodeVIJSON(t, post(sms+"VasaProvider/vp-1/QueryProviderInfo")).(vimtypes.NotAuthenticated); !ok {
		t.Error("no credentials: want NotAuthenticated")
	}
	if _, ok := decodeVIJSON(t, post(sms+"VasaProvider/vp-1/QueryProviderInfo", "Authorization", "Bearer not-a-token")).(vimtypes.NotAuthenticated); !ok {
		t.Error("a bad token: want NotAuthenticated")
	}
	if r := post(sms+"VasaProvider/vp-1/QueryProviderInfo", "Authorization", viewer); r.code != http.StatusOK {
		t.Errorf("viewer reads: %d %s", r.code, r.body)
	}
	r := post(sms+"VasaProvider/vp-1/VasaProviderReconnect_Task", "Authorization", viewer)
	if f, ok := decodeVIJSON(t, r).(vimtypes.NoPermission); !ok || f.PrivilegeId != "StorageViews.ConfigureService" {
		t.Errorf("viewer reconnects: want NoPermission for StorageViews.ConfigureService, got %s", r.body)
	}
	if r := post(sms+"VasaProvider/vp-1/VasaProviderReconnect_Task", "Authorization", ops); r.code != http.StatusOK {
		t.Errorf("operator reconnects: %d %s", r.code, r.body)
	}
	r = post(sms+"VasaProvider/vp-1/VasaProviderReconnect_Task", "Authorization", ops)
	if f, ok := decodeVIJSON(t, r).(vimtypes.SystemError); !ok || !strings.Contains(f.Reason, "too many requests") {
		t.Errorf("operator over the reconnect rate: want SystemError, got %s", r.body)
	}

	// Client certificates, with their roles.
	for _, tt := range []struct {
		cn     string
		allows bool
	}{{"viewer-bot", false}, {"operator-bot", true}} {
		r, err := g.restCall(t, g.httpClient(t, p.client(t, tt.cn)), http.MethodPost, sms+"VasaProvider/vp-1/VasaProviderReconnect_Task", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, denied := decodeVIJSON(t, r).(vimtypes.NoPermission); tt.allows == denied || (tt.allows && r.code != http.StatusOK) {
			t.Errorf("%s reconnects: %d %s", tt.cn, r.code, r.body)
		}
	}

	// A vSphere user needs no gateway credentials: vCenter decides.
	lr, err := g.restCall(t, c, http.MethodPost, "/sdk/vim25/8.0.1.0/SessionManager/SessionManager/Login",
		`{"userName":"`+smssim.ReadOnlyUsername+`","password":"`+smssim.ReadOnlyPassword+`"}`)
	if err != nil || lr.code != http.StatusOK {
		t.Fatalf("login: %v %d %s", err, lr.code, lr.body)
	}
	id := lr.header.Get(vijson.SessionHeader)
	if r := post(sms+"VasaProvider/vp-1/QueryProviderInfo", vijson.SessionHeader, id); r.code != http.StatusOK {
		t.Errorf("read-only user reads: %d %s", r.code, r.body)
	}
	r = post(sms+"VasaProvider/vp-2/VasaProviderReconnect_Task", vijson.SessionHeader, id)
	if _, ok := decodeVIJSON(t, r).(vimtypes.NoPermission); !ok {
		t.Errorf("read-only user reconnects: want NoPermission, got %s", r.body)
	}
	audited := false
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"audit: reconnect provider"`) && strings.Contains(line, `"caller":"vsphere:`+smssim.ReadOnlyUsername+`"`) {
			audited = true
		}
	}
	if !audited {
		t.Error("no audit line names the vSphere user")
	}
	if !strings.Contains(g.logs.String(), `"msg":"audit: vsphere login"`) || !strings.Contains(g.logs.String(), `"user":"`+smssim.ReadOnlyUsername+`"`) {
		t.Error("no audit line for the vSphere login")
	}
	if strings.Contains(g.logs.String(), id) || strings.Contains(g.logs.String(), smssim.ReadOnlyPassword) {
		t.Error("a session id or password reached the logs")
	}
}
