package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkInstrumentHTTP is the REST metrics wrapper's own cost per
// request, around a handler that sets its route and writes a small body
// (docs/benchmarks.md, issue 21).
func BenchmarkInstrumentHTTP(b *testing.B) {
	m := newMetrics()
	h := m.instrumentHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), "/v1/{name=vcenters/*/vasaProviders/*}")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"vcenters/default/vasaProviders/vp-1"}`)
	}))
	req := httptest.NewRequest(http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(discardWriter{header: http.Header{}}, req)
	}
}

// discardWriter is a ResponseWriter that keeps nothing (httptest's
// recorder would be most of what is measured).
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
