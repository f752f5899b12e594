package telemetry

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vasagw/vasagw/internal/service"
)

// Fleet is what the metrics read of the service's provider refresh loops.
// *service.Service satisfies it.
type Fleet interface {
	FleetProviders() []service.FleetProvider
	FleetStats() []service.FleetStats
}

// ObserveFleet exports, at each scrape, every provider as the refresh loop
// of its vCenter last saw it, and the loops themselves. It reads the
// snapshot only: a scrape never calls vCenter.
func (t *Telemetry) ObserveFleet(f Fleet) {
	t.metrics.registry.MustRegister(newFleetCollector(f))
}

// fleetCollector renders the fleet snapshot as metrics.
type fleetCollector struct {
	f                                             Fleet
	up, expiry, age, refreshes, watchers, reconns *prometheus.Desc
}

func newFleetCollector(f Fleet) *fleetCollector {
	return &fleetCollector{
		f: f,
		up: prometheus.NewDesc("vasagw_vasa_provider_up",
			"1 when the VASA provider is connected or online as vCenter last reported it, else 0; status is vCenter's status value.",
			[]string{"vcenter", "provider", "status"}, nil),
		expiry: prometheus.NewDesc("vasagw_vasa_provider_certificate_expiry_timestamp_seconds",
			"When the VASA provider's certificate expires (Unix time), as vCenter reports it.",
			[]string{"vcenter", "provider"}, nil),
		age: prometheus.NewDesc("vasagw_vasa_provider_snapshot_age_seconds",
			"How long ago the last successful refresh of the vCenter's providers began.",
			[]string{"vcenter"}, nil),
		refreshes: prometheus.NewDesc("vasagw_vasa_provider_refreshes_total",
			"Full refreshes of the vCenter's providers (one QueryProvider and one QueryProviderInfo per provider each).",
			[]string{"vcenter"}, nil),
		watchers: prometheus.NewDesc("vasagw_vasa_provider_watchers",
			"Open WatchVasaProviders streams on the vCenter (gRPC and REST).",
			[]string{"vcenter"}, nil),
		reconns: prometheus.NewDesc("vasagw_vasa_provider_auto_reconnects_total",
			"Automatic reconnects that ended, by outcome: succeeded, failed, recovery_needed (InvalidCertificate: not retried) or unsupported (below VASA 2.0).",
			[]string{"vcenter", "outcome"}, nil),
	}
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.expiry, c.age, c.refreshes, c.watchers, c.reconns} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.f.FleetProviders() {
		up := 0.0
		if p.Status == "connected" || p.Status == "online" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, p.VCenter, p.Provider, p.Status)
		if !p.CertificateExpiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue,
				float64(p.CertificateExpiry.UnixNano())/1e9, p.VCenter, p.Provider)
		}
	}
	for _, s := range c.f.FleetStats() {
		if s.Age >= 0 {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, s.Age.Seconds(), s.VCenter)
		}
		ch <- prometheus.MustNewConstMetric(c.refreshes, prometheus.CounterValue, float64(s.Refreshes), s.VCenter)
		ch <- prometheus.MustNewConstMetric(c.watchers, prometheus.GaugeValue, float64(s.Watchers), s.VCenter)
		for _, outcome := range slices.Sorted(maps.Keys(s.AutoReconnects)) {
			ch <- prometheus.MustNewConstMetric(c.reconns, prometheus.CounterValue, float64(s.AutoReconnects[outcome]), s.VCenter, outcome)
		}
	}
}
