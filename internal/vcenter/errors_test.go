package vcenter_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// TestFaults checks that each fault vCenter may raise arrives as a *Fault
// with its type name, messages, cause and properties intact, over real SOAP.
func TestFaults(t *testing.T) {
	t.Parallel()
	msg := vimtypes.LocalizableMessage{
		Key:     "com.vmware.vim.sms.test",
		Arg:     []vimtypes.KeyAnyValue{{Key: "providerName", Value: "array-a"}, {Key: "count", Value: int32(3)}},
		Message: "Something about array-a.",
	}
	wantMsg := []vcenter.Message{{
		Key:  "com.vmware.vim.sms.test",
		Args: []vcenter.KeyValue{{Key: "providerName", Value: "array-a"}, {Key: "count", Value: "3"}},
		Text: "Something about array-a.",
	}}
	mf := vimtypes.MethodFault{FaultMessage: []vimtypes.LocalizableMessage{msg}}
	obj := vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-1"}

	tests := []struct {
		name   string
		method string // SOAP method to inject into; "" uses QueryProviderInfo
		fault  vimtypes.BaseMethodFault
		want   *vcenter.Fault
	}{
		{
			name:  "InvalidCertificate keeps certificate and messages",
			fault: &smstypes.InvalidCertificate{ProviderRegistrationFault: smstypes.ProviderRegistrationFault{MethodFault: mf}, Certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
			want: &vcenter.Fault{
				TypeName: "InvalidCertificate", Supertypes: []string{"ProviderRegistrationFault", "MethodFault"},
				Messages:   wantMsg,
				Properties: map[string]string{"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
			},
		},
		{
			name:  "NoPermission keeps privilegeId and object",
			fault: &vimtypes.NoPermission{Object: &obj, PrivilegeId: "StorageViews.ConfigureService"},
			want: &vcenter.Fault{
				TypeName: "NoPermission", Supertypes: []string{"SecurityError", "RuntimeFault", "MethodFault"},
				Properties: map[string]string{"privilegeId": "StorageViews.ConfigureService", "object": "VasaProvider:vp-1"},
			},
		},
		{
			name: "ProviderConnectionFailed keeps its cause",
			fault: &smstypes.ProviderConnectionFailed{RuntimeFault: vimtypes.RuntimeFault{MethodFault: vimtypes.MethodFault{
				FaultMessage: []vimtypes.LocalizableMessage{msg},
				FaultCause:   &vimtypes.LocalizedMethodFault{Fault: &vimtypes.SystemError{Reason: "Read timed out"}, LocalizedMessage: "Read timed out"},
			}}},
			want: &vcenter.Fault{
				TypeName: "ProviderConnectionFailed", Supertypes: []string{"RuntimeFault", "MethodFault"},
				Messages: wantMsg,
				Cause: &vcenter.Fault{
					TypeName: "SystemError", Supertypes: []string{"RuntimeFault", "MethodFault"},
					Message: "Read timed out", Properties: map[string]string{"reason": "Read timed out"},
				},
			},
		},
		{
			name: "nested causes three deep",
			fault: &vimtypes.SystemError{Reason: "outer", RuntimeFault: vimtypes.RuntimeFault{MethodFault: vimtypes.MethodFault{
				FaultCause: &vimtypes.LocalizedMethodFault{LocalizedMessage: "middle", Fault: &smstypes.ProviderBusy{MethodFault: vimtypes.MethodFault{
					FaultCause: &vimtypes.LocalizedMethodFault{LocalizedMessage: "inner", Fault: &vimtypes.Timedout{}},
				}}},
			}}},
			want: &vcenter.Fault{
				TypeName: "SystemError", Supertypes: []string{"RuntimeFault", "MethodFault"}, Properties: map[string]string{"reason": "outer"},
				Cause: &vcenter.Fault{
					TypeName: "ProviderBusy", Supertypes: []string{"MethodFault"}, Message: "middle",
					Cause: &vcenter.Fault{TypeName: "Timedout", Supertypes: []string{"VimFault", "MethodFault"}, Message: "inner"},
				},
			},
		},
		{
			name:  "CertificateNotTrusted",
			fault: &smstypes.CertificateNotTrusted{Certificate: "PEM"},
			want: &vcenter.Fault{
				TypeName: "CertificateNotTrusted", Supertypes: []string{"ProviderRegistrationFault", "MethodFault"},
				Properties: map[string]string{"certificate": "PEM"},
			},
		},
		{
			name:  "InvalidArgument keeps invalidProperty",
			fault: &vimtypes.InvalidArgument{InvalidProperty: "url"},
			want: &vcenter.Fault{
				TypeName: "InvalidArgument", Supertypes: []string{"RuntimeFault", "MethodFault"},
				Properties: map[string]string{"invalidProperty": "url"},
			},
		},
		{
			name:  "NotImplemented",
			fault: &vimtypes.NotImplemented{},
			want:  &vcenter.Fault{TypeName: "NotImplemented", Supertypes: []string{"RuntimeFault", "MethodFault"}},
		},
		{
			name:  "ProviderOutOfResource",
			fault: &smstypes.ProviderOutOfResource{},
			want:  &vcenter.Fault{TypeName: "ProviderOutOfResource", Supertypes: []string{"MethodFault"}},
		},
		{
			name:   "InactiveProvider on a task query",
			method: "QuerySmsTaskInfo",
			fault:  &smstypes.InactiveProvider{},
			want:   &vcenter.Fault{TypeName: "InactiveProvider", Supertypes: []string{"MethodFault"}},
		},
	}

	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			// Each case injects on its own provider so cases run in parallel.
			id := "vp-fault-" + string(rune('a'+i))
			srv.Sim.AddProvider(smssim.Provider{ID: id})
			method := tt.method
			if method == "" {
				method = "QueryProviderInfo"
			}
			var err error
			if method == "QuerySmsTaskInfo" {
				taskID, rerr := s.Reconnect(ctx, id)
				if rerr != nil {
					t.Fatalf("Reconnect: %v", rerr)
				}
				srv.Sim.InjectFault(method, taskID, tt.fault)
				_, err = s.Task(ctx, taskID)
			} else {
				srv.Sim.InjectFault(method, id, tt.fault)
				_, err = s.Provider(ctx, id)
			}
			var f *vcenter.Fault
			if !errors.As(err, &f) {
				t.Fatalf("err %v (%T), want *vcenter.Fault", err, err)
			}
			if f.Message == "" {
				t.Errorf("Message is empty, want the SOAP faultstring")
			}
			// The faultstring is the simulator's wording; compare the rest.
			if diff := cmp.Diff(tt.want, f, cmpopts.IgnoreFields(vcenter.Fault{}, "Message"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("fault (-want +got):\n%s", diff)
			}
			for c, want := f.Cause, tt.want.Cause; c != nil && want != nil; c, want = c.Cause, want.Cause {
				if c.Message != want.Message {
					t.Errorf("cause %s message %q, want %q", c.TypeName, c.Message, want.Message)
				}
			}
			if !errors.Is(err, &vcenter.Fault{TypeName: tt.want.TypeName}) {
				t.Errorf("errors.Is does not match the fault's type name")
			}
		})
	}
}

