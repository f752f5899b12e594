package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// FuzzRESTRequest sends arbitrary JSON bodies and provider ids through the
// real REST facade (grpc-gateway, the gRPC server and the service, over
// the simulator). Whatever arrives, the answer is a success or a
// google.rpc.Status with an ErrorInfo and a client-error code, never a
// panic or an INTERNAL.
func FuzzRESTRequest(f *testing.F) {
	for _, seed := range []struct{ body, id string }{
		{`{}`, "vp-6"},
		{`{"requestId":"123e4567-e89b-12d3-a456-426614174000"}`, "vp-6"},
		{`{"request_id":"x"}`, "vp-6"},
		{`{"name":"vcenters/default/vasaProviders/vp-1"}`, "vp-6"},
		{`{"bogus":[1,2,{}]}`, "VasaProvider%3A6"},
		{`{"requestId":`, "vp%2F6"},
		{"\x00\xff", "..%2F..%2Fetc"},
		{`[]`, "vp-6:reconnect"},
		{`{"requestId":null}`, "%zz"},
	} {
		f.Add(seed.body, seed.id)
	}
	g := startGateway(f)
	hc := &http.Client{}
	f.Fuzz(func(t *testing.T, body, id string) {
		// Only provider ids the VASA pre-check refuses reach the upstream
		// reconnect, so fuzzing starts no tasks.
		if strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return // breaks the HTTP request line; net/http answers that itself
		}
		path := "/v1/vcenters/default/vasaProviders/" + id + ":reconnect"
		u, err := url.Parse(g.base + path)
		if err != nil {
			return // not a URL a client could send
		}
		if !strings.HasPrefix(u.EscapedPath(), "/v1/vcenters/default/vasaProviders/") {
			return
		}
		if strings.Contains(strings.ToLower(id), "vp-") && !strings.Contains(id, "vp-6") {
			return
		}
		req, err := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			Code    int32             `json:"code"`
			Message string            `json:"message"`
			Details []json.RawMessage `json:"details"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatalf("%d with a body that is not JSON: %v", resp.StatusCode, err)
		}
		if resp.StatusCode == http.StatusOK {
			return
		}
		if resp.StatusCode >= 500 || codes.Code(st.Code) == codes.Internal || codes.Code(st.Code) == codes.Unknown {
			t.Fatalf("POST %s %q: %d %+v", path, body, resp.StatusCode, st)
		}
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed && len(st.Details) == 0 {
			t.Fatalf("POST %s %q: %d without details", path, body, resp.StatusCode)
		}
	})
}
