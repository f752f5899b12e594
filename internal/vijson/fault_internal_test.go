package vijson

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/service"
)

// TestGatewayFaultMapping pins the MethodFault the facade sends for each of the
// gateway's own errors (a status without a VimFault detail), as vCenter
// sends for the same condition.
func TestGatewayFaultMapping(t *testing.T) {
	t.Parallel()
	this := vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-2"}
	withRetry := func(st *status.Status) *status.Status {
		st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: "vasagw.io"}, &errdetails.RetryInfo{RetryDelay: durationpb.New(90 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	tests := []struct {
		name    string
		st      *status.Status
		want    string // the fault's type
		message string // its first faultMessage's key
	}{
		{"no credentials", status.New(codes.Unauthenticated, "no token"), "NotAuthenticated", ""},
		{"missing role", status.Convert(service.GatewayError(codes.PermissionDenied, "MISSING_ROLE", "needs operator", map[string]string{"role": "operator"})), "NoPermission", "vim.fault.NoPermission"},
		{"unknown object", status.Convert(service.GatewayError(codes.NotFound, "PROVIDER_NOT_FOUND", "no such provider", nil)), "ManagedObjectNotFound", ""},
		{"bad request", status.Convert(service.InvalidRequest("requestId", "not a UUID")), "InvalidArgument", "vmodl.fault.InvalidArgument"},
		{"not implemented here", status.Convert(service.GatewayError(codes.Unimplemented, "NOT_IMPLEMENTED", "this vCenter session does not support the provider life cycle", nil)), "NotImplemented", "vmodl.fault.NotImplemented"},
		{"deadline", status.New(codes.DeadlineExceeded, "late"), "Timedout", "vim.fault.Timedout"},
		{"cancelled", status.New(codes.Canceled, "gone"), "RequestCanceled", "vim.fault.RequestCanceled"},
		{"VASA 1.0", status.Convert(service.GatewayError(codes.FailedPrecondition, "VASA_VERSION_UNSUPPORTED", "VASA 1.0", nil)), "NotSupported", "vmodl.fault.NotSupported"},
		{"rate limit", withRetry(status.New(codes.ResourceExhausted, "too many")), "SystemError", "vmodl.fault.SystemError"},
		{"anything else", status.Convert(service.GatewayError(codes.Internal, "SOMETHING_ODD", "odd", nil)), "SystemError", "vmodl.fault.SystemError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := faultOf(tt.st, this)
			if got := reflect.TypeOf(f).Elem().Name(); got != tt.want {
				t.Fatalf("fault %s, want %s", got, tt.want)
			}
			msgs := f.GetMethodFault().FaultMessage
			if tt.message != "" && (len(msgs) == 0 || msgs[0].Key != tt.message) {
				t.Errorf("faultMessage %+v, want key %s", msgs, tt.message)
			}
		})
	}
	np := faultOf(status.Convert(service.GatewayError(codes.PermissionDenied, "MISSING_ROLE", "needs operator", map[string]string{"role": "operator"})), this).(*vimtypes.NoPermission)
	if np.PrivilegeId != "StorageViews.ConfigureService" || np.Object == nil || np.Object.Value != "vp-2" {
		t.Errorf("NoPermission %+v, want the operator's privilege on vp-2", np)
	}
	se := faultOf(withRetry(status.New(codes.ResourceExhausted, "too many")), this).(*vimtypes.SystemError)
	if se.Reason != "too many requests; retry after 1m30s" {
		t.Errorf("rate-limit SystemError reason %q", se.Reason)
	}
}
