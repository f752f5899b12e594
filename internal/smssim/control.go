package smssim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/vmware/govmomi/vim25/soap"
)

// ControlPrefix is where a [Server] serves its HTTP test controls, beside
// /sdk and /sms/sdk on the same address:
//
//	POST /smssim/providers/{id}/renew-certificate
//
// is [Simulator.RenewProviderCertificate] ("the storage admin provisioned
// a new certificate on the provider"); it answers
// {"provider": id, "certificate": PEM, "sha256Fingerprint": "AB:CD:..."}.
// Controls need HTTP basic authentication with the Server's Username and
// Password, e.g.
//
//	curl -sk -u user:pass -X POST https://127.0.0.1:PORT/smssim/providers/vp-3/renew-certificate
const ControlPrefix = "/smssim/"

// renewResponse is the answer of the renew-certificate control.
type renewResponse struct {
	Provider    string `json:"provider"`
	Certificate string `json:"certificate"`
	SHA256      string `json:"sha256Fingerprint"`
}

// registerControls adds the HTTP test controls to mux.
func (s *Server) registerControls(mux *http.ServeMux) {
	mux.HandleFunc("POST "+ControlPrefix+"providers/{id}/renew-certificate", s.authorized(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		pemText, err := s.Sim.RenewProviderCertificate(id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		fp := ""
		if c, err := parsePEMCertificate(pemText); err == nil {
			fp = soap.ThumbprintSHA256(c)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(renewResponse{Provider: id, Certificate: pemText, SHA256: fp})
	}))
}

// authorized lets a request through only with the Server's credentials.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="smssim controls"`)
			http.Error(w, "smssim controls need the simulator's user name and password", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}
