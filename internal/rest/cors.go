package rest

import (
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/vasagw/vasagw/internal/service"
)

// CORS lets the configured browser origins call the API (a "*" lets any
// origin). With no origins
// configured (the default) it adds nothing.
func CORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (allowed[origin] || allowed["*"]) {
			h := w.Header()
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "X-Request-Id")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// CrossOrigin refuses the state-changing requests (any method but GET,
// HEAD and OPTIONS) that a browser sends from another site, unless the
// origin is one of origins, the CORS allow-list: without it, a page on any
// site could make a visitor's browser POST a reconnect with the visitor's
// client certificate (a text/plain POST needs no CORS preflight). Go's
// [http.CrossOriginProtection] decides, from Sec-Fetch-Site or else Origin
// against Host; requests with neither header (every non-browser client)
// pass. A "*" in origins trusts no origin here: it lets any site read the
// API, not act with a visitor's certificate. A request that carries an
// Authorization header passes: a browser sends one cross-site only after
// a CORS preflight, and the token, not an ambient certificate, then says
// who the caller is. A refusal is PERMISSION_DENIED / 403 with reason
// CROSS_ORIGIN_REFUSED.
func CrossOrigin(origins []string, next http.Handler) (http.Handler, error) {
	p := http.NewCrossOriginProtection()
	for _, o := range origins {
		if o == "*" {
			continue
		}
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("trusted origin %q: %w", o, err)
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, service.GatewayError(codes.PermissionDenied, "CROSS_ORIGIN_REFUSED",
			"cross-origin "+r.Method+" refused: this origin is not allowed to change anything here",
			map[string]string{"origin": clipPath(r.Header.Get("Origin"))}))
	}))
	protected := p.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Authorization")) > 0 {
			next.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	}), nil
}
