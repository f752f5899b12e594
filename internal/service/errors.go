package service

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// This file is the one place where failures become the gRPC status a caller
// sees (README.md, "Errors"; the protos document each RPC's). Upstream
// faults are matched against [faultRules]; the gateway's own conditions have
// a constructor each. HTTP codes are never chosen here: grpc-gateway derives
// them from the gRPC code.
//
// Every status carries, in this order:
//   - a google.rpc.ErrorInfo (reason, domain, metadata "vcenter", "resource"
//     and, for upstream faults, "faultType");
//   - a google.rpc.LocalizedMessage (en-US) with one sentence for an end user;
//   - the row's own details (PreconditionFailure, Help, RetryInfo, BadRequest,
//     ResourceInfo);
//   - for upstream faults, a vasagw.v1.VimFault with the whole fault chain.
//
// The status message is short and safe to show: fixed per reason for
// upstream faults, the gateway's own wording for its own errors. Upstream
// text (which may quote URLs, user names or session state) reaches the
// caller only inside the VimFault detail's faultMessage, as vCenter worded
// it; the fault's localizedMessage and the full error go to the log at the
// call site.

// ErrorInfo domains.
const (
	domainUpstream = "sms.vasagw.io" // faults vCenter's storage service reported
	domainGateway  = "vasagw.io"     // conditions the gateway detected itself
)

// ErrorInfo metadata keys (lowerCamelCase, as AIP-193 asks).
const (
	metadataVCenter        = "vcenter"
	metadataResource       = "resource"
	metadataFaultType      = "faultType"
	metadataPrivilege      = "privilege"
	metadataThumbprint     = "thumbprint"
	metadataCertificateSHA = "certificateSha256Fingerprint"
	metadataVasaVersion    = "vasaVersion"
	metadataMinVasaVersion = "minimumVasaVersion"
	metadataMaxBatchSize   = "maxBatchSize"
)

const (
	// localeEnUS is the locale of every LocalizedMessage the gateway writes.
	localeEnUS = "en-US"
	// defaultPrivilege is the privilege SMS checks for provider management
	// when a NoPermission fault does not name one.
	defaultPrivilege = "StorageViews.ConfigureService"
	// rootFaultType stands in for an empty fault type name: every vSphere
	// fault is a MethodFault, so that is the most that is known about it.
	rootFaultType = "MethodFault"
	// unknownFaultReason is the reason of a fault whose type name cannot be
	// spelled as an ErrorInfo reason (e.g. it starts with a digit).
	unknownFaultReason = "UNKNOWN_FAULT"
	// minVasaVersion is the oldest VASA version whose providers the gateway
	// reconnects.
	minVasaVersion = "2.0"
)

// Bounds on what an upstream fault may put into a status. Details travel in
// the grpc-status-details-bin trailer, which proxies commonly cap at tens of
// KiB, so a runaway fault must not make it unbounded; real faults (two or
// three levels, a PEM certificate of 1-2 KiB) are far inside these limits.
const (
	maxFaultDepth     = 32       // faults matched and kept in a chain, as internal/vcenter translates
	maxTypeNameLength = 256      // bytes of a type name
	maxDetailString   = 8 << 10  // bytes of any other single string
	maxVimFaultBytes  = 32 << 10 // bytes of messages and properties in one VimFault detail
)

// Retry delays suggested in RetryInfo. A provider that dropped its
// connection or is out of service usually needs tens of seconds; a busy
// provider or a starting storage service clears sooner; an unreachable
// vCenter is retried soon because the session heals on its own.
const (
	retryProvider = 30 * time.Second
	retryBusy     = 10 * time.Second
	retryVCenter  = 5 * time.Second
)

// faultRule is one row of the mapping from vSphere fault types to a gRPC
// status. A rule matches a fault whose type name, or one of its supertypes
// ([vcenter.Fault.Supertypes]), is listed in types.
type faultRule struct {
	types   []string
	code    codes.Code
	reason  string
	message string // status message: short, lowercase, safe for any caller
	user    string // LocalizedMessage text: one sentence for an end user
	retry   time.Duration
	// details adds the row's own details and metadata; nil for none.
	details func(b *statusBuilder, f *vcenter.Fault)
}

