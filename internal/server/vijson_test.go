package server

import (
	"bytes"
	"net/http"
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
