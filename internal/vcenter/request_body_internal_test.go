package vcenter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSizedRequestsSendsALengthNotChunks(t *testing.T) {
	t.Parallel()
	type seen struct {
		length   int64
		encoding []string
		body     string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{length: r.ContentLength, encoding: r.TransferEncoding, body: string(b)}
	}))
	t.Cleanup(srv.Close)

	const want = `<?xml version="1.0"?><Envelope>hello</Envelope>`
	// What govmomi sends: a body of unknown length.
	body := io.MultiReader(strings.NewReader(want[:21]), strings.NewReader(want[21:]))
	req, err := http.NewRequest(http.MethodPost, srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &sizedRequests{base: srv.Client().Transport}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	if s.length != int64(len(want)) || len(s.encoding) != 0 || s.body != want {
		t.Errorf("server saw Content-Length %d, Transfer-Encoding %v, body %q; want %d, none, %q", s.length, s.encoding, s.body, len(want), want)
	}
	if req.ContentLength != 0 || req.GetBody != nil {
		t.Errorf("the caller's request was changed: ContentLength %d, GetBody set %v", req.ContentLength, req.GetBody != nil)
	}
}
