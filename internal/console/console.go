// Package console owns the operator console: the web page the REST
// listener serves at `/` and its assets (plain ES modules and CSS, embedded
// with go:embed, no build step). The page holds no privilege of its own: it
// calls the public REST API from the browser, with the caller's own bearer
// token or client certificate, so every action passes the same
// authentication, roles, limits and cross-origin rules as any other REST
// call.
//
// Every answer of this package carries a strict Content-Security-Policy
// (no inline script or style, no third-party request, no framing) and
// `X-Content-Type-Options: nosniff`.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// ContentSecurityPolicy is the policy of the page and of every asset: its
// own scripts, styles and API only; images from itself or data: URLs; no
// <base>, no form submission (the page's forms are handled by script), no
// framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// AssetPrefix is the path under which the page's assets are served.
const AssetPrefix = "/console/"

//go:embed assets
var embedded embed.FS

// contentTypes are the media types of the asset kinds the console ships;
// a file of another kind is not served (nosniff needs a right type).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler serves the console: the page at `/` and its assets under
// [AssetPrefix].
type Handler struct {
	assets fs.FS
}

// New returns the console's handler over its embedded assets.
func New() *Handler {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		// The directory is embedded at build time: it cannot be missing.
		panic("console: embedded assets: " + err.Error())
	}
	return &Handler{assets: sub}
}

// Register adds the page (`GET /`, exactly) and its assets to mux. The
// patterns are more specific than a catch-all `/`, which keeps serving the
// REST API.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET "+AssetPrefix+"{file...}", h.asset)
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, "index.html")
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || !fs.ValidPath(name) || strings.HasPrefix(path.Base(name), ".") {
		h.notFound(w)
		return
	}
	h.serve(w, r, name)
}

// serve writes one embedded file with the console's headers. The files
// change only with the binary, so caches revalidate (no-cache) rather than
// keep a stale page beside a newer API.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, name string) {
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		h.notFound(w)
		return
	}
	b, err := fs.ReadFile(h.assets, name)
	if err != nil {
		h.notFound(w)
		return
	}
	setHeaders(w.Header())
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

func (h *Handler) notFound(w http.ResponseWriter) {
	setHeaders(w.Header())
	http.Error(w, "not found", http.StatusNotFound)
}

// setHeaders sets the security headers every console answer carries.
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}
