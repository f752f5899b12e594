//go:build unix

package server

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
)

// browserTestsEnv set to "required" makes the browser tests fail, instead of
// skip, when Chromium is missing; CI sets it after installing Chromium.
const browserTestsEnv = "VASAGW_BROWSER_TESTS"

// browserPage is the portal a browser loads: it watches a task with
// EventSource across origins (the page server is not the gateway), records
// every `task` event and POSTs what it saw to the page server's /report.
// It POSTs /opened on the first event, so that the test can let the task
// run only once the browser is subscribed.
var browserPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>vasagw watch</title></head>
<body><pre id="log"></pre>
<script>
const watchURL = {{.WatchURL}};
const events = [];
const errors = [];
let reported = false;
function report() {
  if (reported) return;
  reported = true;
  fetch('/report', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({userAgent: navigator.userAgent, events: events, errors: errors})});
}
const es = new EventSource(watchURL);
es.addEventListener('task', (e) => {
  const t = JSON.parse(e.data);
  events.push({name: t.name, state: t.state, progressPercent: t.progressPercent, lastEventId: e.lastEventId});
  document.getElementById('log').textContent += e.lastEventId + ' ' + t.state + ' ' + (t.progressPercent ?? '') + '\n';
  if (events.length === 1) fetch('/opened', {method: 'POST'});
  if (t.state === 'STATE_SUCCEEDED' || t.state === 'STATE_FAILED') {
    es.close();
    report();
  }
});
// Both a connection failure (a refused CORS check included) and the
// gateway's own 'event: error' arrive here; either ends the recording.
es.addEventListener('error', (e) => {
  errors.push({data: e.data ?? null, readyState: es.readyState});
  es.close();
  report();
});
</script></body></html>
`))

// browserEvent is one `task` event as the page recorded it.
type browserEvent struct {
	Name            string `json:"name"`
	State           string `json:"state"`
	ProgressPercent *int   `json:"progressPercent"`
	LastEventID     string `json:"lastEventId"`
}

// browserReport is what the page POSTs to /report.
type browserReport struct {
	UserAgent string         `json:"userAgent"`
	Events    []browserEvent `json:"events"`
	Errors    []struct {
		Data       *string `json:"data"`
		ReadyState int     `json:"readyState"`
	} `json:"errors"`
}

// pageServer serves browserPage and collects the page's signals. It
// starts before the gateway, whose --cors-allowed-origins names the page's
// origin, so the watch URL is set once the gateway listens.
type pageServer struct {
	*httptest.Server
	watchURL atomic.Pointer[string]
	opened   chan struct{}
	report   chan browserReport
}

func startPageServer(t *testing.T) *pageServer {
	t.Helper()
	p := &pageServer{opened: make(chan struct{}, 1), report: make(chan browserReport, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		u := p.watchURL.Load()
		if u == nil {
			http.Error(w, "no watch URL yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := browserPage.Execute(w, struct{ WatchURL string }{*u}); err != nil {
			t.Errorf("render the page: %v", err)
		}
	})
	mux.HandleFunc("POST /opened", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case p.opened <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep browserReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("the page's report: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case p.report <- rep:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /favicon.ico", http.NotFound)
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// chromiumPath finds Debian's chromium, skipping the test when it is absent
// unless browserTestsEnv requires it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserTestsEnv) == "required" {
		t.Fatalf("chromium is not installed and %s=required", browserTestsEnv)
	}
	t.Skipf("chromium is not installed (apt-get install chromium); set %s=required to fail instead", browserTestsEnv)
	return ""
}

// startChromium opens url in headless Chromium until the test ends. The
// browser runs in its own process group, which is killed as a whole, so
// that no renderer or zygote outlives the test.
func startChromium(t *testing.T, url string) {
	t.Helper()
	bin := chromiumPath(t)
	profile := t.TempDir() // removed after the browser is gone (cleanups run last first)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-default-browser-check", "--mute-audio",
		"--user-data-dir="+profile, url)
	var out syncBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		// Children that left the leader's death behind are still in the group.
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill chromium's process group: %v", err)
		}
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
}

// taskWatchURL is the REST watch URL of a task, its moId's `:` escaped as
// the API asks.
func taskWatchURL(base, name string) string {
	i := strings.LastIndex(name, "/") + 1
	return base + "/v1/" + name[:i] + strings.ReplaceAll(name[i:], ":", "%3A") + ":watch"
}

func TestBrowserEventSourceWatch(t *testing.T) {
	t.Parallel()
	chromiumPath(t)

	t.Run("allowed origin", func(t *testing.T) {
		t.Parallel()
		page := startPageServer(t)
		g := startGateway(t, "--cors-allowed-origins="+page.URL)
		g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-browser", Info: disconnectedInfo("vp-browser"), ReconnectDuration: time.Hour})
		ctx := testContext(t)
		task, err := g.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-browser"})
		if err != nil {
			t.Fatal(err)
		}
		page.watchURL.Store(new(taskWatchURL(g.base, task.GetName())))

		startChromium(t, page.URL+"/")
		deadline := time.After(90 * time.Second)
		select {
		case <-page.opened:
		case rep := <-page.report:
			t.Fatalf("the page reported before its first event: %+v", rep)
		case <-deadline:
			t.Fatal("the browser did not subscribe within 90 s")
		}
		// The hour-long task now runs its course in about 1.5 s, while the
		// browser watches, polled every 100 ms.
		g.sim.Sim.SetSpeed(2400)
		var rep browserReport
		select {
		case rep = <-page.report:
		case <-deadline:
			t.Fatal("the browser did not report within 90 s")
		}
		t.Logf("%s saw %d events", rep.UserAgent, len(rep.Events))
		if len(rep.Errors) > 0 {
			t.Errorf("EventSource errors: %+v", rep.Errors)
		}
		checkBrowserEvents(t, task.GetName(), rep.Events)
	})

	t.Run("origin not allowed", func(t *testing.T) {
		t.Parallel()
		page := startPageServer(t)
		g := startGateway(t, "--cors-allowed-origins=http://portal.example")
		task, err := g.providers.ReconnectProvider(testContext(t), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/vp-1"})
		if err != nil {
			t.Fatal(err)
		}
		page.watchURL.Store(new(taskWatchURL(g.base, task.GetName())))
		startChromium(t, page.URL+"/")
		var rep browserReport
		select {
		case rep = <-page.report:
		case <-time.After(90 * time.Second):
			t.Fatal("the browser did not report within 90 s")
		}
		// The browser refuses the cross-origin stream: no event reaches the
		// page and EventSource gives up (CLOSED, 2) instead of reconnecting.
		if len(rep.Events) != 0 {
			t.Errorf("events crossed a refused origin: %+v", rep.Events)
		}
		if len(rep.Errors) != 1 || rep.Errors[0].ReadyState != 2 {
			t.Errorf("errors %+v, want one with readyState CLOSED", rep.Errors)
		}
	})
}

// checkBrowserEvents checks what the browser saw: ids that increase, states
// that never go back, progress that never goes back, a single terminal event
// STATE_SUCCEEDED at the end, and the running task in between.
func checkBrowserEvents(t *testing.T, name string, events []browserEvent) {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	order := map[string]int{"STATE_QUEUED": 1, "STATE_RUNNING": 2, "STATE_SUCCEEDED": 3, "STATE_FAILED": 3}
	lastID, lastState, lastProgress := uint64(0), 0, -1
	sawRunning := false
	for i, e := range events {
		if e.Name != name {
			t.Errorf("event %d is about %q, want %q", i, e.Name, name)
		}
		id, err := strconv.ParseUint(e.LastEventID, 10, 64)
		if err != nil || id <= lastID {
			t.Errorf("event %d: id %q after %d", i, e.LastEventID, lastID)
		}
		lastID = id
		s, ok := order[e.State]
		if !ok {
			t.Errorf("event %d: unknown state %q", i, e.State)
		}
		if s < lastState {
			t.Errorf("event %d: state %s went back", i, e.State)
		}
		lastState = s
		if e.State == "STATE_RUNNING" {
			sawRunning = true
			if e.ProgressPercent != nil {
				if *e.ProgressPercent < lastProgress {
					t.Errorf("event %d: progress %d after %d", i, *e.ProgressPercent, lastProgress)
				}
				lastProgress = *e.ProgressPercent
			}
		}
		if s == 3 && i != len(events)-1 {
			t.Errorf("event %d is terminal but %d more followed", i, len(events)-1-i)
		}
	}
	if last := events[len(events)-1].State; last != "STATE_SUCCEEDED" {
		t.Errorf("last state %s, want STATE_SUCCEEDED", last)
	}
	if !sawRunning {
		t.Errorf("the browser never saw the task running: %+v", events)
	}
}
