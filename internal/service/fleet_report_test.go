package service

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// TestFleetReadAmplificationReport measures what reads cost vCenter and
// callers with the fleet snapshot, side by side with the upstream floor
// (the same SOAP calls made directly on the session) in one run, and
// prints a Markdown table for docs/benchmarks.md. It asserts no timing and
// skips unless VASAGW_FLEET_REPORT=1:
//
//	VASAGW_FLEET_REPORT=1 go test -count=1 -run TestFleetReadAmplificationReport -v ./internal/service/
func TestFleetReadAmplificationReport(t *testing.T) {
	if os.Getenv("VASAGW_FLEET_REPORT") != "1" {
		t.Skip("set VASAGW_FLEET_REPORT=1 to measure (docs/benchmarks.md)")
	}
	f := newFleetFixture(t, fleetConfig{providers: manyProviders(1000), interval: time.Hour, maxAge: time.Minute})
	ctx := fleetCtx(t)
	sim := f.sim.Sim
	up, _ := f.fleet(t).upstream()

	type row struct {
		load, variant     string
		qp, qpi           int
		p50, p99, elapsed time.Duration
	}
	var rows []row
	measure := func(load, variant string, n int, call func() error) {
		t.Helper()
		qp, qpi := sim.Calls("QueryProvider"), sim.Calls("QueryProviderInfo")
		lat := make([]time.Duration, n)
		start := time.Now()
		var g errgroup.Group
		for i := range n {
			g.Go(func() error {
				t0 := time.Now()
				err := call()
				lat[i] = time.Since(t0)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		slices.Sort(lat)
		rows = append(rows, row{load, variant, sim.Calls("QueryProvider") - qp, sim.Calls("QueryProviderInfo") - qpi,
			lat[len(lat)/2], lat[len(lat)*99/100], elapsed})
	}
	get := func() error {
		_, err := f.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-0001"})
		return err
	}
	list := func() error {
		resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 1000})
		if err == nil && len(resp.GetVasaProviders()) != 1000 {
			err = fmt.Errorf("listed %d", len(resp.GetVasaProviders()))
		}
		return err
	}
	// The issue's own load: lists of the default page size, 50.
	list50 := func() error {
		resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default"})
		if err == nil && len(resp.GetVasaProviders()) != 50 {
			err = fmt.Errorf("listed %d", len(resp.GetVasaProviders()))
		}
		return err
	}
	walk := func() error {
		token := ""
		for {
			resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 50, PageToken: token})
			if err != nil {
				return err
			}
			if token = resp.GetNextPageToken(); token == "" {
				return nil
			}
		}
	}
	// The floor: what a refresh, or one Get, costs on the session itself.
	floorGet := func() error { _, err := up.Provider(ctx, "vp-0001"); return err }
	floorRefresh := func() error {
		ids, err := up.Providers(ctx)
		if err != nil {
			return err
		}
		var g errgroup.Group
		g.SetLimit(providerFetches)
		for _, id := range ids {
			g.Go(func() error { _, err := up.Provider(ctx, id); return err })
		}
		return g.Wait()
	}
	floorList := func() error { _, err := up.Providers(ctx); return err }

	measure("200 concurrent identical GetVasaProvider", "floor: 200 QueryProviderInfo", 200, floorGet)
	measure("200 concurrent identical GetVasaProvider", "gateway, snapshot fresh", 200, get)
	f.clock.Advance(2 * time.Minute)
	measure("200 concurrent identical GetVasaProvider", "gateway, entry stale", 200, get)

	measure("100 concurrent lists, 1,000 providers, page_size 1000", "floor: one refresh (1 + 1,000 calls, 8 at a time)", 1, floorRefresh)
	if err := f.fleet(t).refresh(ctx); err != nil { // what the loop does
		t.Fatal(err)
	}
	measure("100 concurrent lists, 1,000 providers, page_size 1000", "gateway, snapshot fresh", 100, list)
	f.clock.Advance(2 * time.Minute)
	measure("100 concurrent lists, 1,000 providers, page_size 1000", "gateway, snapshot stale", 100, list)

	measure("one list of 1,000 providers, page_size 1000", "gateway, snapshot fresh", 1, list)
	measure("100 concurrent lists, 1,000 providers, page 50 (the issue's load)", "gateway, snapshot fresh", 100, list50)
	measure("walking 1,000 providers page by page (50)", "floor: one QueryProvider", 1, floorList)
	measure("walking 1,000 providers page by page (50)", "gateway, snapshot fresh", 1, walk)

	var b strings.Builder
	b.WriteString("| load | variant | QueryProvider | QueryProviderInfo | p50 | p99 | wall |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %s |\n", r.load, r.variant, r.qp, r.qpi,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.elapsed.Round(100*time.Microsecond))
	}
	resp, err := f.providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: "vcenters/default", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "\none page of 1,000 providers: %d bytes of protobuf\n", proto.Size(resp))
	t.Log("\n" + b.String())
}
