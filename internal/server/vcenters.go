package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/telemetry"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// defaultConfigCheck is how often the config file is read to see whether
// it changed. The file is read and hashed rather than watched with inotify:
// that needs no extra dependency, sees every way a file is replaced
// (written in place, renamed over, a Kubernetes ConfigMap's symlink swap)
// and costs one small read a second.
const defaultConfigCheck = time.Second

// vcenterSpec is what one served vCenter is made from: the flags'
// `default`, a config file entry, or an embedded simulator. Two equal
// specs make the same vCenter, so a reload leaves it running.
type vcenterSpec struct {
	entry     config.VCenter
	fromFlags bool // the --vcenter-* flags: the password may come from the environment
	simulated bool
	// caSum is the content of the CA file when the spec was made: a CA
	// file that changed makes the vCenter log in again on the next reload.
	caSum [sha256.Size]byte
}

// liveVCenter is one vCenter being served.
type liveVCenter struct {
	spec vcenterSpec
	sim  *smssim.Server // simulated only
	// controls forwards to the simulator's test controls (simulated only),
	// and closeControls releases its connections.
	controls      http.Handler
	closeControls func()
	session       *vcenter.Session
	up            telemetry.Upstream // the session, measured
	vc            service.VCenter
	health        *tracker
}

// vcenterSet runs the served vCenters: one session, health check and
// metrics label per vCenter, kept in step with the configuration.
type vcenterSet struct {
	cfg config.Config
	log *slog.Logger
	tel *telemetry.Telemetry
	svc *service.Service
	rd  *readiness

	mu      sync.Mutex // one apply at a time
	live    map[string]*liveVCenter
	applied []config.VCenter // the config file's entries now served
	closing sync.WaitGroup   // sessions and simulators being closed
}

func newVCenterSet(cfg config.Config, log *slog.Logger, tel *telemetry.Telemetry, rd *readiness) *vcenterSet {
	return &vcenterSet{cfg: cfg, log: log, tel: tel, rd: rd, live: make(map[string]*liveVCenter)}
}

// specs is the vCenters the configuration asks for, with the config file's
// entries file: the flags' `default`, the simulated ids, the file's
// entries; with none of them, `default` is the embedded simulator.
func (s *vcenterSet) specs(file []config.VCenter) []vcenterSpec {
	var out []vcenterSpec
	if s.cfg.VCenterURL != "" {
		out = append(out, vcenterSpec{fromFlags: true, entry: config.VCenter{
			ID:            config.DefaultVCenter,
			URL:           s.cfg.VCenterURL,
			Username:      s.cfg.VCenterUsername,
			PasswordFile:  s.cfg.VCenterPasswordFile,
			CAFile:        s.cfg.VCenterCAFile,
			Thumbprint:    s.cfg.VCenterThumbprint,
			Insecure:      s.cfg.VCenterInsecure,
			AutoReconnect: s.cfg.AutoReconnect,
		}})
	}
	for _, id := range s.cfg.SimulateVCenters {
		out = append(out, vcenterSpec{simulated: true, entry: config.VCenter{ID: id, AutoReconnect: id == config.DefaultVCenter && s.cfg.AutoReconnect}})
	}
	for _, e := range file {
		out = append(out, vcenterSpec{entry: e})
	}
	if len(out) == 0 {
		out = append(out, vcenterSpec{simulated: true, entry: config.VCenter{ID: config.DefaultVCenter, AutoReconnect: s.cfg.AutoReconnect}})
	}
	for i := range out {
		if ca := out[i].entry.CAFile; ca != "" {
			if b, err := os.ReadFile(ca); err == nil {
				out[i].caSum = sha256.Sum256(b)
			}
		}
	}
	return out
}

