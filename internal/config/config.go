// Package config owns the gateway's configuration: the [Config] type with
// its defaults, the command-line flags and their VASAGW_* environment twins
// ([Load]), and the validation whose errors name the flag at fault. It
// reads values only; the packages that act on them (internal/server and
// below) never see a flag.
package config

import "time"

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

	// ConfigFile (--config) lists more vCenters; VCenters is what it held
	// when Load read it (the server re-reads it when it changes).
	ConfigFile string
	VCenters   []VCenter
	// SimulateVCenters (--simulate-vcenters) serves an embedded simulator
	// under each of these ids.
	SimulateVCenters List
	// AutoReconnect (--auto-reconnect) is the `default` vCenter's
	// autoReconnect.
	AutoReconnect bool

	// Security holds TLS, caller authentication and per-caller limits
	// (security.go).
	Security
	// Limits bound streams, connections and idle time (limits.go).
	Limits

	// Redis holds the state the replicas share (redis.go).
	Redis

	// Fleet holds the provider refresh loop's settings (fleet.go).
	Fleet

	// OTelEnv holds the OTEL_* variables that decide whether and where spans
	// are exported (see [OTelEnvNames]), captured through Load's lookup.
	OTelEnv map[string]string
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		GRPCAddr:         ":9090",
		HTTPAddr:         ":8080",
		AdminAddr:        ":9091",
		HealthInterval:   10 * time.Second,
		TaskPollInterval: time.Second,
		ShutdownTimeout:  10 * time.Second,
		LogFormat:        "auto",
		LogLevel:         "info",
		Limits:           DefaultLimits(),
	}
}