// faultRules is the fault table of README.md ("Errors"), one row per reason. Matching
// is by type, most specific first: a fault's own type name is looked up
// before its supertypes (nearest first), so InvalidSession and
// AuthConnectionFailed, both subtypes of NoPermission, never reach the
// NoPermission row, while a subtype without a row of its own maps as its
// nearest listed supertype (PasswordExpired as InvalidLogin,
// InvalidIndexArgument as InvalidArgument). Faults that match no row are
// "generic"; see [matchFault] for how their causes are searched.
var faultRules = []faultRule{
	{
		types:   []string{"InvalidCertificate"},
		code:    codes.FailedPrecondition,
		reason:  "INVALID_CERTIFICATE",
		message: "provider certificate is expired or invalid",
		user:    "The storage provider's certificate has expired or is not valid; unregister the provider, give it a new certificate and register it again.",
		details: invalidCertificateDetails,
	},
	{
		types:   []string{"CertificateNotTrusted"},
		code:    codes.FailedPrecondition,
		reason:  "CERTIFICATE_NOT_TRUSTED",
		message: "provider certificate is not trusted",
		user:    "vCenter does not trust the storage provider's certificate; confirm its fingerprint and send the request again to accept it.",
		details: certificateFingerprintDetails,
	},
	{
		types:   []string{"ProviderConnectionFailed"},
		code:    codes.Unavailable,
		reason:  "PROVIDER_CONNECTION_FAILED",
		message: "vCenter could not connect to the provider",
		user:    "vCenter could not connect to the storage provider; try again later.",
		retry:   retryProvider,
	},
	{
		types:   []string{"ProviderBusy"},
		code:    codes.Unavailable,
		reason:  "PROVIDER_BUSY",
		message: "provider is busy",
		user:    "The storage provider is busy; try again shortly.",
		retry:   retryBusy,
	},
	{
		types:   []string{"ProviderUnavailable"},
		code:    codes.Unavailable,
		reason:  "PROVIDER_UNAVAILABLE",
		message: "provider is unavailable",
		user:    "The storage provider is not available right now; try again later.",
		retry:   retryProvider,
	},
	{
		types:   []string{"ServiceNotInitialized"},
		code:    codes.Unavailable,
		reason:  "SERVICE_NOT_INITIALIZED",
		message: "vCenter storage service is not initialized",
		user:    "vCenter's storage monitoring service is still starting; try again shortly.",
		retry:   retryBusy,
	},
	{
		types:   []string{"AuthConnectionFailed"},
		code:    codes.Unavailable,
		reason:  "AUTH_CONNECTION_FAILED",
		message: "vCenter storage service could not reach its authentication service",
		user:    "vCenter's storage monitoring service could not verify the session right now; try again later.",
		retry:   retryProvider,
	},
	{
		types:   []string{"SyncInProgress"},
		code:    codes.Aborted,
		reason:  "SYNC_IN_PROGRESS",
		message: "provider synchronization is in progress",
		user:    "The storage provider is synchronizing; try again when it has finished.",
	},
	{
		types:   []string{"InactiveProvider"},
		code:    codes.FailedPrecondition,
		reason:  "INACTIVE_PROVIDER",
		message: "provider is inactive",
		user:    "The storage provider is not active for this operation.",
	},
	{
		types:   []string{"NotSupported"},
		code:    codes.FailedPrecondition,
		reason:  "NOT_SUPPORTED",
		message: "operation is not supported on this object",
		user:    "This operation is not supported for the storage provider.",
	},
	{
		types:   []string{"ManagedObjectNotFound", "NotFound", "ProviderNotFound"},
		code:    codes.NotFound,
		reason:  "PROVIDER_NOT_FOUND", // TASK_NOT_FOUND for a task; see notFoundDetails
		message: "provider not found",
		user:    "The storage provider was not found.",
		details: notFoundDetails,
	},
	{
		// UNAVAILABLE, not UNAUTHENTICATED: the gateway's own credentials
		// failed, and a portal that refreshes its token on 401 would
		// misread that as its caller's. No RetryInfo: retrying cannot help
		// until an operator fixes the credentials.
		types:   []string{"NotAuthenticated", "InvalidLogin", "SmsInvalidLogin", "InvalidSession"},
		code:    codes.Unavailable,
		reason:  "VCENTER_AUTH_FAILED",
		message: "gateway could not authenticate to vCenter",
		user:    "The gateway could not sign in to vCenter; ask an administrator to check its vCenter credentials.",
	},
	{
		types:   []string{"NoPermission"},
		code:    codes.PermissionDenied,
		reason:  "NO_PERMISSION",
		message: "vCenter user lacks the privilege for this operation",
		user:    "The gateway's vCenter user does not have the privilege this operation needs.",
		details: privilegeDetails,
	},
	{
		types:   []string{"InvalidArgument"},
		code:    codes.InvalidArgument,
		reason:  "INVALID_ARGUMENT",
		message: "vCenter rejected an argument",
		user:    "vCenter rejected a value in the request.",
		details: badRequestDetails(""),
	},
	{
		types:   []string{"InvalidUrl"},
		code:    codes.InvalidArgument,
		reason:  "INVALID_URL",
		message: "provider URL is not valid",
		user:    "The storage provider's URL is not valid.",
		details: badRequestDetails("url"),
	},
	{
		types:   []string{"DuplicateEntry"},
		code:    codes.InvalidArgument,
		reason:  "DUPLICATE_ENTRY",
		message: "request duplicates an existing entry",
		user:    "The request duplicates an entry that already exists.",
		details: badRequestDetails(""),
	},
	{
		types:   []string{"IncorrectUsernamePassword"},
		code:    codes.InvalidArgument,
		reason:  "INCORRECT_USERNAME_PASSWORD",
		message: "provider rejected the user name or password",
		user:    "The storage provider rejected the user name or password it was given.",
		details: badRequestDetails("username"),
	},
	{
		types:   []string{"AlreadyExists"},
		code:    codes.AlreadyExists,
		reason:  "ALREADY_EXISTS",
		message: "object already exists",
		user:    "The object already exists.",
	},
	{
		types:   []string{"ProviderOutOfResource"},
		code:    codes.ResourceExhausted,
		reason:  "PROVIDER_OUT_OF_RESOURCE",
		message: "provider is out of resources",
		user:    "The storage provider has run out of resources.",
	},
	{
		types:   []string{"NotImplemented", "MethodNotFound"},
		code:    codes.Unimplemented,
		reason:  "NOT_IMPLEMENTED",
		message: "vCenter does not implement this operation",
		user:    "This vCenter does not support the operation; it may need to be upgraded.",
	},
	{
		types:   []string{"RequestCanceled"},
		code:    codes.Canceled,
		reason:  "REQUEST_CANCELED",
		message: "vCenter canceled the request",
		user:    "The operation was canceled in vCenter.",
	},
	{
		types:   []string{"Timedout"},
		code:    codes.DeadlineExceeded,
		reason:  "TIMEDOUT",
		message: "operation timed out in vCenter",
		user:    "The operation timed out in vCenter.",
	},
	// The faults the provider life-cycle methods declare (README.md,
	// "Errors"). Subtypes with a row of their own (CertificateNotTrusted,
	// InvalidCertificate, InvalidUrl, IncorrectUsernamePassword,
	// SyncInProgress, ProviderNotFound) keep it.
	{
		types:   []string{"CertificateRefreshFailed"},
		code:    codes.Internal,
		reason:  "CERTIFICATE_REFRESH_FAILED",
		message: "vCenter could not refresh the provider certificate",
		user:    "vCenter could not refresh the storage provider's certificate.",
	},
	{
		types:   []string{"CertificateRevocationFailed"},
		code:    codes.Internal,
		reason:  "CERTIFICATE_REVOCATION_FAILED",
		message: "vCenter could not revoke the provider certificate",
		user:    "vCenter could not revoke the storage provider's certificate.",
	},
	{
		types:   []string{"ProviderRegistrationFault"},
		code:    codes.Internal,
		reason:  "PROVIDER_REGISTRATION_FAULT",
		message: "vCenter could not register the provider",
		user:    "vCenter could not register the storage provider.",
	},
	{
		types:   []string{"CertificateAuthorityFault"},
		code:    codes.Internal,
		reason:  "CERTIFICATE_AUTHORITY_FAULT",
		message: "vCenter's certificate authority failed to issue the provider certificate",
		user:    "vCenter's certificate authority could not issue a certificate for the storage provider.",
	},
	{
		types:   []string{"CertificateNotImported"},
		code:    codes.Internal,
		reason:  "CERTIFICATE_NOT_IMPORTED",
		message: "vCenter could not import the provider certificate",
		user:    "vCenter could not import the storage provider's certificate.",
	},
	{
		types:   []string{"ProviderUnregistrationFault"},
		code:    codes.Internal,
		reason:  "PROVIDER_UNREGISTRATION_FAULT",
		message: "vCenter could not unregister the provider",
		user:    "vCenter could not unregister the storage provider.",
	},
	{
		types:   []string{"ProviderSyncFailed"},
		code:    codes.Internal,
		reason:  "PROVIDER_SYNC_FAILED",
		message: "provider synchronization failed",
		user:    "vCenter could not synchronize with the storage provider.",
	},
	{
		types:   []string{"TooMany"},
		code:    codes.ResourceExhausted,
		reason:  "TOO_MANY",
		message: "request names more objects than the provider accepts at once",
		user:    "The request names more objects than the storage provider accepts in one call.",
		details: maxBatchSizeDetails,
	},
	{
		types:   []string{"QueryExecutionFault"},
		code:    codes.Unavailable,
		reason:  "QUERY_EXECUTION_FAULT",
		message: "vCenter could not run the query on the provider",
		user:    "vCenter could not get an answer from the storage provider; try again shortly.",
		retry:   retryBusy,
	},
	{
		types:   []string{"InvalidState"},
		code:    codes.FailedPrecondition,
		reason:  "INVALID_STATE",
		message: "object is not in a state that allows this operation",
		user:    "The operation is not possible in the object's current state (a task may not have finished yet).",
	},
	{
		types:   []string{"NotSupportedByProvider"},
		code:    codes.FailedPrecondition,
		reason:  "NOT_SUPPORTED_BY_PROVIDER",
		message: "operation is not supported by the provider",
		user:    "The storage provider does not support this operation.",
	},
}

