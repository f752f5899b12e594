package rest

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vasagw/vasagw/internal/service"
)

// unknownFieldRE finds the field protojson names in an unknown-field error.
var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)

// errorHandler renders every REST error as grpc-gateway does (a
// google.rpc.Status body, the HTTP status derived from the code), after
// giving the gateway's own request-decoding errors the same precise shape
// as the service's: INVALID_ARGUMENT, reason INVALID_REQUEST, a BadRequest
// naming the field.
func errorHandler(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		err = requestError(log, r, err)
		setRetryAfter(w.Header(), err)
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
	}
}

// setRetryAfter sends the RetryInfo of an error, if it has one, as the HTTP
// Retry-After header (RFC 9110 section 10.2.3, whole seconds, rounded up), so
// that HTTP clients and proxies that know nothing of google.rpc details
// back off as long as the gateway asks.
func setRetryAfter(h http.Header, err error) {
	st, ok := status.FromError(err)
	if !ok {
		return
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			secs := int64(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds()))
			if secs < 1 {
				secs = 1
			}
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
			return
		}
	}
}

// requestError turns a detail-less error raised by grpc-gateway itself
// into a typed one: an oversized body into REQUEST_TOO_LARGE (see
// [LimitBody]), bad JSON and unknown fields into INVALID_REQUEST.
func requestError(log *slog.Logger, r *http.Request, err error) error {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) || bodyTooLarge(r) {
		return errBodyTooLarge()
	}
	st, ok := status.FromError(err)
	if !ok || len(st.Details()) > 0 || st.Code() != codes.InvalidArgument {
		return err
	}
	log.DebugContext(r.Context(), "rejected a malformed REST request", "method", r.Method, "path", r.URL.Path, "error", err)
	if m := unknownFieldRE.FindStringSubmatch(st.Message()); m != nil {
		return service.InvalidRequest(m[1], "unknown field "+m[1])
	}
	return service.InvalidRequest("body", "request body is not valid JSON for this method")
}

// routingErrorHandler answers an unknown route with 404 and a wrong method
// with 405, each with a google.rpc.Status body carrying an ErrorInfo.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	var err error
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		err = &runtime.HTTPStatusError{
			HTTPStatus: httpStatus,
			Err:        service.GatewayError(codes.Unimplemented, "METHOD_NOT_ALLOWED", "method "+r.Method+" is not allowed on this route", nil),
		}
	case http.StatusNotFound:
		err = service.GatewayError(codes.NotFound, "ROUTE_NOT_FOUND", "no such route; the API lives under /v1/", map[string]string{"path": clipPath(r.URL.Path)})
	default:
		err = service.InvalidRequest("path", http.StatusText(httpStatus))
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

func clipPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "..."
	}
	return p
}

// WriteError renders err as the REST facade renders every error: a
// google.rpc.Status body, the HTTP status from its code (or from a
// [runtime.HTTPStatusError]). It is for answers given outside the facade's
// mux, such as a connection refused for being one too many.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(r.Context(), runtime.NewServeMux(), jsonMarshaler(), w, r, err)
}
