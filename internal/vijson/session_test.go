package vijson_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

const sessionManager = "/sdk/vim25/8.0.1.0/SessionManager/SessionManager/"

var sessionID = regexp.MustCompile(`^[0-9a-f]{40}$`)

// login logs in as user and returns the session id.
func (e *env) login(t *testing.T, user, password string) (string, answer) {
	t.Helper()
	a := e.post(t, sessionManager+"Login", `{"userName":"`+user+`","password":"`+password+`"}`)
	if a.code != http.StatusOK {
		t.Fatalf("login as %s: %d %s", user, a.code, a.body)
	}
	id := a.header.Get("vmware-api-session-id")
	if !sessionID.MatchString(id) {
		t.Fatalf("session id %q is not 40 hex digits", id)
	}
	return id, a
}

func TestReadOnlyUserSession(t *testing.T) {
	e := newEnv(t)
	id, a := e.login(t, smssim.ReadOnlyUsername, smssim.ReadOnlyPassword)
	us := decode[vimtypes.UserSession](t, a)
	if us.UserName != smssim.ReadOnlyUsername || us.Key == "" {
		t.Fatalf("UserSession %+v", us)
	}
	golden(t, "login_readonly", a)

	// The user may read: vCenter allows it.
	a = e.post(t, sms+"VasaProvider/vp-2/QueryProviderInfo", "{}", "vmware-api-session-id", id)
	if p := decode[smstypes.VasaProviderInfo](t, a); a.code != http.StatusOK || p.Name != "array-b" {
		t.Fatalf("QueryProviderInfo as the read-only user: %d %s", a.code, a.body)
	}
	// vCenter refuses the reconnect with the user's own privileges, even
	// while another caller's reconnect of the same provider runs.
	shared := e.post(t, sms+"VasaProvider/vp-2/VasaProviderReconnect_Task", "")
	if shared.code != http.StatusOK {
		t.Fatalf("reconnect in the gateway's session: %d %s", shared.code, shared.body)
	}
	before := e.sim.Sim.CallsOn("VasaProviderReconnect_Task", "vp-2")
	a = e.post(t, sms+"VasaProvider/vp-2/VasaProviderReconnect_Task", "", "vmware-api-session-id", id)
	f := fault[vimtypes.NoPermission](t, a)
	if f.PrivilegeId != smssim.ConfigureServicePrivilege {
		t.Fatalf("NoPermission.privilegeId %q", f.PrivilegeId)
	}
	if len(f.MissingPrivileges) != 1 || f.MissingPrivileges[0].Entity.Value != "vp-2" ||
		len(f.MissingPrivileges[0].PrivilegeIds) != 1 || f.MissingPrivileges[0].PrivilegeIds[0] != smssim.ConfigureServicePrivilege {
		t.Fatalf("NoPermission.missingPrivileges %+v, want vCenter's", f.MissingPrivileges)
	}
	if got := e.sim.Sim.CallsOn("VasaProviderReconnect_Task", "vp-2"); got != before+1 {
		t.Fatalf("the user's reconnect reached vCenter %d times, want once", got-before)
	}
	golden(t, "reconnect_readonly_no_permission", a)
	// So are the life-cycle calls, each with the user's own privileges.
	for _, call := range []struct{ path, body string }{
		{sms + "VasaProvider/vp-1/VasaProviderSync_Task", ""},
		{sms + "VasaProvider/vp-1/VasaProviderRefreshCertificate_Task", ""},
		{sms + "SmsStorageManager/StorageManager/UnregisterProvider_Task", `{"providerId":"` + decode[smstypes.VasaProviderInfo](t, e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", "", "vmware-api-session-id", id)).Uid + `"}`},
	} {
		a := e.post(t, call.path, call.body, "vmware-api-session-id", id)
		if a.code == http.StatusOK {
			// A gateway-owned task carries the refusal in its error.
			info, _ := e.pollTask(t, decode[vimtypes.ManagedObjectReference](t, a).Value, "vmware-api-session-id", id)
			if _, ok := info.Error.GetLocalizedMethodFault().Fault.(*vimtypes.NoPermission); !ok {
				t.Errorf("%s as the read-only user: task %+v, want NoPermission", call.path, info)
			}
			continue
		}
		fault[vimtypes.NoPermission](t, a)
	}

	a = e.post(t, sessionManager+"Logout", "", "vmware-api-session-id", id)
	if a.code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", a.code, a.body)
	}
	if n := e.users.Len(); n != 0 {
		t.Fatalf("%d user sessions still open after logout", n)
	}
	a = e.post(t, sms+"VasaProvider/vp-2/QueryProviderInfo", "", "vmware-api-session-id", id)
	fault[vimtypes.NotAuthenticated](t, a)
	golden(t, "after_logout_not_authenticated", a)
	a = e.post(t, sessionManager+"Logout", "", "vmware-api-session-id", id)
	fault[vimtypes.NotAuthenticated](t, a)
}

func TestWrongPassword(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sessionManager+"Login", `{"userName":"`+smssim.ReadOnlyUsername+`","password":"wrong"}`)
	fault[vimtypes.InvalidLogin](t, a)
	if a.header.Get("vmware-api-session-id") != "" {
		t.Fatal("a failed login answered with a session id")
	}
	golden(t, "login_invalid", a)
	if n := e.users.Len(); n != 0 {
		t.Fatalf("%d user sessions open after a failed login", n)
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	e := newEnv(t)
	id, _ := e.login(t, e.sim.Username, e.sim.Password)
	e.now.t = e.now.t.Add(29 * time.Minute)
	if a := e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", "", "vmware-api-session-id", id); a.code != http.StatusOK {
		t.Fatalf("within the idle timeout: %d %s", a.code, a.body)
	}
	e.now.t = e.now.t.Add(29 * time.Minute) // used 29 minutes ago: still live
	if a := e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", "", "vmware-api-session-id", id); a.code != http.StatusOK {
		t.Fatalf("idle timeout counts from the last use: %d %s", a.code, a.body)
	}
	e.now.t = e.now.t.Add(31 * time.Minute)
	a := e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", "", "vmware-api-session-id", id)
	fault[vimtypes.NotAuthenticated](t, a)
	// The next facade request sweeps it: the vCenter session is logged out.
	e.post(t, sessionManager+"Logout", "")
	if n := e.users.Len(); n != 0 {
		t.Fatalf("%d user sessions open after expiry", n)
	}
}

func TestSessionOfAnotherVCenter(t *testing.T) {
	e := newEnv(t)
	id, _ := e.login(t, e.sim.Username, e.sim.Password)
	a := e.post(t, "/vcenters/east"+sms+"VasaProvider/vp-1/QueryProviderInfo", "", "vmware-api-session-id", id)
	fault[vimtypes.NotAuthenticated](t, a)
}

func TestLoginToUnknownVCenter(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, "/vcenters/nowhere/sdk/vim25/8.0.1.0/SessionManager/SessionManager/Login", `{"userName":"u","password":"p"}`)
	fault[vimtypes.ManagedObjectNotFound](t, a)
}