// maxBatchSizeDetails names the provider's batch limit of a TooMany fault
// in the ErrorInfo metadata, when the fault carries it.
func maxBatchSizeDetails(b *statusBuilder, f *vcenter.Fault) {
	if n := f.Properties["maxBatchSize"]; n != "" {
		b.info.Metadata[metadataMaxBatchSize] = clean(n, maxDetailString)
	}
}

// otherFaultRule maps a fault that matches no row (the "any other
// MethodFault" row of README.md's fault table); its reason is the fault's
// type in UPPER_SNAKE.
var otherFaultRule = faultRule{
	code:    codes.Internal,
	message: "vCenter storage service reported an unexpected fault",
	user:    "vCenter's storage monitoring service reported an unexpected error.",
}

// statusOf maps any error from the upstream or the gateway into the one
// gRPC status callers see. vcenterID is the vCenter id (e.g. "default"),
// resource the full resource name the call was about. A nil error gives a
// nil status, as [status.FromError] does.
//
// Precedence: an error that already is a gRPC status passes through
// unchanged; then an upstream [vcenter.Fault]; then vCenter's untrusted
// certificate; then an unreachable vCenter (internal/vcenter reports its own
// request timeout as [vcenter.ErrUnreachable] wrapping
// context.DeadlineExceeded, so this comes before the context checks); then a
// closed session (the gateway is shutting down); then the caller's context;
// anything else is INTERNAL with a generic message.
func statusOf(err error, vcenterID, resource string) *status.Status {
	if err == nil {
		return nil
	}
	var grpcErr interface{ GRPCStatus() *status.Status }
	if errors.As(err, &grpcErr) {
		if st := grpcErr.GRPCStatus(); st != nil && st.Code() != codes.OK {
			return st
		}
	}
	var fault *vcenter.Fault
	if errors.As(err, &fault) && fault != nil {
		return faultStatus(fault, vcenterID, resource)
	}

	b := newGatewayStatus(vcenterID, resource)
	var untrusted *vcenter.UntrustedCertificateError
	switch {
	case errors.As(err, &untrusted) && untrusted != nil:
		b.set(codes.Unavailable, "VCENTER_CERTIFICATE_UNTRUSTED",
			"vCenter certificate is not trusted",
			"The gateway does not trust vCenter's certificate; ask an administrator to check the gateway's vCenter certificate settings.")
		// No RetryInfo: retrying cannot help until an operator trusts the
		// certificate (CA file or pinned thumbprint).
		if untrusted.Thumbprint != "" {
			b.info.Metadata[metadataThumbprint] = clean(untrusted.Thumbprint, maxDetailString)
		}
	case errors.Is(err, vcenter.ErrUnreachable):
		b.set(codes.Unavailable, "VCENTER_UNREACHABLE", "vCenter is unreachable",
			"The gateway cannot reach vCenter right now; try again later.")
		b.retryInfo(retryVCenter)
	case errors.Is(err, vcenter.ErrClosed):
		return status.Convert(shuttingDown(vcenterID, resource))
	case errors.Is(err, context.Canceled):
		b.set(codes.Canceled, "CANCELLED", "request canceled", "The request was canceled.")
	case errors.Is(err, context.DeadlineExceeded):
		b.set(codes.DeadlineExceeded, "DEADLINE_EXCEEDED", "deadline exceeded before vCenter answered",
			"vCenter did not answer in time; try again.")
	default:
		b.set(codes.Internal, "INTERNAL", "internal error", "Something went wrong in the gateway; try again later.")
	}
	return b.status()
}

