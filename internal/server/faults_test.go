package server

import (
	"crypto/sha256"
	"encoding/hex"
	encpem "encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/testing/protocmp"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
)

// detailTypes lists a status's detail message names, in order.
func detailTypes(st *status.Status) []string {
	var out []string
	for _, d := range st.Details() {
		if m, ok := d.(protoadapt.MessageV1); ok {
			out = append(out, string(protoadapt.MessageV2Of(m).ProtoReflect().Descriptor().Name()))
		} else {
			out = append(out, fmt.Sprintf("%T", d))
		}
	}
	return out
}

func hasDetail(st *status.Status, name string) bool {
	for _, d := range detailTypes(st) {
		if d == name {
			return true
		}
	}
	return false
}

// TestFaultTableEndToEnd drives each row of the contract's fault table as a
// real SOAP fault from the simulator (injected on QueryProviderInfo) through
// the gateway, and checks the gRPC status and the REST body alike.
func TestFaultTableEndToEnd(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	// A real certificate, so that the rows that carry one also give its
	// SHA-256 fingerprint ("AB:CD:...") in the ErrorInfo metadata.
	pem := smssim.DefaultProviders()[0].Info.Certificate
	block, _ := encpem.Decode([]byte(pem))
	sum := sha256.Sum256(block.Bytes)
	hexSum := strings.ToUpper(hex.EncodeToString(sum[:]))
	var pairs []string
	for i := 0; i < len(hexSum); i += 2 {
		pairs = append(pairs, hexSum[i:i+2])
	}
	fingerprint := map[string]string{"certificateSha256Fingerprint": strings.Join(pairs, ":")}
	tests := []struct {
		name     string
		fault    vimtypes.BaseMethodFault
		code     codes.Code
		http     int
		reason   string
		details  []string          // detail types that must be present
		absent   []string          // detail types that must not be present
		metadata map[string]string // ErrorInfo metadata that must be present
		property [2]string         // a VimFault property that must be present, and its value
	}{
		{name: "InvalidCertificate", fault: &smstypes.InvalidCertificate{Certificate: pem}, code: codes.FailedPrecondition, http: 400, reason: "INVALID_CERTIFICATE", details: []string{"PreconditionFailure", "Help"}, metadata: fingerprint},
		{name: "CertificateNotTrusted", fault: &smstypes.CertificateNotTrusted{Certificate: pem}, code: codes.FailedPrecondition, http: 400, reason: "CERTIFICATE_NOT_TRUSTED", metadata: fingerprint, property: [2]string{"certificate", pem}},
		{name: "ProviderConnectionFailed", fault: &smstypes.ProviderConnectionFailed{}, code: codes.Unavailable, http: 503, reason: "PROVIDER_CONNECTION_FAILED", details: []string{"RetryInfo"}},
		{name: "ProviderBusy", fault: &smstypes.ProviderBusy{}, code: codes.Unavailable, http: 503, reason: "PROVIDER_BUSY", details: []string{"RetryInfo"}},
		{name: "ProviderUnavailable", fault: &smstypes.ProviderUnavailable{}, code: codes.Unavailable, http: 503, reason: "PROVIDER_UNAVAILABLE", details: []string{"RetryInfo"}},
		{name: "ServiceNotInitialized", fault: &smstypes.ServiceNotInitialized{}, code: codes.Unavailable, http: 503, reason: "SERVICE_NOT_INITIALIZED", details: []string{"RetryInfo"}},
		{name: "AuthConnectionFailed", fault: &smstypes.AuthConnectionFailed{}, code: codes.Unavailable, http: 503, reason: "AUTH_CONNECTION_FAILED", details: []string{"RetryInfo"}},
		{name: "SyncInProgress", fault: &smstypes.SyncInProgress{}, code: codes.Aborted, http: 409, reason: "SYNC_IN_PROGRESS"},
		{name: "InactiveProvider", fault: &smstypes.InactiveProvider{}, code: codes.FailedPrecondition, http: 400, reason: "INACTIVE_PROVIDER"},
		{name: "NotSupported", fault: &vimtypes.NotSupported{}, code: codes.FailedPrecondition, http: 400, reason: "NOT_SUPPORTED"},
		{name: "ManagedObjectNotFound", fault: &vimtypes.ManagedObjectNotFound{Obj: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-1"}}, code: codes.NotFound, http: 404, reason: "PROVIDER_NOT_FOUND", details: []string{"ResourceInfo"}},
		{name: "NotFound", fault: &vimtypes.NotFound{}, code: codes.NotFound, http: 404, reason: "PROVIDER_NOT_FOUND", details: []string{"ResourceInfo"}},
		{name: "ProviderNotFound", fault: &smstypes.ProviderNotFound{}, code: codes.NotFound, http: 404, reason: "PROVIDER_NOT_FOUND", details: []string{"ResourceInfo"}},
		{name: "NotAuthenticated", fault: &vimtypes.NotAuthenticated{}, code: codes.Unavailable, http: 503, reason: "VCENTER_AUTH_FAILED", absent: []string{"RetryInfo"}},
		{name: "InvalidLogin", fault: &vimtypes.InvalidLogin{}, code: codes.Unavailable, http: 503, reason: "VCENTER_AUTH_FAILED", absent: []string{"RetryInfo"}},
		{name: "SmsInvalidLogin", fault: &smstypes.SmsInvalidLogin{}, code: codes.Unavailable, http: 503, reason: "VCENTER_AUTH_FAILED", absent: []string{"RetryInfo"}},
		{name: "sms InvalidSession", fault: &smstypes.InvalidSession{SessionCookie: "not-for-callers"}, code: codes.Unavailable, http: 503, reason: "VCENTER_AUTH_FAILED", absent: []string{"RetryInfo"}},
		{name: "NoPermission", fault: &vimtypes.NoPermission{PrivilegeId: "StorageViews.ConfigureService"}, code: codes.PermissionDenied, http: 403, reason: "NO_PERMISSION", metadata: map[string]string{"privilege": "StorageViews.ConfigureService"}},
		{name: "InvalidArgument", fault: &vimtypes.InvalidArgument{InvalidProperty: "spec.url"}, code: codes.InvalidArgument, http: 400, reason: "INVALID_ARGUMENT", details: []string{"BadRequest"}},
		{name: "InvalidUrl", fault: &smstypes.InvalidUrl{Url: "ftp://x"}, code: codes.InvalidArgument, http: 400, reason: "INVALID_URL", details: []string{"BadRequest"}},
		{name: "DuplicateEntry", fault: &smstypes.DuplicateEntry{}, code: codes.InvalidArgument, http: 400, reason: "DUPLICATE_ENTRY", details: []string{"BadRequest"}},
		{name: "IncorrectUsernamePassword", fault: &smstypes.IncorrectUsernamePassword{}, code: codes.InvalidArgument, http: 400, reason: "INCORRECT_USERNAME_PASSWORD", details: []string{"BadRequest"}},
		{name: "AlreadyExists", fault: &vimtypes.AlreadyExists{Name: "array-a"}, code: codes.AlreadyExists, http: 409, reason: "ALREADY_EXISTS"},
		{name: "ProviderOutOfResource", fault: &smstypes.ProviderOutOfResource{}, code: codes.ResourceExhausted, http: 429, reason: "PROVIDER_OUT_OF_RESOURCE"},
		{name: "NotImplemented", fault: &vimtypes.NotImplemented{}, code: codes.Unimplemented, http: 501, reason: "NOT_IMPLEMENTED"},
		{name: "MethodNotFound", fault: &vimtypes.MethodNotFound{Method: "QueryProviderInfo"}, code: codes.Unimplemented, http: 501, reason: "NOT_IMPLEMENTED"},
		{name: "RequestCanceled", fault: &vimtypes.RequestCanceled{}, code: codes.Canceled, http: 499, reason: "REQUEST_CANCELED"},
		{name: "Timedout", fault: &vimtypes.Timedout{}, code: codes.DeadlineExceeded, http: 504, reason: "TIMEDOUT"},
		{name: "SystemError", fault: &vimtypes.SystemError{Reason: "disk full"}, code: codes.Internal, http: 500, reason: "SYSTEM_ERROR"},
		{name: "other Provider fault", fault: &smstypes.ProviderSyncFailed{}, code: codes.Internal, http: 500, reason: "PROVIDER_SYNC_FAILED"},
		// The life-cycle rows (API.md, "New fault rows").
		{name: "CertificateRefreshFailed", fault: &smstypes.CertificateRefreshFailed{ProviderId: []string{"uid-1"}}, code: codes.Internal, http: 500, reason: "CERTIFICATE_REFRESH_FAILED"},
		{name: "CertificateRevocationFailed", fault: &smstypes.CertificateRevocationFailed{}, code: codes.Internal, http: 500, reason: "CERTIFICATE_REVOCATION_FAILED"},
		{name: "ProviderRegistrationFault", fault: &smstypes.ProviderRegistrationFault{}, code: codes.Internal, http: 500, reason: "PROVIDER_REGISTRATION_FAULT"},
		{name: "CertificateAuthorityFault", fault: &smstypes.CertificateAuthorityFault{FaultCode: 7}, code: codes.Internal, http: 500, reason: "CERTIFICATE_AUTHORITY_FAULT"},
		{name: "CertificateNotImported", fault: &smstypes.CertificateNotImported{}, code: codes.Internal, http: 500, reason: "CERTIFICATE_NOT_IMPORTED"},
		{name: "ProviderUnregistrationFault", fault: &smstypes.ProviderUnregistrationFault{}, code: codes.Internal, http: 500, reason: "PROVIDER_UNREGISTRATION_FAULT"},
		{name: "ProviderSyncFailed", fault: &smstypes.ProviderSyncFailed{}, code: codes.Internal, http: 500, reason: "PROVIDER_SYNC_FAILED"},
		{name: "TooMany", fault: &smstypes.TooMany{MaxBatchSize: 64}, code: codes.ResourceExhausted, http: 429, reason: "TOO_MANY", metadata: map[string]string{"maxBatchSize": "64"}},
		{name: "QueryExecutionFault", fault: &smstypes.QueryExecutionFault{}, code: codes.Unavailable, http: 503, reason: "QUERY_EXECUTION_FAULT", details: []string{"RetryInfo"}},
		{name: "InvalidState", fault: &vimtypes.InvalidState{}, code: codes.FailedPrecondition, http: 400, reason: "INVALID_STATE"},
		{name: "NotSupportedByProvider", fault: &smstypes.NotSupportedByProvider{}, code: codes.FailedPrecondition, http: 400, reason: "NOT_SUPPORTED_BY_PROVIDER"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One provider per row, so the rows can run side by side.
			id := fmt.Sprintf("vp-fault-%d", i)
			g.sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id)})
			g.sim.Sim.InjectFault("QueryProviderInfo", id, tt.fault)
			name := "vcenters/default/vasaProviders/" + id

			_, err := g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: name})
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code %v, want %v (%v)", st.Code(), tt.code, st.Proto())
			}
			ei := errorInfo(t, st)
			if ei.GetReason() != tt.reason || ei.GetDomain() != "sms.vasagw.io" {
				t.Errorf("ErrorInfo %v, want reason %s domain sms.vasagw.io", ei, tt.reason)
			}
			md := ei.GetMetadata()
			if md["vcenter"] != "default" || md["resource"] != name || md["faultType"] == "" {
				t.Errorf("ErrorInfo metadata %v", md)
			}
			for k, v := range tt.metadata {
				if md[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, md[k], v)
				}
			}
			for _, d := range append([]string{"ErrorInfo", "LocalizedMessage", "VimFault"}, tt.details...) {
				if !hasDetail(st, d) {
					t.Errorf("no %s detail in %v", d, detailTypes(st))
				}
			}
			for _, d := range tt.absent {
				if hasDetail(st, d) {
					t.Errorf("a %s detail in %v", d, detailTypes(st))
				}
			}
			for _, d := range st.Details() {
				vf, ok := d.(*vasagwv1.VimFault)
				if ok && vf.GetTypeName() != tt.name && tt.name != "sms InvalidSession" && tt.name != "other Provider fault" {
					t.Errorf("VimFault type %q, want %q", vf.GetTypeName(), tt.name)
				}
				if ok && tt.property[0] != "" && vf.GetProperties()[tt.property[0]] != tt.property[1] {
					t.Errorf("VimFault property %s = %q, want %q", tt.property[0], vf.GetProperties()[tt.property[0]], tt.property[1])
				}
			}
			if got := fmt.Sprint(st.Proto()); strings.Contains(got, "not-for-callers") {
				t.Errorf("the session cookie leaked into the status: %s", got)
			}

			r := g.rest(t, http.MethodGet, "/v1/"+name, "")
			if r.code != tt.http {
				t.Errorf("REST status %d, want %d", r.code, tt.http)
			}
			if diff := cmp.Diff(st.Proto(), restStatus(t, r.body).Proto(), protocmp.Transform()); diff != "" {
				t.Errorf("REST body differs from the gRPC status (-grpc +rest):\n%s", diff)
			}
		})
	}
}

