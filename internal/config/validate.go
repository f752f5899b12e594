package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"
)

// Validate checks values that parse but make no sense; each error names
// its flag. [Load] calls it; a Config built in code should pass it too.
func (c Config) Validate() error {
	var errs []error
	if c.TaskPollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--task-poll-interval %s: must be at least 100ms", c.TaskPollInterval))
	}
	errs = append(errs, c.Redis.validate()...)
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", c.ShutdownTimeout))
	}
	if c.HealthInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--health-interval %s: must be at least 100ms", c.HealthInterval))
	}
	switch c.LogFormat {
	case "json", "text", "auto":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: must be json, text or auto", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: must be debug, info, warn or error", c.LogLevel))
	}
	for _, o := range c.CORSAllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("--cors-allowed-origins %q: an origin is scheme://host[:port] or *", o))
		}
	}
	errs = append(errs, c.Security.Validate(c.RealVCenters())...)
	if err := c.checkSimulated(); err != nil {
		errs = append(errs, err)
	}
	if err := c.CheckVCenters(c.VCenters); err != nil {
		errs = append(errs, fmt.Errorf("--config %s: %w", c.ConfigFile, err))
	}
	errs = append(errs, c.Limits.Validate()...)
	errs = append(errs, c.Fleet.validate()...)
	if c.AutoReconnect && c.ProviderPollInterval == 0 {
		errs = append(errs, errors.New("--auto-reconnect: needs the provider refresh loop (--provider-poll-interval above 0)"))
	}
	if c.VCenterURL == "" {
		return errors.Join(errs...)
	}
	u, err := url.Parse(c.VCenterURL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("--vcenter-url: %v", err))
	case u.Scheme != "https" && u.Scheme != "http":
		errs = append(errs, fmt.Errorf("--vcenter-url %q: must be an https:// URL such as https://vc.example.com/sdk", c.VCenterURL))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("--vcenter-url %q: has no host", c.VCenterURL))
	case u.User != nil:
		errs = append(errs, errors.New("--vcenter-url: must not carry credentials; use --vcenter-username and --vcenter-password-file"))
	}
	if c.VCenterUsername == "" {
		errs = append(errs, errors.New("--vcenter-username: required with --vcenter-url"))
	}
	if c.VCenterPasswordFile == "" && c.VCenterPassword == "" {
		errs = append(errs, errors.New("--vcenter-password-file (or VASAGW_VCENTER_PASSWORD): required with --vcenter-url"))
	}
	if c.VCenterPasswordFile != "" {
		if _, err := os.Stat(c.VCenterPasswordFile); err != nil {
			errs = append(errs, fmt.Errorf("--vcenter-password-file: %v", err))
		}
	}
	if c.VCenterCAFile != "" {
		if _, err := os.Stat(c.VCenterCAFile); err != nil {
			errs = append(errs, fmt.Errorf("--vcenter-ca-file: %v", err))
		}
	}
	if c.VCenterInsecure && (c.VCenterCAFile != "" || c.VCenterThumbprint != "") {
		errs = append(errs, errors.New("--vcenter-insecure: cannot be combined with --vcenter-ca-file or --vcenter-thumbprint"))
	}
	return errors.Join(errs...)
}