// faultStatus maps one upstream fault (a task error, a provider's
// statusFault) to the status [statusOf] gives for it.
//
// The fault chain is searched outermost first for the first fault that
// matches a row of [faultRules], so a generic wrapper (SystemError,
// RuntimeFault, VimFault, an unknown type...) around a specific fault maps
// as that specific fault. ErrorInfo's faultType is the type name of the
// fault that decided the mapping (the one a caller should act on), while the
// VimFault detail always holds the whole chain from the outermost fault.
// When nothing in the chain matches, the status is INTERNAL with the
// outermost type name in UPPER_SNAKE. A fault with an empty type name is
// treated as a MethodFault, the root of all vSphere faults.
func faultStatus(f *vcenter.Fault, vcenterID, resource string) *status.Status {
	if f == nil {
		f = &vcenter.Fault{}
	}
	matched, rule := matchFault(f)
	typeName := faultTypeName(matched.TypeName)
	reason := rule.reason
	if reason == "" {
		reason = faultReason(typeName)
	}

	b := &statusBuilder{
		code:    rule.code,
		message: rule.message,
		user:    rule.user,
		info: &errdetails.ErrorInfo{
			Reason:   reason,
			Domain:   domainUpstream,
			Metadata: baseMetadata(vcenterID, resource),
		},
		vcenterID: vcenterID,
		resource:  resource,
	}
	b.info.Metadata[metadataFaultType] = typeName
	if rule.details != nil {
		rule.details(b, matched)
	}
	if rule.retry > 0 {
		b.retryInfo(rule.retry)
	}
	b.fault = vimFault(f)
	return b.status()
}

