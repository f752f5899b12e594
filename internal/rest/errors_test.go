package rest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vasagw/vasagw/internal/service"
)

// TestRequestError checks how grpc-gateway's own request-decoding errors
// become the service's INVALID_REQUEST shape, and that every other error
// passes through untouched (a body over the limit: TestBodyTooLarge).
func TestRequestError(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	typed := service.InvalidRequest("name", "name is required")
	plain := errors.New("connection reset")
	for _, tt := range []struct {
		name      string
		err       error
		wantField string // "" when the error passes through
	}{
		{name: "unknown field", err: status.Error(codes.InvalidArgument, `proto: (line 1:2): unknown field "bogus"`), wantField: "bogus"},
		{name: "bad JSON", err: status.Error(codes.InvalidArgument, "unexpected EOF"), wantField: "body"},
		{name: "already typed", err: typed},
		{name: "another code", err: status.Error(codes.NotFound, "no such provider")},
		{name: "not a status", err: plain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-1:reconnect", nil)
			got := requestError(log, r, tt.err)
			if tt.wantField == "" {
				if got != tt.err {
					t.Fatalf("requestError(%v) = %v, want it unchanged", tt.err, got)
				}
				return
			}
			st := status.Convert(got)
			var reason, field string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reason = d.GetReason()
				case *errdetails.BadRequest:
					if v := d.GetFieldViolations(); len(v) > 0 {
						field = v[0].GetField()
					}
				}
			}
			if st.Code() != codes.InvalidArgument || reason != "INVALID_REQUEST" || field != tt.wantField {
				t.Errorf("requestError(%v) = %v %s, reason %q, field %q; want INVALID_ARGUMENT INVALID_REQUEST naming %q", tt.err, st.Code(), st.Message(), reason, field, tt.wantField)
			}
		})
	}
}

func TestClipPath(t *testing.T) {
	t.Parallel()
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	if got := clipPath(string(long)); len(got) != 203 || got[200:] != "..." {
		t.Errorf("clipPath of 300 bytes: %d bytes ending %q", len(got), got[len(got)-3:])
	}
	if got := clipPath("/v1/x"); got != "/v1/x" {
		t.Errorf("clipPath(/v1/x) = %q", got)
	}
}

// TestBodyTooLarge: a body over the limit is RESOURCE_EXHAUSTED / 413
// REQUEST_TOO_LARGE naming the limit, whether the error still says so
// (a MaxBytesError) or grpc-gateway's decoder has made it a plain
// INVALID_ARGUMENT and only [LimitBody]'s record of the read knows.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	var decoded *http.Request
	h := LimitBody(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		decoded = r
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, MaxBodyBytes+1))))
	small := httptest.NewRequest(http.MethodPost, "/", nil)
	for _, tt := range []struct {
		name string
		r    *http.Request
		err  error
	}{
		{name: "MaxBytesError", r: small, err: &http.MaxBytesError{Limit: MaxBodyBytes}},
		{name: "decoder error after the limit", r: decoded, err: status.Error(codes.InvalidArgument, "unexpected EOF")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := requestError(log, tt.r, tt.err)
			var hs *runtime.HTTPStatusError
			if !errors.As(got, &hs) || hs.HTTPStatus != http.StatusRequestEntityTooLarge {
				t.Fatalf("requestError = %#v, want an HTTP 413", got)
			}
			st := status.Convert(hs.Err)
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if d, ok := d.(*errdetails.ErrorInfo); ok {
					info = d
				}
			}
			if st.Code() != codes.ResourceExhausted || info.GetReason() != "REQUEST_TOO_LARGE" || info.GetMetadata()["limitBytes"] != "1048576" {
				t.Errorf("status %v, want RESOURCE_EXHAUSTED REQUEST_TOO_LARGE with limitBytes 1048576", st.Proto())
			}
		})
	}
	// A body within the limit that is bad JSON stays INVALID_REQUEST.
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{")))
	if got := status.Convert(requestError(log, decoded, status.Error(codes.InvalidArgument, "unexpected EOF"))); got.Code() != codes.InvalidArgument {
		t.Errorf("bad JSON within the limit: %v", got.Proto())
	}
}
