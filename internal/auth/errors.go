package auth

import (
	"maps"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of the gateway's own errors.
const Domain = "vasagw.io"

// Reasons in the ErrorInfo of a refusal.
const (
	// ReasonUnauthenticated: the call carried no usable credentials.
	ReasonUnauthenticated = "UNAUTHENTICATED"
	// ReasonTokenExpired: the bearer token's exp has passed.
	ReasonTokenExpired = "TOKEN_EXPIRED"
	// ReasonTokenInvalid: the bearer token is malformed, badly signed, for
	// another issuer or audience, not yet valid, or signed with an
	// algorithm that is not allowed.
	ReasonTokenInvalid = "TOKEN_INVALID"
	// ReasonMissingRole: the caller is known but lacks the role the method
	// needs; metadata "role" names it.
	ReasonMissingRole = "MISSING_ROLE"
	// ReasonMethodNotAuthorized: no role is configured for the method, so
	// no one may call it (a method added without a policy entry).
	ReasonMethodNotAuthorized = "METHOD_NOT_AUTHORIZED"
)

// Error is a refusal by the gateway's authentication or authorization. It
// converts to a gRPC status with an ErrorInfo; its message is safe to show
// a caller and never contains a credential.
type Error struct {
	Code     codes.Code        `json:"code"`
	Reason   string            `json:"reason"`
	Message  string            `json:"message"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// GRPCStatus makes an *Error a status for grpc-go and grpc-gateway.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain, Metadata: maps.Clone(e.Metadata)}
	if withInfo, err := st.WithDetails(info); err == nil {
		return withInfo
	}
	return st
}

func unauthenticated(reason, message string) *Error {
	return &Error{Code: codes.Unauthenticated, Reason: reason, Message: message}
}

func missingRole(role Role, method string) *Error {
	return &Error{
		Code:     codes.PermissionDenied,
		Reason:   ReasonMissingRole,
		Message:  "the caller lacks the role " + string(role) + " that this method needs",
		Metadata: map[string]string{"role": string(role), "method": method},
	}
}

func methodNotAuthorized(method string) *Error {
	return &Error{
		Code:     codes.PermissionDenied,
		Reason:   ReasonMethodNotAuthorized,
		Message:  "no role may call this method",
		Metadata: map[string]string{"method": method},
	}
}