// matchFault returns the fault in f's cause chain that decides its mapping
// and the rule it matches: the outermost fault whose type (or one of its
// supertypes) has a row. When none has, it is f itself with
// [otherFaultRule]. The walk is bounded, so even a cyclic chain ends.
func matchFault(f *vcenter.Fault) (*vcenter.Fault, *faultRule) {
	cur := f
	for depth := 0; cur != nil && depth < maxFaultDepth; depth++ {
		if rule := ruleFor(cur); rule != nil {
			return cur, rule
		}
		cur = cur.Cause
	}
	return f, &otherFaultRule
}

// ruleFor returns the row for one fault: the row listing its type, else
// the row of its nearest supertype that has one, else nil.
func ruleFor(f *vcenter.Fault) *faultRule {
	if r := ruleForType(faultTypeName(f.TypeName)); r != nil {
		return r
	}
	for i, super := range f.Supertypes {
		if i == maxFaultDepth {
			break
		}
		if r := ruleForType(faultTypeName(super)); r != nil {
			return r
		}
	}
	return nil
}

// ruleForType returns the row that lists typeName, or nil.
func ruleForType(typeName string) *faultRule {
	for i := range faultRules {
		for _, name := range faultRules[i].types {
			if name == typeName {
				return &faultRules[i]
			}
		}
	}
	return nil
}

// faultTypeName is the type name the mapping uses for a fault: the name
// without a namespace prefix ("sms:InvalidSession" -> "InvalidSession"),
// valid UTF-8, bounded, and [rootFaultType] when empty.
func faultTypeName(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	name = clean(name, maxTypeNameLength)
	if name == "" {
		return rootFaultType
	}
	return name
}

// vimTypeName is the type name the VimFault detail records: the name as the
// upstream reported it (namespace prefix included), valid UTF-8, bounded,
// and [rootFaultType] when empty.
func vimTypeName(name string) string {
	name = clean(name, maxTypeNameLength)
	if name == "" {
		return rootFaultType
	}
	return name
}

// faultReason is the ErrorInfo reason of a fault type without a row: its
// name in UPPER_SNAKE, or [unknownFaultReason] when that is not a valid
// reason (AIP-193: [A-Z][A-Z0-9_]+[A-Z0-9], at most 63 characters).
func faultReason(typeName string) string {
	r := upperSnake(typeName)
	if !validReason(r) {
		return unknownFaultReason
	}
	return r
}