func TestDeniedUserFaultsNoPermission(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	srv.Sim.DenyUser(srv.Username, "StorageViews.ConfigureService")
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	_, err := s.Reconnect(ctx, "vp-2")
	var f *vcenter.Fault
	if !errors.As(err, &f) || f.TypeName != "NoPermission" {
		t.Fatalf("Reconnect as a denied user: %v, want NoPermission", err)
	}
	if got := f.Properties["privilegeId"]; got != "StorageViews.ConfigureService" {
		t.Errorf("privilegeId = %q", got)
	}
	if _, err := s.Provider(ctx, "vp-2"); err != nil {
		t.Errorf("reading is still allowed: %v", err)
	}
}

// TestInvalidSessionNeverLeaksTheCookie injects sms InvalidSession, which
// the Session takes for a dead session: it logs in again once, retries, and
// returns the fault, without the session cookie among its properties.
func TestInvalidSessionNeverLeaksTheCookie(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	logins := srv.Logins()
	srv.Sim.InjectFault("QueryProviderInfo", "vp-1", &smstypes.InvalidSession{
		NoPermission:  vimtypes.NoPermission{PrivilegeId: "System.View"},
		SessionCookie: "secret-cookie-value",
	})
	_, err := s.Provider(ctx, "vp-1")
	var f *vcenter.Fault
	if !errors.As(err, &f) || f.TypeName != "InvalidSession" {
		t.Fatalf("err %v, want InvalidSession", err)
	}
	if f.Find("NoPermission") != f {
		t.Errorf("InvalidSession is not found as a NoPermission: supertypes %v", f.Supertypes)
	}
	for k, v := range f.Properties {
		if strings.Contains(strings.ToLower(k), "cookie") || strings.Contains(v, "secret-cookie-value") {
			t.Errorf("property %s=%q leaks the session cookie", k, v)
		}
	}
	if strings.Contains(err.Error(), "secret-cookie-value") {
		t.Errorf("error text leaks the session cookie: %v", err)
	}
	if got := srv.Logins() - logins; got != 1 {
		t.Errorf("logins during the call = %d, want exactly one re-login", got)
	}
	if got := srv.Sim.CallsOn("QueryProviderInfo", "vp-1"); got != 2 {
		t.Errorf("QueryProviderInfo calls = %d, want the call and one retry", got)
	}
}
