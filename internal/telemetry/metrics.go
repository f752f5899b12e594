package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// latencyBuckets are the histogram buckets, in seconds, of the REST and
// upstream latencies: vCenter calls take from milliseconds to the request
// timeout.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// metrics holds the gateway's Prometheus collectors, all registered in one
// registry made per run (no global registry), and served on the admin
// listener.
type metrics struct {
	registry *prometheus.Registry

	grpc             *grpcprom.ServerMetrics
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	httpInFlight     prometheus.Gauge
	upstreamRequests *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	vcenterUp        *prometheus.GaugeVec
	vcenterLogins    *prometheus.CounterVec
}

// newMetrics returns the collectors, registered with the Go runtime and
// process collectors in a new registry.
func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(
			grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)),
		),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vasagw_http_requests_total",
			Help: "REST requests served, by HTTP method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vasagw_http_request_duration_seconds",
			Help:    "Time to serve a REST request, by HTTP method and route pattern (a task watch lasts as long as the task).",
			Buckets: latencyBuckets,
		}, []string{"method", "route"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vasagw_http_requests_in_flight",
			Help: "REST requests being served, open task watches included.",
		}),
		upstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vasagw_upstream_requests_total",
			Help: "Calls to vCenter's SMS by session operation and outcome (ok, the vSphere fault type, unreachable, ...).",
		}, []string{"vcenter", "method", "outcome"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vasagw_upstream_request_duration_seconds",
			Help:    "Time of a call to vCenter's SMS by session operation, retries and re-login included.",
			Buckets: latencyBuckets,
		}, []string{"vcenter", "method"}),
		vcenterUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vasagw_vcenter_up",
			Help: "1 when the last health check of the vCenter session succeeded, else 0.",
		}, []string{"vcenter"}),
		vcenterLogins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vasagw_vcenter_logins_total",
			Help: "vCenter logins of the shared session (the first and every re-login), by outcome: ok or failed.",
		}, []string{"vcenter", "outcome"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc, m.httpRequests, m.httpDuration, m.httpInFlight,
		m.upstreamRequests, m.upstreamDuration, m.vcenterUp, m.vcenterLogins,
	)
	return m
}

// WatchStats is what the metrics read of the service's task-watch hub.
type WatchStats interface {
	WatchStats() (pollers, subscribers int)
	Polls() int64
}

// observeWatches registers the task-watch gauges and the poll counter,
// read from s at each scrape.
func (m *metrics) observeWatches(s WatchStats) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vasagw_task_watch_pollers",
			Help: "Tasks being polled upstream (one poller per task, shared by its watchers).",
		}, func() float64 { p, _ := s.WatchStats(); return float64(p) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vasagw_task_watch_subscribers",
			Help: "Open task watches (gRPC and REST).",
		}, func() float64 { _, n := s.WatchStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vasagw_task_polls_total",
			Help: "Task polls sent upstream by the watch pollers.",
		}, func() float64 { return float64(s.Polls()) }),
	)
}

// grpcUnary counts and times every unary gRPC call by service, method and
// code.
func (m *metrics) grpcUnary() grpc.UnaryServerInterceptor {
	return m.grpc.UnaryServerInterceptor(grpcprom.WithExemplarFromContext(traceExemplar))
}

// grpcStream counts and times every gRPC stream by service, method and
// code.
func (m *metrics) grpcStream() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor(grpcprom.WithExemplarFromContext(traceExemplar))
}

// handler serves the registry in the Prometheus text format, or in
// OpenMetrics (with trace id exemplars) when the scraper asks for it.
func (m *metrics) handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.registry, promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		Registry:          m.registry,
	}))
}

// traceExemplar labels an observation with the trace id of a sampled span.
func traceExemplar(ctx context.Context) prometheus.Labels {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		return prometheus.Labels{"trace_id": sc.TraceID().String()}
	}
	return nil
}

// routeKey is the context key of the *httpRoute of a REST request.
type routeKey struct{}

// httpRoute is the route pattern of a REST request, filled in while the
// request is routed and read after it is served, so that the metrics are
// labelled by pattern (bounded) and never by the raw path.
type httpRoute struct{ pattern string }

// routeUnmatched labels a REST request that no route matched.
const routeUnmatched = "unmatched"

// fixedRoutes are the REST listener's own endpoints, labelled by path and
// kept out of the traces.
var fixedRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/openapi.json": true}

// SetRoute records the route pattern of the REST request whose context is
// ctx, for the handlers that grpc-gateway does not route (the SSE watch, a
// sibling facade). Outside [Telemetry.HTTPHandler] it does nothing.
func SetRoute(ctx context.Context, pattern string) {
	if rt, ok := ctx.Value(routeKey{}).(*httpRoute); ok {
		rt.pattern = pattern
	}
}

// RouteMiddleware is a grpc-gateway middleware that records the pattern
// the mux matched, e.g. /v1/{name=vcenters/*/vasaProviders/*}:reconnect.
func RouteMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if pat, ok := runtime.HTTPPattern(r.Context()); ok {
			SetRoute(r.Context(), pat.String())
		}
		next(w, r, params)
	}
}

// instrumentHTTP counts and times REST requests by method, route pattern
// and code, and names the request's span after its route. It is one
// wrapper that reads the clock once and records both series with their
// label values, where promhttp's three wrappers (in flight, counter,
// duration) cost three response delegators and two label maps a request
// (BenchmarkInstrumentHTTP; docs/benchmarks.md, issue 21). The series are
// the same: method lowercased as promhttp does ("unknown" for others),
// code 200 when the handler sets none.
func (m *metrics) instrumentHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := &httpRoute{pattern: routeUnmatched}
		if fixedRoutes[r.URL.Path] {
			rt.pattern = r.URL.Path
		}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, rt))
		sw := &statusWriter{ResponseWriter: w}
		m.httpInFlight.Inc()
		start := time.Now()
		defer func() {
			elapsed := time.Since(start).Seconds()
			m.httpInFlight.Dec()
			method := httpMethodLabel(r.Method)
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			ex := traceExemplar(r.Context())
			counter := m.httpRequests.WithLabelValues(method, rt.pattern, strconv.Itoa(code))
			hist := m.httpDuration.WithLabelValues(method, rt.pattern)
			if ex != nil {
				counter.(prometheus.ExemplarAdder).AddWithExemplar(1, ex)
				hist.(prometheus.ExemplarObserver).ObserveWithExemplar(elapsed, ex)
			} else {
				counter.Inc()
				hist.Observe(elapsed)
			}
		}()
		next.ServeHTTP(sw, r)
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetName(r.Method + " " + rt.pattern)
			span.SetAttributes(attribute.String("http.route", rt.pattern))
		}
	})
}

// httpMethodLabel is the method label promhttp would give.
func httpMethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPut, http.MethodHead, http.MethodPost, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, "NOTIFY", http.MethodTrace, http.MethodPatch:
		return strings.ToLower(m)
	}
	return "unknown"
}

// statusWriter remembers the status a handler writes. It flushes (the
// task watches need it; grpc-gateway asserts http.Flusher) and unwraps
// for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// onLogin counts a login of the vCenter session vcenterID.
func (m *metrics) onLogin(vcenterID string) func(error) {
	return func(err error) {
		outcome := "ok"
		if err != nil {
			outcome = "failed"
		}
		m.vcenterLogins.WithLabelValues(vcenterID, outcome).Inc()
	}
}