// upperSnake spells a CamelCase vSphere type name in UPPER_SNAKE:
// "SystemError" -> "SYSTEM_ERROR". A run of capitals is one word that ends
// before a capital followed by a lower-case letter ("SSLVerifyFault" ->
// "SSL_VERIFY_FAULT"); digits stay with the word before them ("Vim25Fault"
// -> "VIM25_FAULT"). Characters other than ASCII letters and digits
// separate words.
func upperSnake(name string) string {
	var b strings.Builder
	sep := false // a separator is pending
	prev := rune(0)
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case isUpper(r):
			next := rune(0)
			if i+1 < len(rs) {
				next = rs[i+1]
			}
			if isLower(prev) || isDigit(prev) || (isUpper(prev) && isLower(next)) {
				sep = true
			}
		case isLower(r), isDigit(r):
		default:
			sep = true
			prev = 0
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('_')
		}
		sep = false
		if isLower(r) {
			b.WriteRune(r - 'a' + 'A')
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
func isLower(r rune) bool { return r >= 'a' && r <= 'z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// validReason reports whether r may be an ErrorInfo reason.
func validReason(r string) bool {
	if len(r) < 2 || len(r) > 63 || !isUpper(rune(r[0])) || r[len(r)-1] == '_' {
		return false
	}
	for _, c := range r {
		if !isUpper(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// vimFault converts an upstream fault and its causes into the VimFault
// detail. Every level keeps its type name, up to [maxFaultDepth] levels;
// messages and properties are kept, outermost first, while they fit in
// [maxVimFaultBytes]. Properties whose name suggests a secret are dropped.
func vimFault(f *vcenter.Fault) *vasagwv1.VimFault {
	budget := maxVimFaultBytes
	// fits reports whether strings of n bytes in all still fit, and takes them.
	fits := func(n int) bool {
		if n > budget {
			return false
		}
		budget -= n
		return true
	}
	var root, parent *vasagwv1.VimFault
	for depth, cur := 0, f; cur != nil && depth < maxFaultDepth; depth, cur = depth+1, cur.Cause {
		out := &vasagwv1.VimFault{TypeName: vimTypeName(cur.TypeName)}
		for _, m := range cur.Messages {
			key, text := clean(m.Key, maxDetailString), clean(m.Text, maxDetailString)
			if !fits(len(key) + len(text)) {
				continue
			}
			lm := &vasagwv1.LocalizableMessage{Key: key, Message: text}
			for _, a := range m.Args {
				k, v := clean(a.Key, maxDetailString), clean(a.Value, maxDetailString)
				if fits(len(k) + len(v)) {
					lm.Arg = append(lm.Arg, &vasagwv1.KeyAnyValue{Key: k, Value: v})
				}
			}
			out.FaultMessage = append(out.FaultMessage, lm)
		}
		keys := make([]string, 0, len(cur.Properties))
		for k := range cur.Properties {
			if !secretProperty(k) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			ck, cv := clean(k, maxDetailString), clean(cur.Properties[k], maxDetailString)
			if !fits(len(ck) + len(cv)) {
				continue
			}
			if out.Properties == nil {
				out.Properties = make(map[string]string)
			}
			out.Properties[ck] = cv
		}
		out.ViJsonProperties = structuredProperties(cur.Structured, fits)
		if root == nil {
			root = out
		} else {
			parent.FaultCause = out
		}
		parent = out
	}
	return root
}

// structuredProperties keeps a fault's VI/JSON-encoded properties, by
// name, while they fit: whole or not at all, since a cut would break the
// JSON.
func structuredProperties(props map[string]string, fits func(int) bool) map[string]string {
	keys := make([]string, 0, len(props))
	for k := range props {
		if !secretProperty(k) && utf8.ValidString(k) && utf8.ValidString(props[k]) && len(k) <= maxDetailString {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out map[string]string
	for _, k := range keys {
		if !fits(len(k) + len(props[k])) {
			continue
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[k] = props[k]
	}
	return out
}

// secretProperty reports whether a fault property may hold a credential.
// internal/vcenter already drops them (InvalidSession's sessionCookie); this
// is the second line, at the point where data leaves the gateway.
func secretProperty(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "passwd", "cookie", "secret", "token", "privatekey", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// clean makes s fit a protobuf string field of a status detail: valid
// UTF-8 (proto3 refuses anything else) and at most max bytes, cut at a rune
// boundary.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// invalidCertificateDetails explains the recovery from an expired or
// invalid provider certificate: the three steps of the vSphere
// documentation, unregister, provision a new self-signed certificate on the
// provider, register. Each step names the gateway RPC (and its REST route)
// that does it and the vSphere method behind it; the PreconditionFailure
// names RecoverProvider, which does all three as one task that changes
// nothing until the provider presents a new certificate.
//
// The Help links are absolute URLs into Broadcom's vSphere API reference for
// the upstream operation of each step: a portal renders them as they are,
// and the gateway has no public URL of its own to link to.
func invalidCertificateDetails(b *statusBuilder, f *vcenter.Fault) {
	b.details = append(b.details,
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
			Type:        "CERTIFICATE",
			Subject:     clean(b.resource, maxDetailString),
			Description: "the provider's certificate is expired or invalid; vCenter will not reconnect to it until it is replaced: do the three steps in Help, or have the gateway do them with VasaProviderService.RecoverProvider (POST /v1/{name}:recover) once the provider presents a new certificate",
		}}},
		&errdetails.Help{Links: []*errdetails.Help_Link{
			{
				Description: "Step 1: unregister the provider: VasaProviderService.UnregisterProvider (DELETE /v1/{name}), vSphere SmsStorageManager.UnregisterProvider_Task",
				Url:         "https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/data-structures/UnregisterProviderRequestType",
			},
			{
				Description: "Step 2: provision a new self-signed certificate for the provider, with the storage vendor's VASA provider tools",
				Url:         "https://developer.broadcom.com/xapis/vcenter-storage-monitoring-service-api/latest/sms.fault.InvalidCertificate.html",
			},
			{
				Description: "Step 3: register the provider again: VasaProviderService.RegisterProvider (POST /v1/{parent}/vasaProviders), vSphere SmsStorageManager.RegisterProvider_Task",
				Url:         "https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/data-structures/RegisterProviderRequestType",
			},
		}},
	)
	certificateFingerprintDetails(b, f)
}

// certificateFingerprintDetails puts the SHA-256 fingerprint of the fault's
// certificate into the ErrorInfo metadata, so a caller can confirm which
// certificate is meant (and, for CertificateNotTrusted, resend to accept
// it). It is omitted when the certificate is absent or not decodable.
func certificateFingerprintDetails(b *statusBuilder, f *vcenter.Fault) {
	if fp := certificateFingerprint(f.Properties["certificate"]); fp != "" {
		b.info.Metadata[metadataCertificateSHA] = fp
	}
}

// certificateFingerprint returns the SHA-256 fingerprint ("AB:CD:...") of
// the first certificate in cert, given as PEM or as base64 of the DER
// bytes, or "" when it is neither.
func certificateFingerprint(cert string) string {
	var der []byte
	if block, _ := pem.Decode([]byte(cert)); block != nil {
		der = block.Bytes
	} else {
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cert), ""))
		if err != nil {
			return ""
		}
		der = raw
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	hexSum := strings.ToUpper(hex.EncodeToString(sum[:]))
	pairs := make([]string, 0, len(sum))
	for i := 0; i < len(hexSum); i += 2 {
		pairs = append(pairs, hexSum[i:i+2])
	}
	return strings.Join(pairs, ":")
}

// notFoundDetails names the missing resource. The reason says which kind
// the call was about: TASK_NOT_FOUND for a task, PROVIDER_NOT_FOUND
// otherwise.
func notFoundDetails(b *statusBuilder, _ *vcenter.Fault) {
	b.notFound()
}

// privilegeDetails names the missing privilege: the one vCenter named, else
// the one SMS requires for provider management.
func privilegeDetails(b *statusBuilder, f *vcenter.Fault) {
	privilege := f.Properties["privilegeId"]
	if privilege == "" {
		privilege = defaultPrivilege
	}
	b.info.Metadata[metadataPrivilege] = clean(privilege, maxDetailString)
}

// badRequestDetails adds a BadRequest naming the field vCenter reported as
// invalid (InvalidArgument's invalidProperty), else defaultField.
func badRequestDetails(defaultField string) func(*statusBuilder, *vcenter.Fault) {
	return func(b *statusBuilder, f *vcenter.Fault) {
		field := f.Properties["invalidProperty"]
		if field == "" {
			field = defaultField
		}
		b.details = append(b.details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
			Field:       clean(field, maxDetailString),
			Description: b.message,
		}}})
	}
}

// invalidRequest is the gateway's answer to a malformed request (a bad
// name, page token or request id): INVALID_ARGUMENT with reason
// INVALID_REQUEST and a BadRequest naming field. description is the
// gateway's own text and becomes the status message.
func invalidRequest(field, description string) error {
	description = clean(description, maxDetailString)
	b := newGatewayStatus("", "")
	b.set(codes.InvalidArgument, "INVALID_REQUEST", description, sentence("The request is not valid: "+description))
	b.details = append(b.details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
		Field:       clean(field, maxDetailString),
		Description: description,
	}}})
	return b.status().Err()
}

