package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/telemetry"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// newUpstream returns the session to the configured vCenter, or to an
// embedded SMS simulator when none is configured.
func newUpstream(cfg config.Config, log *slog.Logger, onLogin func(error)) (telemetry.Upstream, func(), error) {
	if cfg.VCenterURL == "" {
		sim, err := smssim.Start(smssim.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("start the embedded SMS simulator: %w", err)
		}
		// A read-only vSphere user for the VI/JSON facade's Login demo.
		sim.AddReadOnlyUser()
		log.Info("no --vcenter-url: serving the embedded SMS simulator (demo data, not a real vCenter)", "simulator_url", sim.URL.String())
		pw := sim.Password
		s, err := vcenter.NewSession(vcenter.SessionConfig{
			URL:      sim.URL,
			Username: sim.Username,
			Password: func() (string, error) { return pw, nil },
			CAFile:   sim.CAFile,
			OnLogin:  onLogin,
			Logger:   log,
		})
		if err != nil {
			sim.Close()
			return nil, nil, err
		}
		return s, func() {
			closeSession(s, log)
			sim.Close()
		}, nil
	}
	u, err := url.Parse(cfg.VCenterURL)
	if err != nil {
		return nil, nil, fmt.Errorf("--vcenter-url: %w", err)
	}
	if cfg.VCenterInsecure {
		log.Warn("--vcenter-insecure: vCenter's certificate is not verified; anyone on the network path can read the vCenter credentials")
	}
	s, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:        u,
		Username:   cfg.VCenterUsername,
		Password:   cfg.PasswordFunc(),
		CAFile:     cfg.VCenterCAFile,
		Thumbprint: cfg.VCenterThumbprint,
		Insecure:   cfg.VCenterInsecure,
		OnLogin:    onLogin,
		Logger:     log,
	})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { closeSession(s, log) }, nil
}

func closeSession(s *vcenter.Session, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		log.Warn("close the vCenter session", "error", err)
	}
}
