// Package telemetry owns what the gateway tells its operators: the
// Prometheus metrics (one registry per run, served on the admin listener),
// OpenTelemetry tracing configured from the standard OTEL_* variables, the
// structured logs with a request id on every line of a call, and the
// measurement of every call to vCenter ([Telemetry.InstrumentUpstream]).
// The server wires these in; the REST side labels its routes with
// [SetRoute] and [RouteMiddleware].
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// Options configure [New].
type Options struct {
	// Env holds the OTEL_* variables that switch tracing on
	// (config.Config.OTelEnv).
	Env map[string]string
	// Exporter, when not nil, receives the spans in place of the exporter
	// Env names, and turns tracing on (tests).
	Exporter sdktrace.SpanExporter
	// Stdout is where OTEL_TRACES_EXPORTER=console writes; nil is
	// os.Stdout.
	Stdout io.Writer
}

// Telemetry is the gateway's metrics and tracing, made once per run and
// handed to the servers.
type Telemetry struct {
	log     *slog.Logger
	metrics *metrics
	tracing *tracing
	config  configMetrics // the config file's reloads (vcenters.go)
}

// New sets up metrics and tracing. Close it to flush the spans still
// buffered.
func New(ctx context.Context, log *slog.Logger, opts Options) (*Telemetry, error) {
	stdout := opts.Stdout
	if stdout == nil {
		stdout = os.Stdout
	}
	tr, err := newTracing(ctx, opts.Env, opts.Exporter, stdout)
	if err != nil {
		return nil, err
	}
	if tr.enabled {
		log.Info("tracing on: exporting spans as the OTEL_* variables say")
	}
	return &Telemetry{log: log, metrics: newMetrics(), tracing: tr}, nil
}

// Close flushes and stops tracing.
func (t *Telemetry) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.tracing.shutdown(ctx); err != nil {
		t.log.Warn("flush the last spans", "error", err)
	}
}

// InstrumentUpstream measures and traces the calls to the vCenter with the
// given id.
func (t *Telemetry) InstrumentUpstream(up Upstream, vcenterID string) Upstream {
	return instrumentUpstream(up, vcenterID, t.metrics, t.tracing.tracer())
}

// ObserveWatches exports the task-watch gauges and the poll count of s
// (the service), read at each scrape.
func (t *Telemetry) ObserveWatches(s WatchStats) {
	t.metrics.observeWatches(s)
}

// ObserveKeyFileFailures exports vasagw_jwks_file_failures_total, read
// from f (the token verifier's KeyFileFailures) at each scrape: the changes
// of the JWKS file that could not be used and kept the previous keys.
func (t *Telemetry) ObserveKeyFileFailures(f func() int64) {
	t.metrics.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vasagw_jwks_file_failures_total",
		Help: "Changes of the --jwks-file that could not be read or parsed; each kept the previous keys in use.",
	}, func() float64 { return float64(f()) }))
}

// OnLogin returns the function that counts a login of the session to the
// vCenter with the given id (vcenter.SessionConfig.OnLogin).
func (t *Telemetry) OnLogin(vcenterID string) func(error) {
	return t.metrics.onLogin(vcenterID)
}

// SetVCenterUp sets vasagw_vcenter_up for the vCenter with the given id
// after a health check.
func (t *Telemetry) SetVCenterUp(vcenterID string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	t.metrics.vcenterUp.WithLabelValues(vcenterID).Set(v)
}

// MetricsHandler serves the registry, for the admin listener's /metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return t.metrics.handler()
}

// GRPCServerInterceptors are the gRPC server's instrumentation, outermost
// first: the Prometheus interceptors, then the request id and its
// logging. The server's own interceptors go after these, so their logs
// carry the call's request and trace ids. The network server and the REST
// side's in-process channel both run them.
func (t *Telemetry) GRPCServerInterceptors() ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	return []grpc.UnaryServerInterceptor{t.metrics.grpcUnary(), requestIDUnary(t.log)},
		[]grpc.StreamServerInterceptor{t.metrics.grpcStream(), requestIDStream(t.log)}
}

// GRPCServerStatsHandler makes a server span per gRPC call, continuing the
// caller's trace; nil when tracing is off. It goes with
// [Telemetry.GRPCServerInterceptors].
func (t *Telemetry) GRPCServerStatsHandler() stats.Handler {
	if !t.tracing.enabled {
		return nil
	}
	return otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.tracing.provider),
		otelgrpc.WithPropagators(t.tracing.propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(notHealthCheck),
	)
}

// GRPCClientStatsHandler is the instrumentation of the REST side's
// in-process connection: with tracing on, it carries the REST request's
// trace into the gRPC call; nil when tracing is off.
func (t *Telemetry) GRPCClientStatsHandler() stats.Handler {
	if !t.tracing.enabled {
		return nil
	}
	return otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.tracing.provider),
		otelgrpc.WithPropagators(t.tracing.propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}

// notHealthCheck keeps health checks and reflection out of the traces.
func notHealthCheck(info *stats.RPCTagInfo) bool {
	return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.Health/") &&
		!strings.HasPrefix(info.FullMethodName, "/grpc.reflection.")
}

// HTTPHandler wraps everything the REST listener serves: it counts and
// times every request by route, and, with tracing on, makes a span per
// API request (continuing the caller's trace).
func (t *Telemetry) HTTPHandler(next http.Handler) http.Handler {
	h := t.metrics.instrumentHTTP(next)
	if !t.tracing.enabled {
		return h
	}
	return otelhttp.NewHandler(h, "rest",
		otelhttp.WithTracerProvider(t.tracing.provider),
		otelhttp.WithPropagators(t.tracing.propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !fixedRoutes[r.URL.Path] }),
		// Renamed "METHOD route" once routed; see instrumentHTTP.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}

// ObserveRedis exports vasagw_redis_up, read from up at each scrape: 1
// while the Redis the replicas share (--redis-url) is reachable, else 0.
func (t *Telemetry) ObserveRedis(up func() bool) {
	t.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vasagw_redis_up",
		Help: "1 while the Redis the replicas share (--redis-url) answered its last check, else 0 (the gateway serves from local state).",
	}, func() float64 {
		if up() {
			return 1
		}
		return 0
	}))
}
