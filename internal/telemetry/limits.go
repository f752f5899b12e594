package telemetry

import "github.com/prometheus/client_golang/prometheus"

// LimitStat is the state of one of the gateway's limits, for the metrics.
type LimitStat struct {
	// Limit names it: public_streams, caller_streams, grpc_connections...
	Limit string
	// InUse is how much of it is taken now.
	InUse int64
	// Max is its size; 0 when it is switched off.
	Max int64
	// Refused counts what it has refused since the start.
	Refused int64
}

// ObserveLimits exports vasagw_limit_in_use, vasagw_limit_max and
// vasagw_limit_refusals_total, labelled by limit, read from f at each
// scrape.
func (t *Telemetry) ObserveLimits(f func() []LimitStat) {
	t.metrics.registry.MustRegister(limitCollector(f))
}

var (
	limitInUseDesc = prometheus.NewDesc("vasagw_limit_in_use",
		"How much of a limit is taken now (open streams, served connections; for grpc_connection_streams, the streams of the busiest connection).", []string{"limit"}, nil)
	limitMaxDesc = prometheus.NewDesc("vasagw_limit_max",
		"The size of a limit as configured; 0 when it is switched off.", []string{"limit"}, nil)
	limitRefusalsDesc = prometheus.NewDesc("vasagw_limit_refusals_total",
		"What a limit refused: streams and connections answered RESOURCE_EXHAUSTED / 429 (for grpc_connection_streams, the times a connection reached the limit, past which HTTP/2 holds back new streams).", []string{"limit"}, nil)
)

// limitCollector reads the limits at each scrape.
type limitCollector func() []LimitStat

func (limitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- limitInUseDesc
	ch <- limitMaxDesc
	ch <- limitRefusalsDesc
}

func (f limitCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range f() {
		ch <- prometheus.MustNewConstMetric(limitInUseDesc, prometheus.GaugeValue, float64(s.InUse), s.Limit)
		ch <- prometheus.MustNewConstMetric(limitMaxDesc, prometheus.GaugeValue, float64(s.Max), s.Limit)
		ch <- prometheus.MustNewConstMetric(limitRefusalsDesc, prometheus.CounterValue, float64(s.Refused), s.Limit)
	}
}