// requestIDReused refuses a request_id that the same caller already sent
// for another operation or target: INVALID_ARGUMENT with reason
// REQUEST_ID_REUSED and a BadRequest naming request_id. It never says what
// the id was used for.
func requestIDReused(vcenterID, resource string) error {
	const description = "request_id was already used for another request; send a new request_id"
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.InvalidArgument, "REQUEST_ID_REUSED", description, "This request id was already used for another request; retry with a new request id.")
	b.details = append(b.details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
		Field:       "request_id",
		Description: description,
	}}})
	return b.status().Err()
}

// sentence ends s with a full stop unless it already ends a sentence.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// vasaVersionUnsupported refuses to act on a provider that speaks a VASA
// version older than [minVasaVersion]: FAILED_PRECONDITION with reason
// VASA_VERSION_UNSUPPORTED.
func vasaVersionUnsupported(vcenterID, resource, version string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.set(codes.FailedPrecondition, "VASA_VERSION_UNSUPPORTED",
		"provider's VASA version is not supported; VASA "+minVasaVersion+" or later is required",
		"The storage provider uses a VASA version that is too old; it needs VASA "+minVasaVersion+" or later.")
	if version != "" {
		b.info.Metadata[metadataVasaVersion] = clean(version, maxDetailString)
	}
	b.info.Metadata[metadataMinVasaVersion] = minVasaVersion
	b.details = append(b.details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
		Type:        "VASA_VERSION",
		Subject:     clean(resource, maxDetailString),
		Description: "the provider must support VASA " + minVasaVersion + " or later",
	}}})
	return b.status().Err()
}

