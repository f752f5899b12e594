package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracing is the gateway's tracer provider and propagator. When tracing is
// off, enabled is false and nothing is instrumented: no span is made and no
// OpenTelemetry code sits on the request path.
type tracing struct {
	enabled    bool
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// tracerName names the tracer of the spans the gateway makes itself.
const tracerName = "github.com/vasagw/vasagw"

// newTracing configures tracing from the standard variables:
//
//   - OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: off;
//   - OTEL_TRACES_EXPORTER=otlp, or unset with OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set: OTLP, over http/protobuf (the
//     specification's default) or grpc per OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL;
//   - OTEL_TRACES_EXPORTER=console: spans as JSON on stdout, for debugging;
//   - nothing set: off.
//
// The service name defaults to vasagw (OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override it); the sampler follows
// OTEL_TRACES_SAMPLER (default: parent-based, always on). Context travels in
// W3C traceparent and baggage headers. exporter, when not nil (tests), takes
// the place of the configured one.
func newTracing(ctx context.Context, env map[string]string, exporter sdktrace.SpanExporter, stdout io.Writer) (*tracing, error) {
	off := &tracing{
		provider:   noop.NewTracerProvider(),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   func(context.Context) error { return nil },
	}
	if exporter == nil {
		if strings.EqualFold(env["OTEL_SDK_DISABLED"], "true") {
			return off, nil
		}
		kind := strings.ToLower(env["OTEL_TRACES_EXPORTER"])
		if kind == "" && (env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "" || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != "") {
			kind = "otlp"
		}
		var err error
		switch kind {
		case "", "none":
			return off, nil
		case "otlp":
			exporter, err = otlpExporter(ctx, env)
		case "console":
			exporter, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
		default:
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: vasagw supports otlp, console and none", kind)
		}
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "vasagw")),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &tracing{
		enabled:    true,
		provider:   tp,
		propagator: off.propagator,
		shutdown:   tp.Shutdown,
	}, nil
}

// otlpExporter returns the OTLP span exporter for the configured protocol.
// The exporters read the endpoint, headers, TLS and timeout variables.
func otlpExporter(ctx context.Context, env map[string]string) (sdktrace.SpanExporter, error) {
	protocol := env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]
	if protocol == "" {
		protocol = env["OTEL_EXPORTER_OTLP_PROTOCOL"]
	}
	switch protocol {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: vasagw supports http/protobuf and grpc", protocol)
	}
}

// tracer returns the tracer for the gateway's own spans.
func (t *tracing) tracer() trace.Tracer {
	return t.provider.Tracer(tracerName)
}
