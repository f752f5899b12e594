package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// configMetrics count the reloads of the config file (--config).
type configMetrics struct {
	once       sync.Once
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
}

func (t *Telemetry) configMetrics() *configMetrics {
	c := &t.config
	c.once.Do(func() {
		c.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vasagw_config_reloads_total",
			Help: "Reloads of the config file (a change, or SIGHUP), by outcome: applied, or refused (the running vCenters stayed).",
		}, []string{"outcome"})
		c.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vasagw_config_last_reload_successful",
			Help: "1 when the last reload of the config file was applied (or none was tried), 0 when it was refused.",
		})
		c.lastReload.Set(1)
		// Both outcomes exist from the start, so a rate() sees the first.
		c.reloads.WithLabelValues("applied")
		c.reloads.WithLabelValues("refused")
		t.metrics.registry.MustRegister(c.reloads, c.lastReload)
	})
	return c
}

// ObserveConfigReloads exports the reload metrics from now on, before any
// reload: a gateway that reloads its config file calls it at start.
func (t *Telemetry) ObserveConfigReloads() {
	t.configMetrics()
}

// ConfigReloaded counts one reload of the config file: applied when err is
// nil, refused otherwise.
func (t *Telemetry) ConfigReloaded(err error) {
	c := t.configMetrics()
	if err != nil {
		c.reloads.WithLabelValues("refused").Inc()
		c.lastReload.Set(0)
		return
	}
	c.reloads.WithLabelValues("applied").Inc()
	c.lastReload.Set(1)
}

// ForgetVCenter drops the series of a vCenter that is no longer served, so
// that a removed vCenter does not linger as down or as a stale count.
func (t *Telemetry) ForgetVCenter(vcenterID string) {
	l := prometheus.Labels{"vcenter": vcenterID}
	m := t.metrics
	m.vcenterUp.DeletePartialMatch(l)
	m.vcenterLogins.DeletePartialMatch(l)
	m.upstreamRequests.DeletePartialMatch(l)
	m.upstreamDuration.DeletePartialMatch(l)
}
