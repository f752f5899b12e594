package service

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

const (
	testVCenter  = "default"
	testProvider = "vcenters/default/vasaProviders/vp-3"
	testTask     = "vcenters/default/tasks/task-7"
	// upstreamText stands for what vCenter may put in a fault's message:
	// it must never reach a status message or a LocalizedMessage.
	upstreamText = "login of administrator@vsphere.local at https://vc.example.com/sdk failed, session 52af9e0c"
)

// Detail type names, in the order the gateway writes them.
const (
	tErrorInfo    = "google.rpc.ErrorInfo"
	tLocalized    = "google.rpc.LocalizedMessage"
	tRetry        = "google.rpc.RetryInfo"
	tPrecondition = "google.rpc.PreconditionFailure"
	tHelp         = "google.rpc.Help"
	tBadRequest   = "google.rpc.BadRequest"
	tResourceInfo = "google.rpc.ResourceInfo"
	tVimFault     = "vasagw.v1.VimFault"
)

// fault builds an upstream fault as internal/vcenter would, with upstream
// text that must stay out of the caller-facing strings.
func fault(typeName string, props ...string) *vcenter.Fault {
	f := &vcenter.Fault{
		TypeName: typeName,
		Message:  upstreamText,
		Messages: []vcenter.Message{{Key: "com.vmware.sms.fault." + typeName, Text: upstreamText}},
	}
	if len(props) > 0 {
		f.Properties = make(map[string]string)
		for i := 0; i+1 < len(props); i += 2 {
			f.Properties[props[i]] = props[i+1]
		}
	}
	return f
}

// upstreamInfo is the ErrorInfo expected for an upstream fault about
// resource, with extra metadata as key/value pairs.
func upstreamInfo(reason, faultType, resource string, extra ...string) *errdetails.ErrorInfo {
	md := map[string]string{"vcenter": testVCenter, "resource": resource, "faultType": faultType}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	return &errdetails.ErrorInfo{Reason: reason, Domain: "sms.vasagw.io", Metadata: md}
}

// gatewayInfo is the ErrorInfo expected for one of the gateway's own errors.
func gatewayInfo(reason, resource string, extra ...string) *errdetails.ErrorInfo {
	md := map[string]string{}
	if resource != "" {
		md["vcenter"] = testVCenter
		md["resource"] = resource
	}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	return &errdetails.ErrorInfo{Reason: reason, Domain: "vasagw.io", Metadata: md}
}

func retry(d time.Duration) *errdetails.RetryInfo {
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}

func badRequest(field, description string) *errdetails.BadRequest {
	return &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: description}}}
}

// parts splits a status's details by type and checks what every status
// must have: decodable details, an ErrorInfo first, an en-US
// LocalizedMessage second.
func parts(t *testing.T, st *status.Status) (types []string, byType map[string]proto.Message) {
	t.Helper()
	byType = make(map[string]proto.Message)
	for _, d := range st.Details() {
		m, ok := d.(proto.Message)
		if !ok {
			t.Fatalf("detail %v (%T) did not decode", d, d)
		}
		name := string(m.ProtoReflect().Descriptor().FullName())
		types = append(types, name)
		byType[name] = m
	}
	if len(types) < 2 || types[0] != tErrorInfo || types[1] != tLocalized {
		t.Fatalf("details %v: want ErrorInfo then LocalizedMessage first", types)
	}
	lm := byType[tLocalized].(*errdetails.LocalizedMessage)
	if lm.GetLocale() != "en-US" || !strings.HasSuffix(lm.GetMessage(), ".") {
		t.Errorf("LocalizedMessage = %v, want an en-US sentence", lm)
	}
	return types, byType
}

// assertSafe checks that no upstream text leaks into what callers read.
func assertSafe(t *testing.T, st *status.Status, byType map[string]proto.Message) {
	t.Helper()
	texts := []string{st.Message(), byType[tLocalized].(*errdetails.LocalizedMessage).GetMessage()}
	for _, s := range texts {
		for _, leak := range []string{"vc.example.com", "52af9e0c", "administrator@vsphere.local"} {
			if strings.Contains(s, leak) {
				t.Errorf("caller-facing text %q leaks %q", s, leak)
			}
		}
	}
	if st.Message() == "" {
		t.Error("empty status message")
	}
}

