package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/stats"

	"github.com/vasagw/vasagw/internal/apidocs"
)

// ops is the gateway's operational plumbing, made once per run and handed
// to the servers: health and readiness, the Prometheus registry, tracing,
// the admin listener and the OpenAPI document.
type ops struct {
	log       *slog.Logger
	metrics   *metrics
	tracing   *tracing
	readiness *readiness
}

// newOps sets up metrics, tracing (from the OTEL_* variables in cfg) and
// the health state. Close it to flush the spans still buffered.
func newOps(ctx context.Context, cfg Config, log *slog.Logger) (*ops, error) {
	var stdout io.Writer = os.Stdout
	if cfg.logOutput != nil {
		stdout = cfg.logOutput
	}
	tr, err := newTracing(ctx, cfg.otelEnv, cfg.traceExporter, stdout)
	if err != nil {
		return nil, err
	}
	if tr.enabled {
		log.Info("tracing on: exporting spans as the OTEL_* variables say")
	}
	m := newMetrics()
	o := &ops{
		log:     log,
		metrics: m,
		tracing: tr,
		readiness: &readiness{
			interval: cfg.HealthInterval,
			log:      log,
			onCheck: func(ok bool) {
				v := 0.0
				if ok {
					v = 1
				}
				m.vcenterUp.WithLabelValues(defaultVCenter).Set(v)
			},
		},
	}
	return o, nil
}

// close flushes and stops tracing.
func (o *ops) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.tracing.shutdown(ctx); err != nil {
		o.log.Warn("flush the last spans", "error", err)
	}
}

// instrumentUpstream measures and traces the calls to the default vCenter.
func (o *ops) instrumentUpstream(up upstream) upstream {
	return instrumentUpstream(up, defaultVCenter, o.metrics, o.tracing.tracer())
}

// observeService exports the service's task-watch gauges and poll count.
func (o *ops) observeService(s watchStats) {
	o.metrics.observeWatches(s)
}

// grpcServerOptions returns the gRPC server's instrumentation: a span per
// call (continuing the caller's trace) when tracing is on, then the
// Prometheus interceptors. The caller's own interceptors come after these,
// so their logs carry the call's trace id.
func (o *ops) grpcServerOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if o.tracing.enabled {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(o.tracing.provider),
			otelgrpc.WithPropagators(o.tracing.propagator),
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelgrpc.WithFilter(notHealthCheck),
		)))
	}
	return append(opts, o.metrics.grpcServerOptions()...)
}

// grpcDialOptions returns the instrumentation of the REST facade's
// in-process connection: with tracing on, it carries the REST request's
// trace into the gRPC call.
func (o *ops) grpcDialOptions() []grpc.DialOption {
	if !o.tracing.enabled {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(o.tracing.provider),
		otelgrpc.WithPropagators(o.tracing.propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	))}
}

// notHealthCheck keeps health checks and reflection out of the traces.
func notHealthCheck(info *stats.RPCTagInfo) bool {
	return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.Health/") &&
		!strings.HasPrefix(info.FullMethodName, "/grpc.reflection.")
}

// restHandler wraps the REST facade: it adds /readyz and /openapi.json,
// counts and times every request by route, and, with tracing on, makes a
// span per API request (continuing the caller's trace).
func (o *ops) restHandler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", o.readiness.readyz)
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	mux.Handle("/", next)
	h := o.metrics.instrumentHTTP(mux)
	if !o.tracing.enabled {
		return h
	}
	return otelhttp.NewHandler(h, "rest",
		otelhttp.WithTracerProvider(o.tracing.provider),
		otelhttp.WithPropagators(o.tracing.propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !fixedRoutes[r.URL.Path] }),
		// Renamed "METHOD route" once routed; see instrumentHTTP.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}

// watchHealth keeps gRPC health, /readyz and vasagw_vcenter_up in step
// with the vCenter session until ctx is done.
func (o *ops) watchHealth(ctx context.Context, h *health.Server, up pinger) {
	o.readiness.watch(ctx, h, up)
}

// serveOpenAPI serves the REST API's generated OpenAPI v2 document.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(apidocs.OpenAPIv2)
}
