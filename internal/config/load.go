package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// envPrefix is the prefix of every environment twin of a flag.
const envPrefix = "VASAGW_"

// EnvName returns a flag's environment twin: --vcenter-url -> VASAGW_VCENTER_URL.
func EnvName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load fills a Config from the command-line arguments (without the program
// name) and the environment, read through lookup so that tests never touch
// the process environment (pass os.LookupEnv in main). A bad value fails
// with a message naming the flag.
//
// Sources, the first that sets a value wins: the command line, the
// VASAGW_* variables, the defaults. Each source is one step below.
func Load(args []string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	fs := newFlagSet(&cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, ErrHelp
		}
		return Config{}, parseError(err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fromEnv, err := applyEnv(fs, set, lookup)
	if err != nil {
		return Config{}, err
	}
	if v, ok := lookup(envPrefix + "VCENTER_PASSWORD"); ok {
		cfg.VCenterPassword = v
	}
	cfg.OTelEnv = otelEnv(lookup)
	if cfg.ConfigFile != "" {
		vcs, err := LoadVCenters(cfg.ConfigFile)
		if err != nil {
			return Config{}, fmt.Errorf("--config %s: %w", cfg.ConfigFile, err)
		}
		cfg.VCenters = vcs
	}
	if !set["reconnect-rate"] && !fromEnv["reconnect-rate"] && cfg.VCenterURL == "" && cfg.ConfigFile == "" {
		// Only the embedded simulator behind the gateway: the limit protects
		// no vCenter, and a newcomer trying the API hits 10/m within a minute.
		cfg.ReconnectRate = DemoReconnectRate
	}
	return cfg, envSourced(cfg.Validate(), fromEnv)
}

// DemoReconnectRate is --reconnect-rate's default when the gateway serves
// only embedded simulators (no --vcenter-url, no --config): generous enough
// for a person or a script trying the API, still a visible limit.
var DemoReconnectRate = Rate{N: 120, Per: time.Minute}

// newFlagSet registers every flag of cfg, with cfg's values as defaults.
func newFlagSet(cfg *Config) *flag.FlagSet {
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
	fs.Var((*List)(&cfg.CORSAllowedOrigins), "cors-allowed-origins", "comma-separated origins allowed to call the REST API from a browser (default none)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long a graceful shutdown may take")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: json, text, or auto (text on a terminal, else json)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", cfg.AdminAddr, "admin listen address for /metrics, /healthz, /readyz and /debug/pprof/ (empty: no admin listener)")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", cfg.HealthInterval, "how often the vCenter session is checked for gRPC health and /readyz")
	fs.StringVar(&cfg.ConfigFile, "config", "", "YAML file listing more vCenters (vcenters: [{id, url, username, passwordFile, caFile | thumbprint | insecure, autoReconnect}]); re-read when it changes and on SIGHUP")
	fs.Var(&cfg.SimulateVCenters, "simulate-vcenters", "comma-separated vCenter ids to serve, each from an embedded SMS simulator of its own (demo data)")
	fs.BoolVar(&cfg.AutoReconnect, "auto-reconnect", false, "reconnect the default vCenter's providers that the gateway sees disconnected")
	cfg.Security.addFlags(fs)
	cfg.Limits.addFlags(fs)
	cfg.Redis.addFlags(fs)
	cfg.Fleet.addFlags(fs)
	return fs
}

// applyEnv sets every flag not given on the command line (set) from its
// environment twin, if that is present, and returns the names of the flags
// it set.
func applyEnv(fs *flag.FlagSet, set map[string]bool, lookup func(string) (string, bool)) (map[string]bool, error) {
	var errs []error
	fromEnv := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v, ok := lookup(EnvName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("--%s (from %s): %v", f.Name, EnvName(f.Name), err))
		}
		fromEnv[f.Name] = true
	})
	return fromEnv, errors.Join(errs...)
}
