package vcenter

import (
	"bytes"
	"io"
	"net/http"
)

// sizedRequests is an http.RoundTripper that sends each request body of
// unknown length as one buffer with its Content-Length.
//
// govmomi hands every SOAP request to net/http as an io.MultiReader (the
// XML declaration, then the envelope) with no length, which costs twice
// on every call: net/http copies it with a fresh 32 KiB buffer (the
// multi-reader's WriteTo allocates one each time; it was 40 % of the bytes
// a gateway under load allocated), and sends it chunked, which vCenter
// must de-chunk. The envelopes are small, so buffering them whole costs a
// few hundred bytes, and a known length also lets net/http resend a
// request on a fresh connection when a pooled one turned out dead before
// anything was written (GetBody).
type sizedRequests struct {
	base http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *sizedRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength > 0 || req.GetBody != nil {
		return base.RoundTrip(req)
	}
	var buf bytes.Buffer
	buf.Grow(1024)
	_, err := buf.ReadFrom(req.Body)
	req.Body.Close() // a RoundTripper closes the body, even on errors
	if err != nil {
		return nil, err
	}
	b := buf.Bytes()
	sized := *req // a RoundTripper must not change the caller's request
	sized.Body = io.NopCloser(bytes.NewReader(b))
	sized.ContentLength = int64(len(b))
	sized.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return base.RoundTrip(&sized)
}
