package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vasagw/vasagw/internal/console"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	// The catch-all stands for the REST API the console sits beside.
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"api":true}`)
	})
	console.New().Register(mux)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name, method, path string
		code               int
		ctype              string // "": the API's
		console            bool   // answered by the console, with its headers
	}{
		{name: "page", method: "GET", path: "/", code: 200, ctype: "text/html; charset=utf-8", console: true},
		{name: "page HEAD", method: "HEAD", path: "/", code: 200, ctype: "text/html; charset=utf-8", console: true},
		{name: "module", method: "GET", path: "/console/app.js", code: 200, ctype: "text/javascript; charset=utf-8", console: true},
		{name: "sse module", method: "GET", path: "/console/sse.js", code: 200, ctype: "text/javascript; charset=utf-8", console: true},
		{name: "style", method: "GET", path: "/console/console.css", code: 200, ctype: "text/css; charset=utf-8", console: true},
		{name: "missing asset", method: "GET", path: "/console/nope.js", code: 404, console: true},
		{name: "index by name", method: "GET", path: "/console/index.html", code: 404, console: true},
		{name: "directory", method: "GET", path: "/console/", code: 404, console: true},
		{name: "traversal", method: "GET", path: "/console/..%2fconsole.go", code: 404, console: true},
		{name: "POST to the page is the API's", method: "POST", path: "/", code: 200},
		{name: "other paths are the API's", method: "GET", path: "/v1/vcenters/default/vasaProviders", code: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, s.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, body, tt.code)
			}
			h := resp.Header
			if !tt.console {
				if string(body) != `{"api":true}` || h.Get("Content-Security-Policy") != "" {
					t.Errorf("answered %q with CSP %q, want the API's answer", body, h.Get("Content-Security-Policy"))
				}
				return
			}
			if got := h.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := h.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options %q", got)
			}
			if tt.ctype != "" {
				if got := h.Get("Content-Type"); got != tt.ctype {
					t.Errorf("Content-Type %q, want %q", got, tt.ctype)
				}
				if got := h.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control %q", got)
				}
				if tt.method == "HEAD" && len(body) != 0 {
					t.Errorf("HEAD answered %d bytes", len(body))
				}
			}
		})
	}
}

// TestPolicyIsStrict pins the policy the issue asks for: nothing inline,
// nothing from elsewhere, no framing, no form posts.
func TestPolicyIsStrict(t *testing.T) {
	t.Parallel()
	want := []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"}
	got := strings.Split(console.ContentSecurityPolicy, "; ")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("policy %q, want %q", got, want)
	}
	if strings.Contains(console.ContentSecurityPolicy, "unsafe") {
		t.Error("the policy allows something unsafe")
	}
}

var (
	inlineScript = regexp.MustCompile(`(?i)<script(?:[^>]*)>\s*[^<\s]`)
	inlineStyle  = regexp.MustCompile(`(?i)<style|\sstyle\s*=`)
	inlineEvent  = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	assetRef     = regexp.MustCompile(`(?:src|href)="(/[^"]*)"`)
	moduleImport = regexp.MustCompile(`(?m)^import [^'"]*from '\./([^']+)';`)
	externalURL  = regexp.MustCompile(`(?i)(?:src|href)="(?:https?:)?//`)
)

// TestAssetsAreSelfContained checks the shipped files: no inline script,
// style or handler (the policy would block them), every asset the page and
// the modules name is embedded, and nothing is loaded from elsewhere.
func TestAssetsAreSelfContained(t *testing.T) {
	t.Parallel()
	dir := "assets"
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for name, re := range map[string]*regexp.Regexp{"inline script": inlineScript, "inline style": inlineStyle, "inline handler": inlineEvent, "external URL": externalURL} {
		if m := re.Find(page); m != nil {
			t.Errorf("index.html has an %s: %q", name, m)
		}
	}
	s := httptest.NewServer(func() http.Handler { m := http.NewServeMux(); console.New().Register(m); return m }())
	t.Cleanup(s.Close)
	get := func(path string) int {
		resp, err := s.Client().Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, m := range assetRef.FindAllSubmatch(page, -1) {
		if code := get(string(m[1])); code != http.StatusOK {
			t.Errorf("index.html names %s: HTTP %d", m[1], code)
		}
	}
	err = fs.WalkDir(os.DirFS(dir), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".js" {
			return err
		}
		src, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			return err
		}
		if code := get(console.AssetPrefix + path); code != http.StatusOK {
			t.Errorf("%s is not served: HTTP %d", path, code)
		}
		for _, m := range moduleImport.FindAllSubmatch(src, -1) {
			if code := get(console.AssetPrefix + string(m[1])); code != http.StatusOK {
				t.Errorf("%s imports %s: HTTP %d", path, m[1], code)
			}
		}
		for _, bad := range []string{"localStorage", "sessionStorage", "document.cookie", "innerHTML", "eval(", "new Function"} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %s", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
