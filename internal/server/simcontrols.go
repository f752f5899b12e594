package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
)

// simulatorProxy forwards requests to a simulator's HTTP test controls
// (POST /smssim/..., such as "the storage admin provisioned a new
// certificate on provider vp-3"), with the simulator's own credentials; a
// caller's credentials are never forwarded. close releases its connections.
func simulatorProxy(sim *smssim.Server) (h http.Handler, close func(), err error) {
	pem, err := os.ReadFile(sim.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("simulator controls: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("simulator controls: no certificate in %s", sim.CAFile)
	}
	target := &url.URL{Scheme: sim.URL.Scheme, Host: sim.URL.Host}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	user, pass := sim.Username, sim.Password
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			r.Out.Header.Del("Cookie")
			r.Out.SetBasicAuth(user, pass) // replaces the caller's Authorization
		},
		Transport: transport,
	}, transport.CloseIdleConnections, nil
}

// simulatorControls serves, on the REST listener, the test controls of the
// embedded simulators, so that the README's recovery example works with
// plain curl against the demo: POST /smssim/... for the vCenter `default`,
// POST /vcenters/{vcenter}/smssim/... for another simulated one. It is nil
// when no vCenter is simulated: a gateway in front of real vCenters has no
// such routes.
func (s *vcenterSet) simulatorControls() http.Handler {
	s.mu.Lock()
	simulated := false
	for _, lv := range s.live {
		simulated = simulated || lv.controls != nil
	}
	s.mu.Unlock()
	if !simulated {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+smssim.ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		s.forwardControl(w, r, config.DefaultVCenter)
	})
	mux.HandleFunc("POST /vcenters/{vcenter}"+smssim.ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("vcenter")
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/vcenters/"+id)
		r2.URL.RawPath = ""
		s.forwardControl(w, r2, id)
	})
	return mux
}

// forwardControl sends a control request to the simulator of vCenter id.
func (s *vcenterSet) forwardControl(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	lv := s.live[id]
	s.mu.Unlock()
	if lv == nil || lv.controls == nil {
		http.Error(w, "no simulated vCenter "+id, http.StatusNotFound)
		return
	}
	lv.controls.ServeHTTP(w, r)
}
