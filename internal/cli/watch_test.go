package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// watchRun is `providers watch` running in-process until stopped.
type watchRun struct {
	out, errOut syncBuffer
	more        chan struct{}
	stop        context.CancelFunc
	done        chan int
}

func startWatch(t *testing.T, g *gateway, args ...string) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{more: make(chan struct{}, 1), stop: cancel, done: make(chan int, 1)}
	w.out.onWrite = func(string) {
		select {
		case w.more <- struct{}{}:
		default:
		}
	}
	go func() {
		w.done <- runIO(ctx, noConfig(t), &w.out, &w.errOut, append([]string{"--plaintext", "--addr", g.addr}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// expect waits until the watch has printed s.
func (w *watchRun) expect(t *testing.T, s string) {
	t.Helper()
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for !strings.Contains(w.out.String(), s) {
		select {
		case <-w.more:
		case code := <-w.done:
			w.done <- code
			if !strings.Contains(w.out.String(), s) {
				t.Fatalf("watch ended (exit %d) without %q:\n%s%s", code, s, w.out.String(), w.errOut.String())
			}
		case <-guard.C:
			t.Fatalf("no %q within %s:\n%s", s, hangGuard, w.out.String())
		}
	}
}

// TestProvidersWatchLines: without a terminal, `providers watch` prints the
// snapshot (one UPSERTED line per provider, then SNAPSHOT_COMPLETE), then
// a line per change; Ctrl-C ends it with status 0.
func TestProvidersWatchLines(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	w := startWatch(t, g, "providers", "watch")
	w.expect(t, "SNAPSHOT_COMPLETE\n")
	snapshot := w.out.String()
	for _, want := range []string{
		"UPSERTED vp-1 status=connected certificate=valid\n",
		"UPSERTED vp-2 status=disconnected certificate=valid\n",
		"UPSERTED vp-3 status=disconnected certificate=expired",
	} {
		contains(t, "snapshot", snapshot, want)
	}
	if n := strings.Count(snapshot, "UPSERTED "); n != 6 {
		t.Errorf("snapshot has %d providers, want 6:\n%s", n, snapshot)
	}
	if r := g.run(t, noConfig(t), "providers", "reconnect", "vp-2", "--wait"); r.code != 0 {
		t.Fatalf("reconnect: exit %d\n%s", r.code, r.stderr)
	}
	w.expect(t, "UPSERTED vp-2 status=connected certificate=valid\n")
	w.stop()
	if code := <-w.done; code != 0 {
		t.Errorf("interrupted watch: exit %d, want 0\n%s", code, w.errOut.String())
	}
	w.done <- 0
}

// TestProvidersWatchFormatsAndFilter: -o json is one VasaProviderEvent per
// line, -o yaml one document per event, and --filter narrows the snapshot.
func TestProvidersWatchFormatsAndFilter(t *testing.T) {
	t.Parallel()
	g := startGateway(t)

	w := startWatch(t, g, "-o", "json", "providers", "watch", "--filter", "status = STATUS_DISCONNECTED")
	w.expect(t, `"TYPE_SNAPSHOT_COMPLETE"`)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(w.out.String()), "\n") {
		var ev vasagwv1.VasaProviderEvent
		parseJSON(t, line, &ev)
		if ev.GetType() == vasagwv1.VasaProviderEvent_TYPE_UPSERTED {
			if ev.GetVasaProvider().GetStatus() != vasagwv1.VasaProvider_STATUS_DISCONNECTED {
				t.Errorf("the filter let through %v", ev.GetVasaProvider())
			}
			names = append(names, ev.GetVasaProvider().GetName())
		}
	}
	if len(names) != 4 {
		t.Errorf("filtered snapshot %v, want vp-2 to vp-5", names)
	}

	y := startWatch(t, g, "-o", "yaml", "providers", "watch")
	y.expect(t, "type: TYPE_SNAPSHOT_COMPLETE")
	// Each event is one YAML document; read them back one by one.
	dec := yaml.NewDecoder(strings.NewReader(y.out.String()))
	var docs []string
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			break
		}
		b, err := yaml.Marshal(&doc)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
		if strings.Contains(string(b), "TYPE_SNAPSHOT_COMPLETE") {
			break
		}
	}
	if len(docs) != 7 {
		t.Fatalf("%d YAML documents up to the snapshot's end, want 7:\n%s", len(docs), y.out.String())
	}
	var ev vasagwv1.VasaProviderEvent
	parseYAML(t, docs[0], &ev)
	if ev.GetType() != vasagwv1.VasaProviderEvent_TYPE_UPSERTED || ev.GetVasaProvider().GetName() != "vcenters/default/vasaProviders/vp-1" {
		t.Errorf("first YAML event %v", &ev)
	}
}

// TestProvidersListFilter: --filter narrows the list; a filter the gateway
// cannot parse is INVALID_ARGUMENT (exit 13) naming the field.
func TestProvidersListFilter(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)
	r := g.run(t, env, "-o", "json", "providers", "list", "--filter", "status = STATUS_DISCONNECTED AND certificate_status != CERTIFICATE_STATUS_VALID")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var resp vasagwv1.ListVasaProvidersResponse
	parseJSON(t, r.stdout, &resp)
	if len(resp.GetVasaProviders()) != 1 || resp.GetVasaProviders()[0].GetName() != "vcenters/default/vasaProviders/vp-3" {
		t.Errorf("filtered list %v, want vp-3 alone", resp.GetVasaProviders())
	}
	r = g.run(t, env, "providers", "list", "--filter", `display_name = "array-b"`)
	if r.code != 0 || strings.Count(strings.TrimSpace(r.stdout), "\n") != 1 || !strings.Contains(r.stdout, "vp-2") {
		t.Errorf("filter on display_name: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = g.run(t, env, "providers", "list", "--filter", "colour = blue")
	if r.code != 13 {
		t.Errorf("bad filter: exit %d, want 13\n%s", r.code, r.stderr)
	}
	contains(t, "stderr", r.stderr, "INVALID_REQUEST (INVALID_ARGUMENT)", "field filter")
}