// apply makes the served vCenters those of file (with the flags' and the
// simulated ones): it starts the added ones and those whose settings
// changed, then swaps them in, and removes the ones no longer asked for.
// Nothing changes when a vCenter cannot be set up (a CA file that does not
// parse, say): the error says which.
func (s *vcenterSet) apply(file []config.VCenter) (added, changed, removed []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[string]bool)
	started := make(map[string]*liveVCenter)
	for _, spec := range s.specs(file) {
		id := spec.entry.ID
		want[id] = true
		if cur, ok := s.live[id]; ok && cur.spec == spec {
			continue
		}
		lv, err := s.start(spec)
		if err != nil {
			for _, lv := range started {
				s.closeLive(lv)
			}
			return nil, nil, nil, fmt.Errorf("vcenter %s: %w", id, err)
		}
		started[id] = lv
	}
	for _, id := range slices.Sorted(maps.Keys(started)) {
		lv := started[id]
		if err := s.svc.SetVCenter(lv.vc); err != nil {
			// The configuration checked the id; this is a bug, not a bad file.
			s.closeLive(lv)
			return nil, nil, nil, fmt.Errorf("vcenter %s: %w", id, err)
		}
		old := s.live[id]
		if old != nil {
			// Its health stays as last checked until the new session's
			// first check: a reload is no outage.
			old.health.stop()
			changed = append(changed, id)
		} else {
			added = append(added, id)
		}
		s.live[id] = lv
		lv.health = s.rd.track(id, lv.up)
		if old != nil {
			s.closeLive(old)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.live)) {
		if want[id] {
			continue
		}
		old := s.live[id]
		delete(s.live, id)
		// Health and series go first, so that once callers see the vCenter
		// gone, /metrics and the health service agree; the series are
		// dropped again after the session closed, for what calls still in
		// flight recorded meanwhile.
		old.health.stop()
		old.health.forget()
		s.tel.ForgetVCenter(id)
		s.svc.RemoveVCenter(id)
		s.closeLive(old)
		s.tel.ForgetVCenter(id)
		removed = append(removed, id)
	}
	s.applied = file
	return added, changed, removed, nil
}

// start sets up one vCenter: its simulator when simulated, and its session
// (which logs in on first use).
func (s *vcenterSet) start(spec vcenterSpec) (*liveVCenter, error) {
	e := spec.entry
	log := s.log.With("vcenter", e.ID)
	lv := &liveVCenter{spec: spec}
	cfg := vcenter.SessionConfig{
		Username:   e.Username,
		CAFile:     e.CAFile,
		Thumbprint: e.Thumbprint,
		Insecure:   e.Insecure,
		OnLogin:    s.tel.OnLogin(e.ID),
		Logger:     log,
	}
	switch {
	case spec.simulated:
		sim, err := smssim.Start(smssim.Options{})
		if err != nil {
			return nil, fmt.Errorf("start the embedded SMS simulator: %w", err)
		}
		lv.sim = sim
		// A read-only vSphere user for the VI/JSON facade's Login demo.
		sim.AddReadOnlyUser()
		if slices.Contains(s.cfg.SimulateVCenters, e.ID) {
			log.Info("--simulate-vcenters: serving an embedded SMS simulator (demo data, not a real vCenter)", "simulator_url", sim.URL.String())
		} else {
			log.Info("no --vcenter-url: serving the embedded SMS simulator (demo data, not a real vCenter)", "simulator_url", sim.URL.String())
		}
		controls, closeControls, err := simulatorProxy(sim)
		if err != nil {
			sim.Close()
			return nil, err
		}
		lv.controls, lv.closeControls = controls, closeControls
		pw := sim.Password
		cfg.URL, cfg.Username, cfg.CAFile = sim.URL, sim.Username, sim.CAFile
		cfg.Password = func() (string, error) { return pw, nil }
	default:
		u, err := url.Parse(e.URL)
		if err != nil {
			return nil, fmt.Errorf("url: %w", err)
		}
		cfg.URL = u
		cfg.Password = e.PasswordFunc()
		if spec.fromFlags {
			cfg.Password = s.cfg.PasswordFunc()
		}
		if e.Insecure {
			log.Warn("insecure: vCenter's certificate is not verified; anyone on the network path can read the vCenter credentials", "url", e.URL)
		}
	}
	session, err := vcenter.NewSession(cfg)
	if err != nil {
		if lv.sim != nil {
			lv.closeControls()
			lv.sim.Close()
		}
		return nil, err
	}
	lv.session = session
	lv.up = s.tel.InstrumentUpstream(session, e.ID)
	lv.vc = service.VCenter{
		ID:            e.ID,
		URL:           cfg.URL.String(),
		Upstream:      lv.up,
		Session:       session,
		AutoReconnect: e.AutoReconnect,
	}
	return lv, nil
}