// notFound is the gateway's own NOT_FOUND for resource: TASK_NOT_FOUND when
// resource names a task, PROVIDER_NOT_FOUND otherwise, with a ResourceInfo.
func notFound(vcenterID, resource string) error {
	b := newGatewayStatus(vcenterID, resource)
	b.code = codes.NotFound
	b.notFound()
	return b.status().Err()
}

// statusBuilder collects the parts of one status before it is assembled.
type statusBuilder struct {
	code      codes.Code
	message   string
	user      string
	info      *errdetails.ErrorInfo
	details   []protoadapt.MessageV1 // row-specific, between LocalizedMessage and VimFault
	fault     *vasagwv1.VimFault     // upstream faults only
	vcenterID string
	resource  string
}

// newGatewayStatus starts a status for one of the gateway's own conditions.
func newGatewayStatus(vcenterID, resource string) *statusBuilder {
	return &statusBuilder{
		info:      &errdetails.ErrorInfo{Domain: domainGateway, Metadata: baseMetadata(vcenterID, resource)},
		vcenterID: vcenterID,
		resource:  resource,
	}
}

// baseMetadata holds the ErrorInfo metadata every status has: the vCenter
// id and the resource, each omitted when unknown (a request too malformed
// to name one).
func baseMetadata(vcenterID, resource string) map[string]string {
	md := make(map[string]string, 4)
	if vcenterID != "" {
		md[metadataVCenter] = clean(vcenterID, maxDetailString)
	}
	if resource != "" {
		md[metadataResource] = clean(resource, maxDetailString)
	}
	return md
}

func (b *statusBuilder) set(code codes.Code, reason, message, user string) {
	b.code, b.info.Reason, b.message, b.user = code, reason, message, user
}

func (b *statusBuilder) retryInfo(d time.Duration) {
	b.details = append(b.details, &errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
}

// notFound sets the reason and message for a missing provider or task and
// adds the ResourceInfo.
func (b *statusBuilder) notFound() {
	kind, resourceType := "provider", string((&vasagwv1.VasaProvider{}).ProtoReflect().Descriptor().FullName())
	b.info.Reason = "PROVIDER_NOT_FOUND"
	b.user = "The storage provider was not found."
	if isTaskResource(b.resource) {
		kind, resourceType = "task", string((&vasagwv1.Task{}).ProtoReflect().Descriptor().FullName())
		b.info.Reason = "TASK_NOT_FOUND"
		b.user = "The task was not found."
	}
	b.message = kind + " not found"
	info := &errdetails.ResourceInfo{
		ResourceType: "type.googleapis.com/" + resourceType,
		ResourceName: clean(b.resource, maxDetailString),
		Description:  "no " + kind + " by this name in vCenter",
	}
	if b.vcenterID != "" {
		info.Owner = clean(collectionVCenters+"/"+b.vcenterID, maxDetailString)
	}
	b.details = append(b.details, info)
}

// isTaskResource reports whether resource is `vcenters/{vcenter}/tasks/{task}`.
func isTaskResource(resource string) bool {
	parts := strings.Split(resource, "/")
	return len(parts) == 4 && parts[0] == collectionVCenters && parts[2] == collectionTasks
}

// status assembles the status. Every string in it went through [clean], so
// packing the details cannot fail; if it ever did, the status keeps at
// least its ErrorInfo rather than losing its details silently.
func (b *statusBuilder) status() *status.Status {
	st := status.New(b.code, b.message)
	details := make([]protoadapt.MessageV1, 0, len(b.details)+3)
	details = append(details, b.info, &errdetails.LocalizedMessage{Locale: localeEnUS, Message: b.user})
	details = append(details, b.details...)
	if b.fault != nil {
		details = append(details, b.fault)
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	if withInfo, err := st.WithDetails(b.info); err == nil {
		return withInfo
	}
	return st
}
