package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the gateway's whole configuration. Every field is set by a flag
// and by its environment twin, VASAGW_ + the flag in UPPER_SNAKE; a flag
// given on the command line wins over the environment.
type Config struct {
	GRPCAddr            string
	HTTPAddr            string
	VCenterURL          string
	VCenterUsername     string
	VCenterPasswordFile string
	// VCenterPassword comes only from VASAGW_VCENTER_PASSWORD, never a flag
	// (a flag would show in the process list).
	VCenterPassword    string
	VCenterCAFile      string
	VCenterThumbprint  string
	VCenterInsecure    bool
	TaskPollInterval   time.Duration
	CORSAllowedOrigins []string
	ShutdownTimeout    time.Duration
	LogFormat          string
	LogLevel           string
	AdminAddr          string
	HealthInterval     time.Duration

	// SecurityConfig holds TLS, caller authentication and per-caller
	// limits (see auth.go).
	SecurityConfig

	// onListen, when set (by tests), is told the bound addresses.
	onListen func(grpcAddr, httpAddr net.Addr)
	// logOutput, when set (by tests), receives the logs instead of stderr.
	logOutput io.Writer
	// onAdminListen, when set (by tests), is told the admin listener's
	// address (not called when --admin-addr is empty).
	onAdminListen func(adminAddr net.Addr)
	// otelEnv holds the OTEL_* variables that switch tracing on.
	otelEnv map[string]string
	// traceExporter, when set (by tests), receives the spans and turns
	// tracing on.
	traceExporter spanExporter
	// sseKeepalive, when set (by tests), overrides how long an SSE stream
	// stays silent before a keepalive comment.
	sseKeepalive time.Duration
	// watchLinger, when set (by tests), overrides how long a task's poller
	// outlives its last subscriber.
	watchLinger time.Duration
}

// defaultConfig returns the documented defaults.
func defaultConfig() Config {
	return Config{
		GRPCAddr:         ":9090",
		HTTPAddr:         ":8080",
		AdminAddr:        ":9091",
		HealthInterval:   10 * time.Second,
		TaskPollInterval: time.Second,
		ShutdownTimeout:  10 * time.Second,
		LogFormat:        "auto",
		LogLevel:         "info",
	}
}

// envPrefix is the prefix of every environment twin of a flag.
const envPrefix = "VASAGW_"

// envName returns a flag's environment twin: --vcenter-url -> VASAGW_VCENTER_URL.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// loadConfig fills a Config from the command-line arguments (without the
// program name) and the environment, read through lookup so that tests
// never touch the process environment. A bad value fails with a message
// naming the flag.
func loadConfig(args []string, lookup func(string) (string, bool)) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("vasagw", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "gRPC listen address")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "REST listen address")
	fs.StringVar(&cfg.VCenterURL, "vcenter-url", "", "vCenter SDK URL, e.g. https://vc.example.com/sdk; empty serves the built-in SMS simulator")
	fs.StringVar(&cfg.VCenterUsername, "vcenter-username", "", "vCenter user")
	fs.StringVar(&cfg.VCenterPasswordFile, "vcenter-password-file", "", "file holding the vCenter password (re-read at every login)")
	fs.StringVar(&cfg.VCenterCAFile, "vcenter-ca-file", "", "PEM bundle to verify vCenter's certificate (default: system roots)")
	fs.StringVar(&cfg.VCenterThumbprint, "vcenter-thumbprint", "", "pin vCenter's certificate by SHA-256 or SHA-1 thumbprint")
	fs.BoolVar(&cfg.VCenterInsecure, "vcenter-insecure", false, "skip verification of vCenter's certificate (unsafe)")
	fs.DurationVar(&cfg.TaskPollInterval, "task-poll-interval", cfg.TaskPollInterval, "how often a watched SMS task is polled upstream")
	cors := fs.String("cors-allowed-origins", "", "comma-separated origins allowed to call the REST API from a browser (default none)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a graceful shutdown may take")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: json, text, or auto (text on a terminal, else json)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", cfg.AdminAddr, "admin listen address for /metrics, /healthz, /readyz and /debug/pprof/ (empty: no admin listener)")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", cfg.HealthInterval, "how often the vCenter session is checked for gRPC health and /readyz")

	cfg.SecurityConfig.addFlags(fs)

	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w (run with -h for the flags)", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v, ok := lookup(envName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("--%s (from %s): %v", f.Name, envName(f.Name), err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if v, ok := lookup(envPrefix + "VCENTER_PASSWORD"); ok {
		cfg.VCenterPassword = v
	}
	cfg.CORSAllowedOrigins = splitList(*cors)
	cfg.otelEnv = otelEnv(lookup)
	return cfg, cfg.validate()
}

// validate checks values that parse but make no sense.
func (c Config) validate() error {
	var errs []error
	if c.TaskPollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--task-poll-interval %s: must be at least 100ms", c.TaskPollInterval))
	}
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
	errs = append(errs, c.SecurityConfig.validate(c.VCenterURL != "")...)
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

// passwordFunc returns the function the session calls at each login: the
// password file is read anew each time, so rotating it needs no restart.
func (c Config) passwordFunc() func() (string, error) {
	if c.VCenterPasswordFile == "" {
		pw := c.VCenterPassword
		return func() (string, error) { return pw, nil }
	}
	path := c.VCenterPasswordFile
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read --vcenter-password-file: %w", err)
		}
		s := string(b)
		s = strings.TrimSuffix(s, "\n")
		s = strings.TrimSuffix(s, "\r")
		return s, nil
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