// closeLive logs a vCenter's session out and stops its simulator, in the
// background: a vCenter that is down would hold a reload up for the
// logout's timeout. close waits for it.
func (s *vcenterSet) closeLive(lv *liveVCenter) {
	s.closing.Add(1)
	go func() {
		defer s.closing.Done()
		closeSession(lv.session, s.log)
		if lv.sim != nil {
			lv.closeControls()
			lv.sim.Close()
		}
	}()
}

// session returns the session of a vCenter served now, for the VI/JSON
// facade's user logins, which use its connection settings.
func (s *vcenterSet) session(id string) (*vcenter.Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lv, ok := s.live[id]
	if !ok {
		return nil, false
	}
	return lv.session, true
}

// close stops every vCenter (after the service has closed) and waits.
func (s *vcenterSet) close() {
	s.mu.Lock()
	for id, lv := range s.live {
		lv.health.stop()
		s.closeLive(lv)
		delete(s.live, id)
	}
	s.mu.Unlock()
	s.closing.Wait()
}

// reload re-reads the config file and applies it. A file that does not
// parse or validate, or a vCenter that cannot be set up, is refused with
// one log line naming the problem and the refused-reload metric, and the
// running vCenters stay.
func (s *vcenterSet) reload(data []byte, why string) {
	path := s.cfg.ConfigFile
	file, err := config.ParseVCenters(data, filepath.Dir(path))
	if err == nil {
		err = s.cfg.CheckVCenters(file)
	}
	if err == nil && len(file) > 0 && !s.cfg.RealVCenters() {
		// The gateway started with simulators only, so it may run without
		// caller authentication; real credentials need it.
		c := s.cfg
		c.VCenters = file
		for _, e := range c.Security.Validate(true) {
			if errors.Is(e, config.ErrNoCallerAuthentication) {
				err = e
			}
		}
	}
	var added, changed, removed []string
	if err == nil {
		added, changed, removed, err = s.apply(file)
	}
	s.tel.ConfigReloaded(err)
	if err != nil {
		s.log.Error("config reload refused; the running vCenters stay", "config", path, "trigger", why, "error", oneLine(err))
		return
	}
	s.log.Info("config reloaded", "config", path, "trigger", why, "added", added, "changed", changed, "removed", removed)
}

// oneLine joins a multi-line error (one line per problem) into one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// watchConfig reloads the config file when its content changes (checked
// every interval) and on every signal of hup, until ctx is done.
func (s *vcenterSet) watchConfig(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	path := s.cfg.ConfigFile
	if path == "" {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.log.Info("SIGHUP: no --config file; nothing to reload")
			}
		}
	}
	s.tel.ObserveConfigReloads()
	var seen [sha256.Size]byte
	if data, err := os.ReadFile(path); err == nil {
		seen = sha256.Sum256(data)
		// Load read the file before the gateway started: a change since
		// then is applied now.
		if vcs, err := config.ParseVCenters(data, filepath.Dir(path)); err != nil || !slices.Equal(vcs, s.cfg.VCenters) {
			s.reload(data, "changed")
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		why := "changed"
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			sum := sha256.Sum256([]byte(err.Error()))
			if why == "SIGHUP" || sum != seen {
				seen = sum
				s.tel.ConfigReloaded(err)
				s.log.Error("config reload refused; the running vCenters stay", "config", path, "trigger", why, "error", err)
			}
			continue
		}
		sum := sha256.Sum256(data)
		if why != "SIGHUP" && sum == seen {
			continue
		}
		seen = sum
		s.reload(data, why)
	}
}