// TestStatusContract has one case per row of README.md's fault table (and a
// few rows of its own for the conditions statusOf adds), checking the code,
// the HTTP status grpc-gateway derives, the ErrorInfo, the detail types in
// order and the row's own details.
func TestStatusContract(t *testing.T) {
	t.Parallel()
	cert, certFP := testCertificate(t)

	tests := []struct {
		name     string
		err      error
		resource string // default testProvider
		code     codes.Code
		http     int
		info     *errdetails.ErrorInfo
		types    []string
		extra    []proto.Message // compared with the detail of the same type
	}{
		{
			name: "InvalidCertificate",
			err:  fault("InvalidCertificate", "certificate", cert),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  upstreamInfo("INVALID_CERTIFICATE", "InvalidCertificate", testProvider, "certificateSha256Fingerprint", certFP),
			types: []string{tErrorInfo, tLocalized, tPrecondition, tHelp, tVimFault},
			extra: []proto.Message{&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type:        "CERTIFICATE",
				Subject:     testProvider,
				Description: "the provider's certificate is expired or invalid; vCenter will not reconnect to it until it is replaced: do the three steps in Help, or have the gateway do them with VasaProviderService.RecoverProvider (POST /v1/{name}:recover) once the provider presents a new certificate",
			}}}},
		},
		{
			name: "CertificateNotTrusted",
			err:  fault("CertificateNotTrusted", "certificate", cert),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  upstreamInfo("CERTIFICATE_NOT_TRUSTED", "CertificateNotTrusted", testProvider, "certificateSha256Fingerprint", certFP),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "ProviderConnectionFailed",
			err:  fault("ProviderConnectionFailed"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("PROVIDER_CONNECTION_FAILED", "ProviderConnectionFailed", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry, tVimFault},
			extra: []proto.Message{retry(30 * time.Second)},
		},
		{
			name: "ProviderBusy",
			err:  fault("ProviderBusy"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("PROVIDER_BUSY", "ProviderBusy", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry, tVimFault},
			extra: []proto.Message{retry(10 * time.Second)},
		},
		{
			name: "ProviderUnavailable",
			err:  fault("ProviderUnavailable"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("PROVIDER_UNAVAILABLE", "ProviderUnavailable", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry, tVimFault},
		},
		{
			name: "ServiceNotInitialized",
			err:  fault("ServiceNotInitialized"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("SERVICE_NOT_INITIALIZED", "ServiceNotInitialized", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry, tVimFault},
		},
		{
			name: "AuthConnectionFailed",
			err:  fault("AuthConnectionFailed"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("AUTH_CONNECTION_FAILED", "AuthConnectionFailed", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry, tVimFault},
		},
		{
			name: "SyncInProgress",
			err:  fault("SyncInProgress"),
			code: codes.Aborted, http: http.StatusConflict,
			info:  upstreamInfo("SYNC_IN_PROGRESS", "SyncInProgress", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "InactiveProvider",
			err:  fault("InactiveProvider"),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  upstreamInfo("INACTIVE_PROVIDER", "InactiveProvider", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "NotSupported",
			err:  fault("NotSupported"),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  upstreamInfo("NOT_SUPPORTED", "NotSupported", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "provider below VASA 2.0",
			err:  vasaVersionUnsupported(testVCenter, testProvider, "1.0"),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  gatewayInfo("VASA_VERSION_UNSUPPORTED", testProvider, "vasaVersion", "1.0", "minimumVasaVersion", "2.0"),
			types: []string{tErrorInfo, tLocalized, tPrecondition},
			extra: []proto.Message{&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type: "VASA_VERSION", Subject: testProvider, Description: "the provider must support VASA 2.0 or later",
			}}}},
		},
		{
			name: "ManagedObjectNotFound provider",
			err:  fault("ManagedObjectNotFound"),
			code: codes.NotFound, http: http.StatusNotFound,
			info:  upstreamInfo("PROVIDER_NOT_FOUND", "ManagedObjectNotFound", testProvider),
			types: []string{tErrorInfo, tLocalized, tResourceInfo, tVimFault},
			extra: []proto.Message{&errdetails.ResourceInfo{
				ResourceType: "type.googleapis.com/vasagw.v1.VasaProvider",
				ResourceName: testProvider,
				Owner:        "vcenters/default",
				Description:  "no provider by this name in vCenter",
			}},
		},
		{
			name:     "ManagedObjectNotFound task",
			err:      fault("ManagedObjectNotFound"),
			resource: testTask,
			code:     codes.NotFound, http: http.StatusNotFound,
			info:  upstreamInfo("TASK_NOT_FOUND", "ManagedObjectNotFound", testTask),
			types: []string{tErrorInfo, tLocalized, tResourceInfo, tVimFault},
			extra: []proto.Message{&errdetails.ResourceInfo{
				ResourceType: "type.googleapis.com/vasagw.v1.Task",
				ResourceName: testTask,
				Owner:        "vcenters/default",
				Description:  "no task by this name in vCenter",
			}},
		},
		{
			name: "NotFound",
			err:  fault("NotFound"),
			code: codes.NotFound, http: http.StatusNotFound,
			info:  upstreamInfo("PROVIDER_NOT_FOUND", "NotFound", testProvider),
			types: []string{tErrorInfo, tLocalized, tResourceInfo, tVimFault},
		},
		{
			name: "ProviderNotFound",
			err:  fault("ProviderNotFound"),
			code: codes.NotFound, http: http.StatusNotFound,
			info:  upstreamInfo("PROVIDER_NOT_FOUND", "ProviderNotFound", testProvider),
			types: []string{tErrorInfo, tLocalized, tResourceInfo, tVimFault},
		},
		{
			name:     "gateway task not found",
			err:      notFound(testVCenter, testTask),
			resource: testTask,
			code:     codes.NotFound, http: http.StatusNotFound,
			info:  gatewayInfo("TASK_NOT_FOUND", testTask),
			types: []string{tErrorInfo, tLocalized, tResourceInfo},
		},
		{
			name: "gateway provider not found",
			err:  notFound(testVCenter, testProvider),
			code: codes.NotFound, http: http.StatusNotFound,
			info:  gatewayInfo("PROVIDER_NOT_FOUND", testProvider),
			types: []string{tErrorInfo, tLocalized, tResourceInfo},
		},
		{
			name: "NotAuthenticated",
			err:  fault("NotAuthenticated"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("VCENTER_AUTH_FAILED", "NotAuthenticated", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "InvalidLogin",
			err:  fault("InvalidLogin"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("VCENTER_AUTH_FAILED", "InvalidLogin", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "SmsInvalidLogin",
			err:  fault("SmsInvalidLogin"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("VCENTER_AUTH_FAILED", "SmsInvalidLogin", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "InvalidSession",
			err:  &vcenter.Fault{TypeName: "InvalidSession", Supertypes: []string{"NoPermission", "SecurityError", "RuntimeFault", "MethodFault"}},
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("VCENTER_AUTH_FAILED", "InvalidSession", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "NoPermission naming a privilege",
			err:  fault("NoPermission", "privilegeId", "StorageProfile.Update"),
			code: codes.PermissionDenied, http: http.StatusForbidden,
			info:  upstreamInfo("NO_PERMISSION", "NoPermission", testProvider, "privilege", "StorageProfile.Update"),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "NoPermission naming none",
			err:  fault("NoPermission"),
			code: codes.PermissionDenied, http: http.StatusForbidden,
			info:  upstreamInfo("NO_PERMISSION", "NoPermission", testProvider, "privilege", "StorageViews.ConfigureService"),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "InvalidArgument",
			err:  fault("InvalidArgument", "invalidProperty", "spec.name"),
			code: codes.InvalidArgument, http: http.StatusBadRequest,
			info:  upstreamInfo("INVALID_ARGUMENT", "InvalidArgument", testProvider),
			types: []string{tErrorInfo, tLocalized, tBadRequest, tVimFault},
			extra: []proto.Message{badRequest("spec.name", "vCenter rejected an argument")},
		},
		{
			name: "InvalidUrl",
			err:  fault("InvalidUrl", "url", "https://array.example.com:8443/vasa"),
			code: codes.InvalidArgument, http: http.StatusBadRequest,
			info:  upstreamInfo("INVALID_URL", "InvalidUrl", testProvider),
			types: []string{tErrorInfo, tLocalized, tBadRequest, tVimFault},
			extra: []proto.Message{badRequest("url", "provider URL is not valid")},
		},
		{
			name: "DuplicateEntry",
			err:  fault("DuplicateEntry"),
			code: codes.InvalidArgument, http: http.StatusBadRequest,
			info:  upstreamInfo("DUPLICATE_ENTRY", "DuplicateEntry", testProvider),
			types: []string{tErrorInfo, tLocalized, tBadRequest, tVimFault},
		},
		{
			name: "IncorrectUsernamePassword",
			err:  fault("IncorrectUsernamePassword"),
			code: codes.InvalidArgument, http: http.StatusBadRequest,
			info:  upstreamInfo("INCORRECT_USERNAME_PASSWORD", "IncorrectUsernamePassword", testProvider),
			types: []string{tErrorInfo, tLocalized, tBadRequest, tVimFault},
			extra: []proto.Message{badRequest("username", "provider rejected the user name or password")},
		},
		{
			name: "AlreadyExists",
			err:  fault("AlreadyExists"),
			code: codes.AlreadyExists, http: http.StatusConflict,
			info:  upstreamInfo("ALREADY_EXISTS", "AlreadyExists", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "ProviderOutOfResource",
			err:  fault("ProviderOutOfResource"),
			code: codes.ResourceExhausted, http: http.StatusTooManyRequests,
			info:  upstreamInfo("PROVIDER_OUT_OF_RESOURCE", "ProviderOutOfResource", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "NotImplemented",
			err:  fault("NotImplemented"),
			code: codes.Unimplemented, http: http.StatusNotImplemented,
			info:  upstreamInfo("NOT_IMPLEMENTED", "NotImplemented", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "MethodNotFound",
			err:  fault("MethodNotFound"),
			code: codes.Unimplemented, http: http.StatusNotImplemented,
			info:  upstreamInfo("NOT_IMPLEMENTED", "MethodNotFound", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "RequestCanceled",
			err:  fault("RequestCanceled"),
			code: codes.Canceled, http: 499,
			info:  upstreamInfo("REQUEST_CANCELED", "RequestCanceled", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "Timedout",
			err:  fault("Timedout"),
			code: codes.DeadlineExceeded, http: http.StatusGatewayTimeout,
			info:  upstreamInfo("TIMEDOUT", "Timedout", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "other: SystemError",
			err:  fault("SystemError"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("SYSTEM_ERROR", "SystemError", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "other: RuntimeFault",
			err:  fault("RuntimeFault"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("RUNTIME_FAULT", "RuntimeFault", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "ProviderSyncFailed",
			err:  fault("ProviderSyncFailed"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("PROVIDER_SYNC_FAILED", "ProviderSyncFailed", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "CertificateRefreshFailed",
			err:  fault("CertificateRefreshFailed", "providerId", "5b1e2c9a"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("CERTIFICATE_REFRESH_FAILED", "CertificateRefreshFailed", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "CertificateRevocationFailed",
			err:  fault("CertificateRevocationFailed"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("CERTIFICATE_REVOCATION_FAILED", "CertificateRevocationFailed", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "ProviderRegistrationFault",
			err:  fault("ProviderRegistrationFault"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("PROVIDER_REGISTRATION_FAULT", "ProviderRegistrationFault", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "CertificateAuthorityFault (a ProviderRegistrationFault)",
			err:  &vcenter.Fault{TypeName: "CertificateAuthorityFault", Supertypes: []string{"ProviderRegistrationFault", "MethodFault"}, Properties: map[string]string{"faultCode": "3"}},
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("CERTIFICATE_AUTHORITY_FAULT", "CertificateAuthorityFault", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "CertificateNotImported (a ProviderRegistrationFault)",
			err:  &vcenter.Fault{TypeName: "CertificateNotImported", Supertypes: []string{"ProviderRegistrationFault", "MethodFault"}},
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("CERTIFICATE_NOT_IMPORTED", "CertificateNotImported", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "ProviderUnregistrationFault",
			err:  fault("ProviderUnregistrationFault"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  upstreamInfo("PROVIDER_UNREGISTRATION_FAULT", "ProviderUnregistrationFault", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "TooMany naming the batch size",
			err:  fault("TooMany", "maxBatchSize", "128"),
			code: codes.ResourceExhausted, http: http.StatusTooManyRequests,
			info:  upstreamInfo("TOO_MANY", "TooMany", testProvider, "maxBatchSize", "128"),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "TooMany naming none",
			err:  fault("TooMany"),
			code: codes.ResourceExhausted, http: http.StatusTooManyRequests,
			info:  upstreamInfo("TOO_MANY", "TooMany", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "QueryExecutionFault",
			err:  fault("QueryExecutionFault"),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  upstreamInfo("QUERY_EXECUTION_FAULT", "QueryExecutionFault", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry, tVimFault},
			extra: []proto.Message{retry(10 * time.Second)},
		},
		{
			name:     "InvalidState",
			err:      fault("InvalidState"),
			resource: testTask,
			code:     codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  upstreamInfo("INVALID_STATE", "InvalidState", testTask),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "NotSupportedByProvider",
			err:  fault("NotSupportedByProvider"),
			code: codes.FailedPrecondition, http: http.StatusBadRequest,
			info:  upstreamInfo("NOT_SUPPORTED_BY_PROVIDER", "NotSupportedByProvider", testProvider),
			types: []string{tErrorInfo, tLocalized, tVimFault},
		},
		{
			name: "vCenter unreachable",
			err:  fmt.Errorf("query provider info: %w", vcenter.ErrUnreachable),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  gatewayInfo("VCENTER_UNREACHABLE", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry},
			extra: []proto.Message{retry(5 * time.Second)},
		},
		{
			name: "vCenter unreachable by the session's own timeout",
			err:  fmt.Errorf("%w: no answer: %w", vcenter.ErrUnreachable, context.DeadlineExceeded),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  gatewayInfo("VCENTER_UNREACHABLE", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry},
		},
		{
			name: "vCenter certificate not trusted",
			err:  fmt.Errorf("login: %w", &vcenter.UntrustedCertificateError{Thumbprint: "AB:CD:EF", Err: errors.New("x509: unknown authority")}),
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  gatewayInfo("VCENTER_CERTIFICATE_UNTRUSTED", testProvider, "thumbprint", "AB:CD:EF"),
			types: []string{tErrorInfo, tLocalized},
		},
		{
			name:     "malformed request",
			err:      invalidRequest("name", `name "vcenters/x" is not of the form vcenters/{vcenter}/vasaProviders/{provider}`),
			resource: "",
			code:     codes.InvalidArgument, http: http.StatusBadRequest,
			info:  gatewayInfo("INVALID_REQUEST", ""),
			types: []string{tErrorInfo, tLocalized, tBadRequest},
			extra: []proto.Message{badRequest("name", `name "vcenters/x" is not of the form vcenters/{vcenter}/vasaProviders/{provider}`)},
		},
		{
			name: "caller canceled",
			err:  fmt.Errorf("get provider: %w", context.Canceled),
			code: codes.Canceled, http: 499,
			info:  gatewayInfo("CANCELLED", testProvider),
			types: []string{tErrorInfo, tLocalized},
		},
		{
			name: "caller deadline",
			err:  context.DeadlineExceeded,
			code: codes.DeadlineExceeded, http: http.StatusGatewayTimeout,
			info:  gatewayInfo("DEADLINE_EXCEEDED", testProvider),
			types: []string{tErrorInfo, tLocalized},
		},
		{
			name: "session closed at shutdown",
			err:  vcenter.ErrClosed,
			code: codes.Unavailable, http: http.StatusServiceUnavailable,
			info:  gatewayInfo("SHUTTING_DOWN", testProvider),
			types: []string{tErrorInfo, tLocalized, tRetry},
		},
		{
			name: "anything else",
			err:  errors.New("open /etc/vasagw/password: permission denied"),
			code: codes.Internal, http: http.StatusInternalServerError,
			info:  gatewayInfo("INTERNAL", testProvider),
			types: []string{tErrorInfo, tLocalized},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resource := tt.resource
			if resource == "" && tt.info.GetMetadata()["resource"] != "" {
				resource = testProvider
			}
			st := statusOf(tt.err, testVCenter, resource)
			if got := st.Code(); got != tt.code {
				t.Errorf("code = %v, want %v", got, tt.code)
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
			for _, want := range tt.extra {
				name := string(want.ProtoReflect().Descriptor().FullName())
				if diff := cmp.Diff(want, byType[name], protocmp.Transform()); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
			assertSafe(t, st, byType)
			var f *vcenter.Fault
			if errors.As(tt.err, &f) {
				vf := byType[tVimFault].(*vasagwv1.VimFault)
				if vf.GetTypeName() != f.TypeName {
					t.Errorf("VimFault.typeName = %q, want %q", vf.GetTypeName(), f.TypeName)
				}
				// faultStatus gives the same status as statusOf for a fault.
				if diff := cmp.Diff(st.Proto(), faultStatus(f, testVCenter, resource).Proto(), protocmp.Transform()); diff != "" {
					t.Errorf("faultStatus differs from statusOf (-statusOf +faultStatus):\n%s", diff)
				}
			}
		})
	}
}

// TestInvalidCertificateHelp checks the recovery steps: unregister,
// provision a new self-signed certificate, register, each with a link.
func TestInvalidCertificateHelp(t *testing.T) {
	t.Parallel()
	st := faultStatus(fault("InvalidCertificate"), testVCenter, testProvider)
	_, byType := parts(t, st)
	help, ok := byType[tHelp].(*errdetails.Help)
	if !ok {
		t.Fatalf("no Help detail in %v", st.Details())
	}
	wantSteps := [][]string{
		{"Step 1", "unregister", "UnregisterProvider_Task", "VasaProviderService.UnregisterProvider", "DELETE /v1/"},
		{"Step 2", "new self-signed certificate"},
		{"Step 3", "register", "RegisterProvider_Task", "VasaProviderService.RegisterProvider", "POST /v1/"},
	}
	if len(help.GetLinks()) != len(wantSteps) {
		t.Fatalf("Help has %d links, want %d: %v", len(help.GetLinks()), len(wantSteps), help)
	}
	for i, link := range help.GetLinks() {
		for _, w := range wantSteps[i] {
			if !strings.Contains(link.GetDescription(), w) {
				t.Errorf("link %d description %q does not mention %q", i, link.GetDescription(), w)
			}
		}
		if !strings.HasPrefix(link.GetUrl(), "https://developer.broadcom.com/") {
			t.Errorf("link %d URL %q is not an absolute vSphere API reference URL", i, link.GetUrl())
		}
	}
	// Without a decodable certificate the fingerprint is left out.
	info := byType[tErrorInfo].(*errdetails.ErrorInfo)
	if fp, ok := info.GetMetadata()["certificateSha256Fingerprint"]; ok {
		t.Errorf("fingerprint %q for a fault without a certificate", fp)
	}
}

// TestCauseWalk checks that a generic outer fault maps as the first
// specific fault in its cause chain, while the VimFault detail keeps the
// whole chain from the outermost fault.
func TestCauseWalk(t *testing.T) {
	t.Parallel()
	cert, certFP := testCertificate(t)
	chain := func(faults ...*vcenter.Fault) *vcenter.Fault {
		for i := len(faults) - 2; i >= 0; i-- {
			faults[i].Cause = faults[i+1]
		}
		return faults[0]
	}
	tests := []struct {
		name      string
		fault     *vcenter.Fault
		code      codes.Code
		reason    string
		faultType string
		chain     []string // VimFault type names, outermost first
		extra     map[string]string
	}{
		{
			name:      "SystemError around InvalidCertificate",
			fault:     chain(fault("SystemError"), fault("InvalidCertificate", "certificate", cert)),
			code:      codes.FailedPrecondition,
			reason:    "INVALID_CERTIFICATE",
			faultType: "InvalidCertificate",
			chain:     []string{"SystemError", "InvalidCertificate"},
			extra:     map[string]string{"certificateSha256Fingerprint": certFP},
		},
		{
			name:      "three generic levels around ProviderBusy",
			fault:     chain(fault("RuntimeFault"), fault("VimFault"), fault("SmsFault"), fault("ProviderBusy")),
			code:      codes.Unavailable,
			reason:    "PROVIDER_BUSY",
			faultType: "ProviderBusy",
			chain:     []string{"RuntimeFault", "VimFault", "SmsFault", "ProviderBusy"},
		},
		{
			name:      "unknown type around NoPermission",
			fault:     chain(fault("VasaProviderExplodedFault"), fault("NoPermission", "privilegeId", "StorageViews.View")),
			code:      codes.PermissionDenied,
			reason:    "NO_PERMISSION",
			faultType: "NoPermission",
			chain:     []string{"VasaProviderExplodedFault", "NoPermission"},
			extra:     map[string]string{"privilege": "StorageViews.View"},
		},
		{
			name:      "other-bucket type around Timedout",
			fault:     chain(fault("VvolRebindFault"), fault("Timedout")),
			code:      codes.DeadlineExceeded,
			reason:    "TIMEDOUT",
			faultType: "Timedout",
			chain:     []string{"VvolRebindFault", "Timedout"},
		},
		{
			name:      "specific outer fault wins over its cause",
			fault:     chain(fault("ProviderConnectionFailed"), fault("InvalidCertificate")),
			code:      codes.Unavailable,
			reason:    "PROVIDER_CONNECTION_FAILED",
			faultType: "ProviderConnectionFailed",
			chain:     []string{"ProviderConnectionFailed", "InvalidCertificate"},
		},
		{
			name:      "first specific cause wins",
			fault:     chain(fault("SystemError"), fault("SyncInProgress"), fault("NotAuthenticated")),
			code:      codes.Aborted,
			reason:    "SYNC_IN_PROGRESS",
			faultType: "SyncInProgress",
			chain:     []string{"SystemError", "SyncInProgress", "NotAuthenticated"},
		},
		{
			name:      "nothing specific: the outermost type decides",
			fault:     chain(fault("SystemError"), fault("RuntimeFault"), fault("MethodFault")),
			code:      codes.Internal,
			reason:    "SYSTEM_ERROR",
			faultType: "SystemError",
			chain:     []string{"SystemError", "RuntimeFault", "MethodFault"},
		},
		{
			name:      "a subtype maps as its nearest listed supertype",
			fault:     &vcenter.Fault{TypeName: "PasswordExpired", Supertypes: []string{"InvalidLogin", "VimFault", "MethodFault"}},
			code:      codes.Unavailable,
			reason:    "VCENTER_AUTH_FAILED",
			faultType: "PasswordExpired",
			chain:     []string{"PasswordExpired"},
		},
		{
			name:      "a subtype keeps its parent row's reason",
			fault:     &vcenter.Fault{TypeName: "QueryNotSupported", Supertypes: []string{"InvalidArgument", "RuntimeFault", "MethodFault"}},
			code:      codes.InvalidArgument,
			reason:    "INVALID_ARGUMENT",
			faultType: "QueryNotSupported",
			chain:     []string{"QueryNotSupported"},
		},
		{
			name:      "generic supertypes do not make a fault specific",
			fault:     chain(&vcenter.Fault{TypeName: "SystemError", Supertypes: []string{"RuntimeFault", "MethodFault"}}, fault("ProviderOutOfResource")),
			code:      codes.ResourceExhausted,
			reason:    "PROVIDER_OUT_OF_RESOURCE",
			faultType: "ProviderOutOfResource",
			chain:     []string{"SystemError", "ProviderOutOfResource"},
		},
		{
			name:      "empty type name is a MethodFault",
			fault:     &vcenter.Fault{},
			code:      codes.Internal,
			reason:    "METHOD_FAULT",
			faultType: "MethodFault",
			chain:     []string{"MethodFault"},
		},
		{
			name:      "empty type name around a specific cause",
			fault:     chain(&vcenter.Fault{}, fault("InvalidSession")),
			code:      codes.Unavailable,
			reason:    "VCENTER_AUTH_FAILED",
			faultType: "InvalidSession",
			chain:     []string{"MethodFault", "InvalidSession"},
		},
		{
			name:      "a type name that cannot be a reason",
			fault:     &vcenter.Fault{TypeName: "3parFault"},
			code:      codes.Internal,
			reason:    "UNKNOWN_FAULT",
			faultType: "3parFault",
			chain:     []string{"3parFault"},
		},
		{
			name:      "namespaced type name",
			fault:     &vcenter.Fault{TypeName: "sms:InvalidCertificate"},
			code:      codes.FailedPrecondition,
			reason:    "INVALID_CERTIFICATE",
			faultType: "InvalidCertificate",
			chain:     []string{"sms:InvalidCertificate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := statusOf(fmt.Errorf("reconnect provider: %w", tt.fault), testVCenter, testProvider)
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v", st.Code(), tt.code)
			}
			_, byType := parts(t, st)
			want := upstreamInfo(tt.reason, tt.faultType, testProvider)
			for k, v := range tt.extra {
				want.Metadata[k] = v
			}
			if diff := cmp.Diff(want, byType[tErrorInfo], protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.chain, vimChain(byType[tVimFault].(*vasagwv1.VimFault))); diff != "" {
				t.Errorf("VimFault chain (-want +got):\n%s", diff)
			}
			assertSafe(t, st, byType)
		})
	}
}

func vimChain(vf *vasagwv1.VimFault) []string {
	var names []string
	for ; vf != nil; vf = vf.GetFaultCause() {
		names = append(names, vf.GetTypeName())
	}
	return names
}

// TestSubtypeOrdering checks that a fault is matched by its own type
// before its supertypes, with faults translated by internal/vcenter from
// govmomi's real types: InvalidSession and AuthConnectionFailed embed
// NoPermission but must not map as it.
func TestSubtypeOrdering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fault  vimtypes.BaseMethodFault
		code   codes.Code
		reason string
	}{
		{"sms InvalidSession", &smstypes.InvalidSession{SessionCookie: "52af9e0c"}, codes.Unavailable, "VCENTER_AUTH_FAILED"},
		{"sms AuthConnectionFailed", &smstypes.AuthConnectionFailed{}, codes.Unavailable, "AUTH_CONNECTION_FAILED"},
		{"NotAuthenticated", &vimtypes.NotAuthenticated{}, codes.Unavailable, "VCENTER_AUTH_FAILED"},
		{"NoPermission", &vimtypes.NoPermission{PrivilegeId: "StorageViews.ConfigureService"}, codes.PermissionDenied, "NO_PERMISSION"},
		{"PasswordExpired (an InvalidLogin)", &vimtypes.PasswordExpired{}, codes.Unavailable, "VCENTER_AUTH_FAILED"},
		{"sms QueryNotSupported (an InvalidArgument)", &smstypes.QueryNotSupported{}, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"sms SyncInProgress (a ProviderSyncFailed)", &smstypes.SyncInProgress{}, codes.Aborted, "SYNC_IN_PROGRESS"},
		{"sms CertificateNotTrusted (a ProviderRegistrationFault)", &smstypes.CertificateNotTrusted{}, codes.FailedPrecondition, "CERTIFICATE_NOT_TRUSTED"},
		{"sms ProviderRegistrationFault", &smstypes.ProviderRegistrationFault{}, codes.Internal, "PROVIDER_REGISTRATION_FAULT"},
		{"sms CertificateAuthorityFault (a ProviderRegistrationFault)", &smstypes.CertificateAuthorityFault{FaultCode: 3}, codes.Internal, "CERTIFICATE_AUTHORITY_FAULT"},
		{"sms InvalidUrl (a ProviderRegistrationFault)", &smstypes.InvalidUrl{Url: "ftp://x"}, codes.InvalidArgument, "INVALID_URL"},
		{"sms IncorrectUsernamePassword (a ProviderRegistrationFault)", &smstypes.IncorrectUsernamePassword{}, codes.InvalidArgument, "INCORRECT_USERNAME_PASSWORD"},
		{"sms ProviderNotFound (a QueryExecutionFault)", &smstypes.ProviderNotFound{}, codes.NotFound, "PROVIDER_NOT_FOUND"},
		{"sms NoCommonProviderForAllBackings (a QueryExecutionFault)", &smstypes.NoCommonProviderForAllBackings{}, codes.Unavailable, "QUERY_EXECUTION_FAULT"},
		{"sms ProviderSyncFailed", &smstypes.ProviderSyncFailed{}, codes.Internal, "PROVIDER_SYNC_FAILED"},
		{"InvalidPowerState (an InvalidState)", &vimtypes.InvalidPowerState{}, codes.FailedPrecondition, "INVALID_STATE"},
		{"sms TooMany", &smstypes.TooMany{MaxBatchSize: 64}, codes.ResourceExhausted, "TOO_MANY"},
		{"SystemError", &vimtypes.SystemError{Reason: "boom"}, codes.Internal, "SYSTEM_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := vcenter.FaultFromLocalized(&vimtypes.LocalizedMethodFault{Fault: tt.fault, LocalizedMessage: upstreamText})
			st := faultStatus(f, testVCenter, testProvider)
			_, byType := parts(t, st)
			info := byType[tErrorInfo].(*errdetails.ErrorInfo)
			if st.Code() != tt.code || info.GetReason() != tt.reason {
				t.Errorf("%s -> %v %s, want %v %s", f.TypeName, st.Code(), info.GetReason(), tt.code, tt.reason)
			}
			if strings.Contains(prototext.Format(byType[tVimFault]), "52af9e0c") {
				t.Error("VimFault carries the session cookie")
			}
		})
	}

	// A fault's own row beats the row of any supertype, whatever the
	// supertypes claim.
	for _, row := range faultRules {
		for _, name := range row.types {
			var supers []string
			for _, other := range faultRules {
				supers = append(supers, other.types...)
			}
			got := ruleFor(&vcenter.Fault{TypeName: name, Supertypes: supers})
			if got == nil || got.reason != row.reason {
				t.Errorf("%s with every listed type as supertype maps to %v, want its own row %s", name, got, row.reason)
			}
		}
	}
}

// TestFaultRules checks the table itself: each type is listed once, and the
// rows the fault table gives "the type name in UPPER_SNAKE" as reason have it.
func TestFaultRules(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for _, row := range faultRules {
		if !validReason(row.reason) || row.message == "" || row.user == "" {
			t.Errorf("row %v: reason, message and user text are required", row.types)
		}
		for _, name := range row.types {
			if seen[name] {
				t.Errorf("%s is listed twice", name)
			}
			seen[name] = true
			if len(row.types) == 1 && row.reason != upperSnake(name) && name != "ManagedObjectNotFound" {
				t.Errorf("%s: reason %s, want %s", name, row.reason, upperSnake(name))
			}
		}
	}
}

func TestUpperSnake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"two words", "SystemError", "SYSTEM_ERROR"},
		{"four words", "ProviderOutOfResource", "PROVIDER_OUT_OF_RESOURCE"},
		{"one word", "Timedout", "TIMEDOUT"},
		{"mixed-case acronym", "InvalidUrl", "INVALID_URL"},
		{"leading acronym", "SSLVerifyFault", "SSL_VERIFY_FAULT"},
		{"acronym at the end", "VmConfigFaultHTTP", "VM_CONFIG_FAULT_HTTP"},
		{"acronym in the middle", "HostVMotionIncompatible", "HOST_V_MOTION_INCOMPATIBLE"},
		{"digits stay with their word", "Vim25Fault", "VIM25_FAULT"},
		{"prefix", "SmsInvalidLogin", "SMS_INVALID_LOGIN"},
		{"already upper", "NOT_FOUND", "NOT_FOUND"},
		{"separators", "sms:Invalid Session", "SMS_INVALID_SESSION"},
		{"non-ASCII letters separate", "ProviderÜberFault", "PROVIDER_BER_FAULT"},
		{"empty", "", ""},
		{"only separators", "::--", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := upperSnake(tt.in); got != tt.want {
				t.Errorf("upperSnake(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCertificateFingerprint(t *testing.T) {
	t.Parallel()
	pemCert, want := testCertificate(t)
	block, _ := pem.Decode([]byte(pemCert))
	b64 := base64.StdEncoding.EncodeToString(block.Bytes)
	tests := []struct {
		name, in, want string
	}{
		{"PEM", pemCert, want},
		{"PEM with text around it", "subject=vasa\n" + pemCert + "trailer", want},
		{"base64 DER", b64, want},
		{"base64 DER wrapped", b64[:40] + "\n" + b64[40:], want},
		{"empty", "", ""},
		{"not a certificate", "hello", ""},
		{"base64 of something else", base64.StdEncoding.EncodeToString([]byte("not DER")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := certificateFingerprint(tt.in); got != tt.want {
				t.Errorf("certificateFingerprint = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVimFaultDetail checks what the VimFault detail carries and what it
// leaves out.
func TestVimFaultDetail(t *testing.T) {
	t.Parallel()
	f := &vcenter.Fault{
		TypeName: "InvalidCertificate",
		Message:  upstreamText,
		Messages: []vcenter.Message{{
			Key:  "com.vmware.sms.cert.expired",
			Args: []vcenter.KeyValue{{Key: "provider", Value: "array-c"}, {Key: "bad", Value: "\xff\xfe"}},
			Text: "The certificate of provider array-c has expired.",
		}},
		Properties: map[string]string{"certificate": "PEM", "sessionCookie": "52af9e0c", "userPassword": "hunter2"},
		Cause:      &vcenter.Fault{TypeName: "SystemError", Properties: map[string]string{"reason": "expired"}},
	}
	want := &vasagwv1.VimFault{
		TypeName: "InvalidCertificate",
		FaultMessage: []*vasagwv1.LocalizableMessage{{
			Key:     "com.vmware.sms.cert.expired",
			Arg:     []*vasagwv1.KeyAnyValue{{Key: "provider", Value: "array-c"}, {Key: "bad", Value: "\uFFFD"}},
			Message: "The certificate of provider array-c has expired.",
		}},
		Properties: map[string]string{"certificate": "PEM"},
		FaultCause: &vasagwv1.VimFault{TypeName: "SystemError", Properties: map[string]string{"reason": "expired"}},
	}
	if diff := cmp.Diff(want, vimFault(f), protocmp.Transform()); diff != "" {
		t.Errorf("VimFault (-want +got):\n%s", diff)
	}
}

// TestVimFaultBounds checks that a runaway fault cannot make a status
// unbounded, and that every kept level keeps its type name.
func TestVimFaultBounds(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 100<<10)
	var f *vcenter.Fault
	for i := range 100 {
		f = &vcenter.Fault{
			TypeName:   fmt.Sprintf("Level%dFault", 99-i),
			Messages:   []vcenter.Message{{Key: big, Text: big, Args: []vcenter.KeyValue{{Key: "k", Value: big}}}, {Key: "small", Text: "kept while it fits"}},
			Properties: map[string]string{"huge": big, "p": "v"},
			Cause:      f,
		}
	}
	st := faultStatus(f, testVCenter, testProvider)
	if n := proto.Size(st.Proto()); n > 2*maxVimFaultBytes {
		t.Errorf("status is %d bytes, want at most about %d", n, maxVimFaultBytes)
	}
	_, byType := parts(t, st)
	chain := vimChain(byType[tVimFault].(*vasagwv1.VimFault))
	if len(chain) != maxFaultDepth {
		t.Fatalf("VimFault chain has %d levels, want %d", len(chain), maxFaultDepth)
	}
	for i, name := range chain {
		if want := fmt.Sprintf("Level%dFault", i); name != want {
			t.Errorf("level %d type = %q, want %q", i, name, want)
		}
	}
	if vf := byType[tVimFault].(*vasagwv1.VimFault); vf.GetProperties()["p"] != "v" || len(vf.GetFaultMessage()) == 0 {
		t.Errorf("outermost level lost its small message or property: %v", vf)
	}
}

// TestCyclicChain checks that a fault chain that loops (which
// internal/vcenter never builds, but nothing forbids) still maps.
func TestCyclicChain(t *testing.T) {
	t.Parallel()
	a := &vcenter.Fault{TypeName: "SystemError"}
	b := &vcenter.Fault{TypeName: "RuntimeFault", Cause: a}
	a.Cause = b
	st := faultStatus(a, testVCenter, testProvider)
	if st.Code() != codes.Internal {
		t.Errorf("code = %v, want Internal", st.Code())
	}
	_, byType := parts(t, st)
	if n := len(vimChain(byType[tVimFault].(*vasagwv1.VimFault))); n != maxFaultDepth {
		t.Errorf("VimFault chain has %d levels, want %d", n, maxFaultDepth)
	}
}

// TestStatusPassThrough checks that a status the gateway already built is
// returned unchanged, even wrapped.
func TestStatusPassThrough(t *testing.T) {
	t.Parallel()
	orig := invalidRequest("page_token", "page_token is not a token this gateway issued")
	got := statusOf(fmt.Errorf("list providers: %w", orig), testVCenter, "vcenters/default")
	if diff := cmp.Diff(status.Convert(orig).Proto(), got.Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("status changed (-want +got):\n%s", diff)
	}
	if statusOf(nil, testVCenter, testProvider) != nil {
		t.Error("statusOf(nil) is not nil")
	}
	if st := faultStatus(nil, testVCenter, testProvider); st.Code() != codes.Internal {
		t.Errorf("faultStatus(nil) code = %v, want Internal", st.Code())
	}
}

// testCertificate returns a fresh self-signed certificate as PEM and its
// SHA-256 fingerprint in "AB:CD:..." form, computed independently of the
// code under test.
func testCertificate(t testing.TB) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "array-c"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	hexPairs := make([]string, len(sum))
	for i, b := range sum {
		hexPairs[i] = fmt.Sprintf("%02X", b)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), strings.Join(hexPairs, ":")
}

// TestCertificateNotTrustedDetail follows a register task's
// CertificateNotTrusted, translated from govmomi's own type, to what a
// caller needs to confirm and resend: the fingerprint in the ErrorInfo and
// the PEM itself in the VimFault properties.
func TestCertificateNotTrustedDetail(t *testing.T) {
	t.Parallel()
	cert, certFP := testCertificate(t)
	f := vcenter.FaultFromLocalized(&vimtypes.LocalizedMethodFault{
		Fault:            &smstypes.CertificateNotTrusted{Certificate: cert},
		LocalizedMessage: upstreamText,
	})
	st := faultStatus(f, testVCenter, "vcenters/default/tasks/register-1")
	_, byType := parts(t, st)
	if st.Code() != codes.FailedPrecondition {
		t.Errorf("code %v", st.Code())
	}
	info := byType[tErrorInfo].(*errdetails.ErrorInfo)
	if info.GetReason() != "CERTIFICATE_NOT_TRUSTED" || info.GetMetadata()["certificateSha256Fingerprint"] != certFP {
		t.Errorf("ErrorInfo %v, want fingerprint %s", info, certFP)
	}
	if got := byType[tVimFault].(*vasagwv1.VimFault).GetProperties()["certificate"]; got != cert {
		t.Errorf("VimFault certificate property %q, want the PEM", got)
	}
	if certFP != vcenter.CertificateSHA256(cert) {
		t.Errorf("the gateway's fingerprint %s differs from internal/vcenter's %s", certFP, vcenter.CertificateSHA256(cert))
	}
}
