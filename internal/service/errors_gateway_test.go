package service

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// TestLifecycleErrors pins the gateway's own errors of the provider life
// cycle, row by row: code, HTTP status, ErrorInfo, and detail types.
func TestLifecycleErrors(t *testing.T) {
	t.Parallel()
	const fp = "AB:CD:EF"
	tests := []struct {
		name  string
		err   error
		code  codes.Code
		http  int
		info  *errdetails.ErrorInfo
		types []string
	}{
		{
			name: "recovery not needed",
			err:  recoveryNotNeeded(testVCenter, testProvider, "valid"),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  gatewayInfo("RECOVERY_NOT_NEEDED", testProvider, "certificateStatus", "valid"),
			types: []string{tErrorInfo, tLocalized, tPrecondition},
		},
		{
			name: "certificate not renewed",
			err:  certificateNotRenewed(testVCenter, testProvider, "an expired certificate", fp),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  gatewayInfo("PROVIDER_CERTIFICATE_NOT_RENEWED", testProvider, "certificateSha256Fingerprint", fp),
			types: []string{tErrorInfo, tLocalized, tPrecondition, tHelp},
		},
		{
			name: "fingerprint mismatch",
			err:  certificateFingerprintMismatch(testVCenter, testProvider, fp),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  gatewayInfo("CERTIFICATE_FINGERPRINT_MISMATCH", testProvider, "certificateSha256Fingerprint", fp),
			types: []string{tErrorInfo, tLocalized, tPrecondition},
		},
		{
			name: "provider unreachable for the pre-flight",
			err:  providerUnreachable(testVCenter, testProvider),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  gatewayInfo("PROVIDER_UNREACHABLE", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry},
		},
		{
			name: "registered provider not online in time",
			err:  providerNotOnline(testVCenter, testProvider, "offline"),
			code: codes.DeadlineExceeded, http: http.StatusGatewayTimeout,
			info:  gatewayInfo("PROVIDER_NOT_ONLINE", testProvider, "providerStatus", "offline"),
			types: []string{tErrorInfo, tLocalized},
		},
		{
			name: "session without the life cycle",
			err:  lifecycleUnsupported(testVCenter, testProvider),
			code: codes.Unimplemented, http: http.StatusNotImplemented,
			info:  gatewayInfo("NOT_IMPLEMENTED", testProvider),
			types: []string{tErrorInfo, tLocalized},
		},
		{
			name: "a recovery step that failed upstream",
			err:  stepFailed(faultStatus(fault("ProviderRegistrationFault"), testVCenter, testProvider), vasagwv1.TaskStep_KIND_REGISTER, true).Err(),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("PROVIDER_REGISTRATION_FAULT", "ProviderRegistrationFault", testProvider, "step", "KIND_REGISTER"),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "a recovery step the gateway failed",
			err:  stepFailed(status.Convert(providerNotOnline(testVCenter, testProvider, "")), vasagwv1.TaskStep_KIND_WAIT_ONLINE, true).Err(),
			code: codes.DeadlineExceeded, http: http.StatusGatewayTimeout,
			info:  gatewayInfo("PROVIDER_NOT_ONLINE", testProvider, "step", "KIND_WAIT_ONLINE"),
			types: []string{tErrorInfo, tLocalized},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := statusOf(tt.err, testVCenter, testProvider)
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v", st.Code(), tt.code)
			}
			if got := runtime.HTTPStatusFromCode(st.Code()); got != tt.http {
				t.Errorf("HTTP status = %d, want %d", got, tt.http)
			}
			types, byType := parts(t, st)
			if diff := cmp.Diff(tt.info, byType[tErrorInfo], protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.types, types); diff != "" {
				t.Errorf("detail types (-want +got):\n%s", diff)
			}
			assertSafe(t, st, byType)
		})
	}
}

// TestStepFailedMessage: a failed step's error names the step and, when it
// can be resumed, how; the step's own message stays in it.
func TestStepFailedMessage(t *testing.T) {
	t.Parallel()
	inner := status.Convert(providerNotOnline(testVCenter, testProvider, ""))
	resumable := stepFailed(inner, vasagwv1.TaskStep_KIND_WAIT_ONLINE, true).Message()
	if !strings.Contains(resumable, "KIND_WAIT_ONLINE") || !strings.Contains(resumable, inner.Message()) || !strings.Contains(resumable, "same request_id") {
		t.Errorf("resumable step error: %q", resumable)
	}
	final := stepFailed(inner, vasagwv1.TaskStep_KIND_UNREGISTER, false).Message()
	if strings.Contains(final, "resume") {
		t.Errorf("a step that cannot be resumed says to resume: %q", final)
	}
	if st := status.Convert(providerUnreachable(testVCenter, testProvider)); retryOf(st) != retryProvider {
		t.Errorf("PROVIDER_UNREACHABLE retry %v", retryOf(st))
	}
}

func retryOf(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			return r.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