// TestVCenterConditions covers the rows that are not faults: vCenter
// unreachable and vCenter's certificate not trusted.
func TestVCenterConditions(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t)
		g.sim.Down()
		_, err := g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
		st := status.Convert(err)
		if st.Code() != codes.Unavailable || errorInfo(t, st).GetReason() != "VCENTER_UNREACHABLE" || !hasDetail(st, "RetryInfo") {
			t.Errorf("status %v", st.Proto())
		}
		r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", "")
		if r.code != http.StatusServiceUnavailable {
			t.Errorf("REST %d %s", r.code, r.body)
		}
		if err := g.sim.Up(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the gateway to reach vCenter again", time.Minute, func() bool {
			_, err := g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
			return err == nil
		})
	})
	t.Run("certificate not trusted", func(t *testing.T) {
		t.Parallel()
		sim := startSim(t)
		// A CA file that does not hold the simulator's certificate.
		other, err := smssim.Start(smssim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		caFile := filepath.Join(t.TempDir(), "other-ca.pem")
		b, err := os.ReadFile(other.CAFile)
		other.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		g := &gateway{sim: sim}
		startRun(t, gatewayConfig(t, sim, "--vcenter-ca-file="+caFile), g)
		_, err = g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
		st := status.Convert(err)
		ei := errorInfo(t, st)
		if st.Code() != codes.Unavailable || ei.GetReason() != "VCENTER_CERTIFICATE_UNTRUSTED" {
			t.Fatalf("status %v", st.Proto())
		}
		found := false
		for _, v := range ei.GetMetadata() {
			found = found || v == sim.Thumbprint
		}
		if !found {
			t.Errorf("ErrorInfo metadata %v lacks the presented thumbprint %s", ei.GetMetadata(), sim.Thumbprint)
		}
	})
}

