package rest

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, tt := range []struct {
		name      string
		origins   []string
		method    string
		header    map[string]string
		wantCode  int
		wantAllow string // Access-Control-Allow-Origin
	}{
		{name: "no origins configured", method: http.MethodGet, header: map[string]string{"Origin": "https://portal.example.test"}, wantCode: http.StatusTeapot},
		{name: "allowed origin", origins: []string{"https://portal.example.test"}, method: http.MethodGet, header: map[string]string{"Origin": "https://portal.example.test"}, wantCode: http.StatusTeapot, wantAllow: "https://portal.example.test"},
		{name: "other origin", origins: []string{"https://portal.example.test"}, method: http.MethodGet, header: map[string]string{"Origin": "https://evil.example.test"}, wantCode: http.StatusTeapot},
		{name: "any origin", origins: []string{"*"}, method: http.MethodGet, header: map[string]string{"Origin": "https://evil.example.test"}, wantCode: http.StatusTeapot, wantAllow: "https://evil.example.test"},
		{name: "no Origin header", origins: []string{"*"}, method: http.MethodGet, wantCode: http.StatusTeapot},
		{name: "preflight", origins: []string{"https://portal.example.test"}, method: http.MethodOptions, header: map[string]string{"Origin": "https://portal.example.test", "Access-Control-Request-Method": "POST"}, wantCode: http.StatusNoContent, wantAllow: "https://portal.example.test"},
		{name: "preflight of another origin passes through", origins: []string{"https://portal.example.test"}, method: http.MethodOptions, header: map[string]string{"Origin": "https://evil.example.test", "Access-Control-Request-Method": "POST"}, wantCode: http.StatusTeapot},
		{name: "OPTIONS without a request method is no preflight", origins: []string{"https://portal.example.test"}, method: http.MethodOptions, header: map[string]string{"Origin": "https://portal.example.test"}, wantCode: http.StatusTeapot, wantAllow: "https://portal.example.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "/v1/vcenters/default/vasaProviders", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			CORS(tt.origins, next).ServeHTTP(w, r)
			if w.Code != tt.wantCode {
				t.Errorf("code %d, want %d", w.Code, tt.wantCode)
			}
			h := w.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.wantAllow)
			}
			if tt.wantAllow != "" && (h.Get("Vary") != "Origin" || h.Get("Access-Control-Expose-Headers") != "X-Request-Id") {
				t.Errorf("Vary %q, Expose-Headers %q", h.Get("Vary"), h.Get("Access-Control-Expose-Headers"))
			}
			if preflight := tt.wantCode == http.StatusNoContent; preflight != (h.Get("Access-Control-Allow-Methods") != "") {
				t.Errorf("Access-Control-Allow-Methods %q on a %d", h.Get("Access-Control-Allow-Methods"), w.Code)
			}
		})
	}
}

func TestLimitBody(t *testing.T) {
	t.Parallel()
	var readErr error
	h := LimitBody(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 4096)
		for readErr == nil {
			_, readErr = r.Body.Read(buf)
		}
	}))
	body := make([]byte, MaxBodyBytes+1)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
	var maxBytes *http.MaxBytesError
	if !errors.As(readErr, &maxBytes) || maxBytes.Limit != MaxBodyBytes {
		t.Errorf("reading %d bytes: %v, want a MaxBytesError at %d", len(body), readErr, MaxBodyBytes)
	}
}

// TestCrossOriginWildcard: a "*" in the CORS list lets any site read, but
// trusts no origin to write with a visitor's ambient credentials; a write
// that carries a token passes (a browser sends one cross-site only after a
// CORS preflight).
func TestCrossOriginWildcard(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h, err := CrossOrigin([]string{"*", "https://portal.example.test"}, ok)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		header map[string]string
		want   int
	}{
		{"cross-site write", http.MethodPost, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"cross-site write with a token", http.MethodPost, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer x"}, http.StatusNoContent},
		{"listed origin", http.MethodPost, map[string]string{"Origin": "https://portal.example.test", "Sec-Fetch-Site": "cross-site"}, http.StatusNoContent},
		{"cross-site read", http.MethodGet, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "https://gw.example.test/v1/x", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("HTTP %d %s, want %d", w.Code, w.Body, tt.want)
			}
		})
	}
	if _, err := CrossOrigin([]string{"not an origin"}, ok); err == nil {
		t.Error("a malformed origin was accepted")
	}
}
