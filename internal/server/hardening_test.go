package server

import (
	"net/http"
	"testing"
)

// TestCrossOriginWritesRefused: a page on another site cannot make a
// browser that holds an operator's client certificate reconnect a provider
// (a text/plain POST needs no CORS preflight); an allowed origin, a
// same-origin page and a non-browser client can, and reads stay open.
func TestCrossOriginWritesRefused(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const portal = "https://portal.example.test"
	g := startSecureGateway(t, p, append(p.mtlsFlags(), "--cors-allowed-origins="+portal)...)
	hc := g.httpClient(t, p.client(t, "operator-bot"))
	const reconnect = "/v1/vcenters/default/vasaProviders/vp-1:reconnect"
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		want   int
	}{
		{name: "cross-site POST", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, want: http.StatusForbidden},
		{name: "cross-site POST, Origin only", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, want: http.StatusForbidden},
		{name: "same-site but another origin", method: http.MethodPost, path: reconnect, header: []string{"Origin", "https://other.127.0.0.1.example", "Sec-Fetch-Site", "same-site"}, want: http.StatusForbidden},
		{name: "allowed origin", method: http.MethodPost, path: reconnect, header: []string{"Content-Type", "application/json", "Origin", portal, "Sec-Fetch-Site", "cross-site"}, want: http.StatusOK},
		{name: "same origin", method: http.MethodPost, path: reconnect, header: []string{"Sec-Fetch-Site", "same-origin"}, want: http.StatusOK},
		{name: "non-browser client", method: http.MethodPost, path: reconnect, want: http.StatusOK},
		{name: "cross-site read", method: http.MethodGet, path: "/v1/vcenters/default/vasaProviders/vp-1", header: []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.sim.Sim.Calls("VasaProviderReconnect_Task")
			r, err := g.restCall(t, hc, tt.method, tt.path, "{}", tt.header...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != http.StatusForbidden {
				if r.code != tt.want {
					t.Fatalf("HTTP %d %s, want %d", r.code, r.body, tt.want)
				}
				return
			}
			checkRESTRefusal(t, r, http.StatusForbidden, "CROSS_ORIGIN_REFUSED")
			if st := restStatus(t, r.body); st.Code() != 7 { // PERMISSION_DENIED
				t.Errorf("code %v, want PERMISSION_DENIED", st.Code())
			}
			if n := g.sim.Sim.Calls("VasaProviderReconnect_Task"); n != before {
				t.Errorf("the refused request reached vCenter (%d reconnects, before %d)", n, before)
			}
		})
	}
}