// TestSameFaultSameDetails: one vSphere fault reported three ways (a failed
// task's error, a provider's statusFault, a failed call) carries the same
// details each time; only the resource it is about differs.
func TestSameFaultSameDetails(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := testContext(t)
	fault := &smstypes.ProviderConnectionFailed{RuntimeFault: vimtypes.RuntimeFault{MethodFault: vimtypes.MethodFault{
		FaultMessage: []vimtypes.LocalizableMessage{{Key: "com.example.vasa.unreachable", Arg: []vimtypes.KeyAnyValue{{Key: "host", Value: "array-z"}}, Message: "array-z did not answer"}},
	}}}
	lmf := &vimtypes.LocalizedMethodFault{Fault: fault, LocalizedMessage: "array-z did not answer"}
	info := disconnectedInfo("vp-same")
	info.StatusFault = lmf
	g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-same", Info: info, ReconnectDuration: time.Second, TaskFault: lmf})
	g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-same-unary", Info: disconnectedInfo("vp-same-unary")})
	g.sim.Sim.InjectFault("VasaProviderReconnect_Task", "vp-same-unary", fault)

	p, err := g.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-same"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-same"})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := watchGRPC(ctx, g.tasks, task.GetName())
	if err != nil {
		t.Fatal(err)
	}
	_, unaryErr := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-same-unary"})

	sts := map[string]*status.Status{
		"statusFault": status.FromProto(p.GetStatusFault()),
		"task error":  status.FromProto(tasks[len(tasks)-1].GetError()),
		"unary":       status.Convert(unaryErr),
	}
	// The resource differs by design; everything else must match.
	normal := func(st *status.Status) proto.Message {
		pb := proto.Clone(st.Proto())
		s := status.FromProto(pb.(*spb.Status))
		var out []proto.Message
		for _, d := range s.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				md := map[string]string{}
				for k, v := range d.GetMetadata() {
					if k != "resource" {
						md[k] = v
					}
				}
				out = append(out, &errdetails.ErrorInfo{Reason: d.GetReason(), Domain: d.GetDomain(), Metadata: md})
			case proto.Message:
				out = append(out, d)
			}
		}
		return &errdetails.DebugInfo{Detail: fmt.Sprint(s.Code(), s.Message(), out)}
	}
	want := normal(sts["unary"])
	if sts["unary"].Code() != codes.Unavailable {
		t.Fatalf("unary status %v", sts["unary"].Proto())
	}
	for how, st := range sts {
		if diff := cmp.Diff(want, normal(st), protocmp.Transform()); diff != "" {
			t.Errorf("%s differs from the unary error (-unary +%s):\n%s", how, how, diff)
		}
	}
}
