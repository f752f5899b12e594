package config

import "strings"

// OTelEnvNames are the standard OpenTelemetry variables that decide whether
// and where spans are exported; [Load] captures them in [Config.OTelEnv].
// The exporters read the rest of the OTEL_* variables (headers, TLS,
// timeouts, sampler, resource) themselves.
var OTelEnvNames = []string{
	"OTEL_SDK_DISABLED",
	"OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
}

// otelEnv captures the variables of [OTelEnvNames] through the loader's
// lookup, so that tests choose them without touching the process
// environment.
func otelEnv(lookup func(string) (string, bool)) map[string]string {
	env := make(map[string]string)
	for _, name := range OTelEnvNames {
		if v, ok := lookup(name); ok {
			env[name] = strings.TrimSpace(v)
		}
	}
	return env
}
