package rest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/vasagw/vasagw/internal/service"
)

// LimitBody caps request bodies at [MaxBodyBytes]. A body over the limit
// is RESOURCE_EXHAUSTED / 413 with reason REQUEST_TOO_LARGE naming the
// limit, never "not valid JSON": grpc-gateway's decoder turns the read
// error into a plain INVALID_ARGUMENT, so the reader records that the limit
// was hit, where the error handler finds it.
func LimitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		lb := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, MaxBodyBytes)}
		r = r.WithContext(context.WithValue(r.Context(), limitedBodyKey{}, lb))
		r.Body = lb
		next.ServeHTTP(w, r)
	})
}

type limitedBodyKey struct{}

// limitedBody is a body behind [http.MaxBytesReader] that remembers whether
// the limit was reached.
type limitedBody struct {
	io.ReadCloser
	exceeded atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		b.exceeded.Store(true)
	}
	return n, err
}

// bodyTooLarge reports whether the request's body went over [MaxBodyBytes].
func bodyTooLarge(r *http.Request) bool {
	b, ok := r.Context().Value(limitedBodyKey{}).(*limitedBody)
	return ok && b.exceeded.Load()
}

// errBodyTooLarge is the answer to a body over [MaxBodyBytes]:
// RESOURCE_EXHAUSTED with the limit in the message and in the ErrorInfo,
// sent as HTTP 413 (the code alone would make it 429).
func errBodyTooLarge() error {
	limit := strconv.Itoa(MaxBodyBytes)
	return &runtime.HTTPStatusError{
		HTTPStatus: http.StatusRequestEntityTooLarge,
		Err: service.GatewayError(codes.ResourceExhausted, "REQUEST_TOO_LARGE",
			"request body is larger than the limit of "+limit+" bytes",
			map[string]string{"limitBytes": limit}),
	}
}
