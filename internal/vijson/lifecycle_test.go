package vijson_test

import (
	"net/http"
	"strings"
	"testing"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

const providerPassword = "Vasa-Pr0vider-S3cret!"

// startTask calls a task-starting method and returns its SmsTask moId.
func (e *env) startTask(t *testing.T, path, body string) string {
	t.Helper()
	a := e.post(t, path, body)
	if a.code != http.StatusOK {
		t.Fatalf("%s: %d %s", path, a.code, a.body)
	}
	if strings.Contains(string(a.body), providerPassword) {
		t.Fatalf("%s echoed the password", path)
	}
	ref := decode[vimtypes.ManagedObjectReference](t, a)
	if ref.Type != "SmsTask" || ref.Value == "" {
		t.Fatalf("%s answered %s, want an SmsTask", path, a.body)
	}
	return ref.Value
}

// TestProviderLifeCycle: unregister, register (CertificateNotTrusted, then
// resent with the certificate, as vSphere clients do), the task's result,
// sync and certificate refresh, all through the facade.
func TestProviderLifeCycle(t *testing.T) {
	e := newEnv(t)
	a := e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", "")
	before := decode[smstypes.VasaProviderInfo](t, a)

	task := e.startTask(t, sms+"SmsStorageManager/StorageManager/UnregisterProvider_Task", `{"providerId":"`+before.Uid+`"}`)
	if info, _ := e.pollTask(t, task); info.State != "success" {
		t.Fatalf("unregister: %+v", info)
	}
	fault[vimtypes.ManagedObjectNotFound](t, e.post(t, sms+"VasaProvider/vp-1/QueryProviderInfo", ""))
	a = e.post(t, sms+"SmsStorageManager/StorageManager/UnregisterProvider_Task", `{"providerId":"`+before.Uid+`"}`)
	fault[vimtypes.NotFound](t, a)

	spec := `{"providerSpec":{"_typeName":"VasaProviderSpec","name":"array-a","url":"` + before.Url + `","username":"vasa-admin","password":"` + providerPassword + `"`
	task = e.startTask(t, sms+"SmsStorageManager/StorageManager/RegisterProvider_Task", spec+`}}`)
	info, last := e.pollTask(t, task)
	if info.State != "error" || info.Error == nil {
		t.Fatalf("register of a self-signed provider: %+v", info)
	}
	nt, ok := info.Error.Fault.(*smstypes.CertificateNotTrusted)
	if !ok {
		t.Fatalf("task error %T, want CertificateNotTrusted: %s", info.Error.Fault, last.body)
	}
	presented, err := e.sim.Sim.PresentedCertificate("vp-1")
	if err != nil {
		t.Fatal(err)
	}
	if nt.Certificate != presented {
		t.Fatalf("CertificateNotTrusted.certificate %q, want the provider's PEM", nt.Certificate)
	}
	if strings.Contains(string(last.body), providerPassword) {
		t.Fatal("the task info holds the password")
	}
	golden(t, "register_certificate_not_trusted", last)

	certJSON := strings.ReplaceAll(strings.ReplaceAll(presented, "\n", `\n`), "\r", "")
	task = e.startTask(t, sms+"SmsStorageManager/StorageManager/RegisterProvider_Task", spec+`,"certificate":"`+certJSON+`"}}`)
	if info, _ := e.pollTask(t, task); info.State != "success" {
		t.Fatalf("register with the confirmed certificate: %+v", info)
	}
	a = e.post(t, sms+"SmsTask/"+task+"/QuerySmsTaskResult", "")
	if a.code != http.StatusOK {
		t.Fatalf("QuerySmsTaskResult: %d %s", a.code, a.body)
	}
	registered := decode[vimtypes.ManagedObjectReference](t, a)
	if registered.Type != "VasaProvider" || registered.Value == "vp-1" {
		t.Fatalf("register result %v, want the new provider", registered)
	}
	a = e.post(t, sms+"VasaProvider/"+registered.Value+"/QueryProviderInfo", "")
	if p := decode[smstypes.VasaProviderInfo](t, a); p.Name != "array-a" || p.Url != before.Url {
		t.Fatalf("registered provider %+v", p)
	}

	task = e.startTask(t, sms+"VasaProvider/"+registered.Value+"/VasaProviderSync_Task", "{}")
	if info, _ := e.pollTask(t, task); info.State != "success" {
		t.Fatalf("sync: %+v", info)
	}
	task = e.startTask(t, sms+"VasaProvider/"+registered.Value+"/VasaProviderRefreshCertificate_Task", "")
	if info, _ := e.pollTask(t, task); info.State != "success" {
		t.Fatalf("refresh certificate: %+v", info)
	}
	a = e.post(t, sms+"SmsStorageManager/StorageManager/RegisterProvider_Task", `{"providerSpec":{"_typeName":"VasaProviderSpec","name":"x","url":"https://127.0.0.1:1/vasa","username":"u","password":"p","certificate":"not PEM"}}`)
	if f := fault[vimtypes.InvalidArgument](t, a); f.InvalidProperty != "providerSpec.certificate" {
		t.Fatalf("a certificate that is not PEM: %s", a.body)
	}
}
