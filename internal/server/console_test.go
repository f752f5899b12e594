//go:build unix

package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/console"
	"github.com/vasagw/vasagw/internal/smssim"
)

// axeCoreEnv names axe-core's axe.min.js (.ci/run installs the npm package
// axe-core into a temporary directory); without it the tests look in a
// git-ignored node_modules at the repository's root.
const axeCoreEnv = "VASAGW_AXE_CORE"

// artifactsEnv names a directory for the browser tests' screenshots; the
// default is a temporary directory, logged.
const artifactsEnv = "VASAGW_ARTIFACTS"

// consoleBrowser is one headless Chromium shared by the console's tests,
// each in a tab of its own.
type consoleBrowser struct {
	ctx       context.Context
	axe       string // axe-core's source, or empty when it is not installed
	artifacts string
}

func startConsoleBrowser(t *testing.T) *consoleBrowser {
	t.Helper()
	bin := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.IgnoreCertErrors, // the secured gateway's test CA
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &consoleBrowser{ctx: ctx, artifacts: os.Getenv(artifactsEnv)}
	if b.artifacts == "" {
		b.artifacts = t.TempDir()
	} else if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", b.artifacts)
	path := os.Getenv(axeCoreEnv)
	if path == "" {
		path = filepath.Join("..", "..", "node_modules", "axe-core", "axe.min.js")
	}
	if src, err := os.ReadFile(path); err == nil {
		b.axe = string(src)
	} else if os.Getenv(browserTestsEnv) == "required" {
		t.Fatalf("axe-core is not at %s (npm install --no-save axe-core@4.14.1) and %s=required", path, browserTestsEnv)
	} else {
		t.Logf("axe-core not found at %s: the accessibility checks are skipped", path)
	}
	return b
}

// consoleTab is one tab of the shared browser on a gateway's console. It
// records what must never happen: a script exception, a Content Security
// Policy violation, a request to another origin.
type consoleTab struct {
	t      *testing.T
	b      *consoleBrowser
	ctx    context.Context
	origin string

	mu       sync.Mutex
	problems []string
}

func (b *consoleBrowser) open(t *testing.T, origin string) *consoleTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	tab := &consoleTab{t: t, b: b, ctx: ctx, origin: origin}
	if err := chromedp.Listen(ctx, tab.observe); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		for _, p := range tab.problems {
			t.Errorf("console page: %s", p)
		}
	})
	tab.do(chromedp.Navigate(origin + "/"))
	return tab
}

func (tab *consoleTab) observe(ev any) {
	var problem string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			problem += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			problem = "console.error"
		}
	case *log.EventEntryAdded:
		// A refused API call logs a network error, which is the page's
		// business; anything from the security or javascript sources is not.
		if e.Entry.Source == log.EntrySourceSecurity || e.Entry.Source == log.EntrySourceJavascript {
			problem = fmt.Sprintf("%s log: %s", e.Entry.Source, e.Entry.Text)
		}
	case *network.EventRequestWillBeSent:
		u := e.Request.URL
		if !strings.HasPrefix(u, tab.origin+"/") && !strings.HasPrefix(u, "data:") {
			problem = "request to another origin: " + u
		}
	}
	if problem != "" {
		tab.mu.Lock()
		tab.problems = append(tab.problems, problem)
		tab.mu.Unlock()
	}
}

func (tab *consoleTab) do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	if err := chromedp.Do(tab.ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %v\npage:\n%s", err, tab.text())
	}
}

// eval runs a script in the page and decodes its value into out (nil: none).
func (tab *consoleTab) eval(script string, out any) {
	tab.t.Helper()
	v, err := chromedp.Run(tab.ctx, chromedp.Evaluate[json.RawMessage](script, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("evaluate %s: %v", script, err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			tab.t.Fatalf("evaluate %s: %s: %v", script, v, err)
		}
	}
}

// text is the page's visible text, for failure messages.
func (tab *consoleTab) text() string {
	v, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if err != nil {
		return err.Error()
	}
	return v
}

// waitFor waits until the script is true in the page, for at most a
// minute (a bound for a stuck test, not a timing assertion).
func (tab *consoleTab) waitFor(what, script string) {
	tab.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		ok, err := chromedp.Run(tab.ctx, chromedp.Evaluate[bool](`!!(`+script+`)`))
		if err == nil && ok {
			return
		}
		select {
		case <-deadline:
			tab.shot("failed-" + strings.ReplaceAll(tab.t.Name(), "/", "-"))
			tab.t.Fatalf("waiting for %s: no (last error %v)\npage:\n%s", what, err, tab.text())
		case <-tick.C:
		}
	}
}

// click activates a control from the keyboard (focus, then Enter), as an
// operator without a mouse would.
func (tab *consoleTab) click(sel string) {
	tab.t.Helper()
	js, _ := json.Marshal(sel)
	// Find and focus in one step: the list may be drawn again between two.
	tab.waitFor("a control "+sel, `(() => { const e = document.querySelector(`+string(js)+`); if (!e || e.disabled) return false; e.focus(); return document.activeElement === e; })()`)
	tab.do(chromedp.KeyEvent("\r"))
}

// shot writes a screenshot of the whole page into the artefacts directory.
func (tab *consoleTab) shot(name string) string {
	tab.t.Helper()
	png, err := chromedp.Run(tab.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatal(err)
	}
	path := filepath.Join(tab.b.artifacts, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatal(err)
	}
	return path
}

// axeViolation is what the test reports of an axe-core finding.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessible runs axe-core on the page as it is, for the rules of WCAG
// 2.x levels A and AA, and fails on any violation.
func (tab *consoleTab) checkAccessible(state string) {
	tab.t.Helper()
	if tab.b.axe == "" {
		return
	}
	for _, v := range tab.axeRun() {
		tab.t.Errorf("axe-core, %s: %s (%s): %s at %v", state, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// checkAxeSees makes sure that the accessibility check can fail: an
// unlabelled text field added to the page is a violation it reports.
func (tab *consoleTab) checkAxeSees() {
	tab.t.Helper()
	if tab.b.axe == "" {
		return
	}
	tab.checkAccessible("before the probe")
	tab.eval(`(() => { const i = document.createElement('input'); i.id = 'axe-probe'; document.body.append(i); return true; })()`, nil)
	found := slices.ContainsFunc(tab.axeRun(), func(v axeViolation) bool { return v.ID == "label" })
	tab.eval(`(() => { document.getElementById('axe-probe').remove(); return true; })()`, nil)
	if !found {
		tab.t.Error("axe-core did not report an unlabelled input")
	}
}

// axeRun loads axe-core into the page (through DevTools: the page's
// policy admits no script of another origin) and runs it.
func (tab *consoleTab) axeRun() []axeViolation {
	tab.t.Helper()
	var loaded bool
	tab.eval(`typeof axe !== 'undefined'`, &loaded)
	if !loaded {
		if _, err := chromedp.Run(tab.ctx, chromedp.Evaluate[json.RawMessage](tab.b.axe+"\n;true")); err != nil {
			tab.t.Fatalf("load axe-core: %v", err)
		}
	}
	var violations []axeViolation
	tab.eval(`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}, resultTypes: ['violations']})
		.then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))`, &violations)
	return violations
}

// rows is the providers the page lists, by resource name, with the status
// each shows.
func (tab *consoleTab) rows() map[string]string {
	tab.t.Helper()
	var out map[string]string
	tab.eval(`Object.fromEntries([...document.querySelectorAll('#provider-rows tr')].map(r => [r.dataset.name, r.dataset.status]))`, &out)
	return out
}

func providerNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// restProviders is what ListVasaProviders answers over REST for filter.
func restProviders(t *testing.T, do func(path string) restResult, filter string) []string {
	t.Helper()
	path := "/v1/vcenters/default/vasaProviders?pageSize=1000"
	if filter != "" {
		path += "&filter=" + strings.ReplaceAll(filter, " ", "%20")
	}
	r := do(path)
	if r.code != http.StatusOK {
		t.Fatalf("list providers: HTTP %d %s", r.code, r.body)
	}
	var resp struct {
		VasaProviders []struct {
			Name string `json:"name"`
		} `json:"vasaProviders"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range resp.VasaProviders {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// watchStatus is the HTTP status of the provider watch over SSE: the
// stream is opened, its status read, and closed (a served watch never
// ends by itself).
func watchStatus(t *testing.T, g *gateway) restResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/v1/vcenters/default/vasaProviders:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return restResult{code: resp.StatusCode}
}

func fingerprint(t *testing.T, certPEM string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// TestConsole runs the operator console in headless Chromium against
// gateways started by Run: the page, its headers and its SSE parser; the
// fleet live; the actions with their progress and faults; and the roles.
// One browser serves every subtest, each with its own tab and gateway.
func TestConsole(t *testing.T) {
	b := startConsoleBrowser(t)

	t.Run("fleet", func(t *testing.T) {
		t.Parallel()
		// The provider refresh loop on (gatewayConfig turns it off), so
		// that the page follows WatchVasaProviders.
		g := startGateway(t, "--provider-poll-interval=200ms")
		tab := b.open(t, g.base)
		seeded := []string{}
		for i := 1; i <= 6; i++ {
			seeded = append(seeded, fmt.Sprintf("vcenters/default/vasaProviders/vp-%d", i))
		}
		tab.waitFor("the seeded providers", `document.querySelectorAll('#provider-rows tr').length === 6`)
		if got := providerNames(tab.rows()); !slices.Equal(got, seeded) {
			t.Errorf("page lists %v, want %v", got, seeded)
		}
		checkConsoleHeaders(t, g)
		// The vCenters with their state, as VCenterService reports them.
		if r := g.rest(t, http.MethodGet, "/v1/vcenters", ""); r.code == http.StatusOK {
			var vcs struct {
				VCenters []struct {
					Name  string `json:"name"`
					State string `json:"state"`
				} `json:"vcenters"`
			}
			if err := json.Unmarshal(r.body, &vcs); err != nil || len(vcs.VCenters) == 0 {
				t.Fatalf("ListVCenters: %s (%v)", r.body, err)
			}
			want, _ := json.Marshal(vcs.VCenters[0].Name)
			tab.waitFor("the vCenter and its state", `document.querySelector('#vcenters button[data-vcenter=`+string(want)+`]')`)
			var shown []string
			tab.eval(`[...document.querySelectorAll('#vcenters li')].map(li => li.querySelector('button').dataset.vcenter + ' ' + li.querySelector('.badge').textContent)`, &shown)
			if len(shown) != len(vcs.VCenters) || (vcs.VCenters[0].State == "STATE_READY" && shown[0] != vcs.VCenters[0].Name+" Ready") {
				t.Errorf("vCenters shown %v, the gateway has %+v", shown, vcs.VCenters)
			}
		} else {
			var note string
			tab.eval(`document.getElementById('vcenters-note').textContent`, &note)
			if !strings.Contains(note, "default") {
				t.Errorf("ListVCenters answers HTTP %d and the page says %q", r.code, note)
			}
		}
		tab.checkAxeSees()

		// The page says how it follows the fleet, and it is the truth: the
		// event stream when the gateway serves WatchVasaProviders, else
		// polling, naming the watch's answer.
		watch := watchStatus(t, g)
		wantMode := "polling"
		if watch.code == http.StatusOK {
			wantMode = "sse"
		}
		tab.waitFor("the live mode "+wantMode, `document.getElementById('live').dataset.mode === '`+wantMode+`'`)
		if wantMode == "polling" {
			var live string
			tab.eval(`document.getElementById('live').textContent`, &live)
			if !strings.Contains(live, fmt.Sprintf("HTTP %d", watch.code)) {
				t.Errorf("live note %q does not name the watch's answer (HTTP %d)", live, watch.code)
			}
		}

		// A provider that appears and then changes state in the simulator
		// shows without a reload (the marker survives).
		tab.eval(`window.consoleTestMarker = 1`, nil)
		g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-7", Info: disconnectedInfo("vp-7")})
		tab.waitFor("vp-7 disconnected", `document.querySelector('#provider-rows tr[data-name="vcenters/default/vasaProviders/vp-7"][data-status="STATUS_DISCONNECTED"]')`)
		info := disconnectedInfo("vp-7")
		info.Status = "online"
		g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-7", Info: info})
		tab.waitFor("vp-7 online", `document.querySelector('#provider-rows tr[data-name="vcenters/default/vasaProviders/vp-7"][data-status="STATUS_ONLINE"]')`)
		var marker int
		tab.eval(`window.consoleTestMarker`, &marker)
		if marker != 1 {
			t.Error("the page reloaded")
		}

		// A provider's details, with its certificate badge and days to expiry.
		tab.click(`#provider-rows tr[data-name="vcenters/default/vasaProviders/vp-3"] button`)
		tab.waitFor("vp-3's details", `document.getElementById('details').dataset.name === 'vcenters/default/vasaProviders/vp-3' && !document.getElementById('details').hidden`)
		var details struct {
			Badge string `json:"badge"`
			Days  string `json:"days"`
			Text  string `json:"text"`
		}
		tab.eval(`({badge: document.querySelector('#provider-rows tr[data-name$="/vp-3"] td:nth-of-type(2) .badge').dataset.value,
			days: document.querySelector('#provider-rows tr[data-name$="/vp-3"] td[data-days]').dataset.days,
			text: document.getElementById('details').innerText})`, &details)
		if details.Badge != "CERTIFICATE_STATUS_EXPIRED" || !strings.HasPrefix(details.Days, "-") {
			t.Errorf("vp-3 shows certificate %q, %q days; want expired, negative days", details.Badge, details.Days)
		}
		p3, err := g.providers.GetVasaProvider(testContext(t), &vasagwv1.GetVasaProviderRequest{Name: "vcenters/default/vasaProviders/vp-3"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(details.Text, p3.GetCertificateSha256Fingerprint()) || !strings.Contains(details.Text, p3.GetUrl()) {
			t.Errorf("vp-3's details do not show its fingerprint and URL:\n%s", details.Text)
		}
		tab.checkAccessible("fleet with details")
		tab.shot("console-fleet")

		// The filter goes to the gateway, and the page lists what it answers.
		const filter = "status = STATUS_DISCONNECTED"
		want := restProviders(t, func(p string) restResult { return g.rest(t, http.MethodGet, p, "") }, filter)
		tab.do(chromedp.SetValue(chromedp.ID("filter"), filter))
		tab.click(`#filter-form button[type="submit"]`)
		wantJSON, _ := json.Marshal(want)
		wantLiteral, _ := json.Marshal(string(wantJSON))
		t.Logf("filter %q: the gateway answers %s", filter, wantJSON)
		tab.waitFor("the filtered list", `JSON.stringify([...document.querySelectorAll('#provider-rows tr')].map(r => r.dataset.name).sort()) === `+string(wantLiteral))

		// A filter the gateway refuses is shown at the filter, as a fault.
		const badFilter = "status = "
		if r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders?filter="+url.QueryEscape(badFilter), ""); r.code == http.StatusBadRequest {
			tab.do(chromedp.SetValue(chromedp.ID("filter"), badFilter))
			tab.click(`#filter-form button[type="submit"]`)
			tab.waitFor("the refused filter", `document.querySelector('#filter-error .fault') && document.getElementById('live').dataset.mode === 'error'`)
		} else {
			t.Logf("the gateway answers the filter %q with HTTP %d: the refusal is not shown", badFilter, r.code)
		}

		checkSSEParser(t, tab)
	})

	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, "--provider-poll-interval=200ms") // the watch on, behind the proxy
		// The page is served through a proxy that refuses the provider
		// watch while refuse is set, as a gateway without it would.
		var refuse atomic.Bool
		refuse.Store(true)
		target, err := url.Parse(g.base)
		if err != nil {
			t.Fatal(err)
		}
		rp := httputil.NewSingleHostReverseProxy(target)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() && strings.HasSuffix(r.URL.Path, "/vasaProviders:watch") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotImplemented)
				_, _ = io.WriteString(w, `{"error":{"code":12,"message":"refused by the test's proxy"}}`)
				return
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(proxy.Close)
		tab := b.open(t, proxy.URL)
		tab.waitFor("polling", `document.getElementById('live').dataset.mode === 'polling' && document.getElementById('live').textContent.includes('HTTP 501')`)
		g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-8", Info: disconnectedInfo("vp-8")})
		tab.waitFor("vp-8 by polling", `document.querySelector('#provider-rows tr[data-name$="/vp-8"]')`)

		if r := watchStatus(t, g); r.code != http.StatusOK {
			t.Fatalf("the gateway answers the provider watch with HTTP %d", r.code)
		}
		refuse.Store(false)
		tab.waitFor("the switch to the watch", `document.getElementById('live').dataset.mode === 'sse'`)
		g.sim.Sim.AddProvider(smssim.Provider{ID: "vp-9", Info: disconnectedInfo("vp-9")})
		tab.waitFor("vp-9 over the watch", `document.querySelector('#provider-rows tr[data-name$="/vp-9"]') && document.getElementById('live').dataset.mode === 'sse'`)
	})

	t.Run("vcenters", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, "--simulate-vcenters=lab")
		// The page shows each vCenter's state as the gateway has it when the
		// page loads: wait until lab's session has logged in, so that the
		// test does not depend on how fast that is on a loaded machine.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r := g.rest(t, http.MethodGet, "/v1/vcenters/lab", "")
			if strings.Contains(string(r.body), `"STATE_READY"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("vcenters/lab is not ready: %d %s", r.code, r.body)
			}
		}
		tab := b.open(t, g.base)
		tab.waitFor("two vCenters", `document.querySelectorAll('#vcenters li').length === 2`)
		var shown []string
		tab.eval(`[...document.querySelectorAll('#vcenters li')].map(li => li.querySelector('button').dataset.vcenter + ' ' + li.querySelector('.badge').textContent)`, &shown)
		if !slices.Equal(shown, []string{"vcenters/default Ready", "vcenters/lab Ready"}) {
			t.Errorf("vCenters shown %v", shown)
		}
		// Choosing a vCenter lists its providers, as the gateway has them.
		want := restProviders(t, func(p string) restResult {
			return g.rest(t, http.MethodGet, strings.Replace(p, "/vcenters/default/", "/vcenters/lab/", 1), "")
		}, "")
		if len(want) == 0 {
			t.Fatal("the lab vCenter has no providers")
		}
		tab.click(`#vcenters button[data-vcenter="vcenters/lab"]`)
		wantJSON, _ := json.Marshal(want)
		wantLiteral, _ := json.Marshal(string(wantJSON))
		tab.waitFor("the lab's providers", `document.querySelector('#vcenters button[data-vcenter="vcenters/lab"]').getAttribute('aria-pressed') === 'true' && `+
			`document.getElementById('providers-vcenter').textContent === 'lab' && `+
			`JSON.stringify([...document.querySelectorAll('#provider-rows tr')].map(r => r.dataset.name).sort()) === `+string(wantLiteral))
		tab.checkAccessible("two vCenters")
	})

	t.Run("actions", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, "--provider-poll-interval=200ms") // the page follows the watch
		tab := b.open(t, g.base)
		tab.waitFor("the providers", `document.querySelectorAll('#provider-rows tr').length === 6`)

		// Reconnect of vp-2: the task shows running, then succeeded at 100 %.
		// The simulator holds the task still until the page shows it
		// running, then lets it finish.
		g.sim.Sim.SetSpeed(0.0001)
		tab.click(`#provider-rows tr[data-name$="/vp-2"] button`)
		tab.click(`#details [data-action="reconnect"]`)
		tab.waitFor("the confirmation", `document.getElementById('confirm').open`)
		tab.checkAccessible("confirmation")
		// Escape cancels, and the focus goes back to the button.
		tab.do(chromedp.KeyEvent(kb.Escape))
		tab.waitFor("the cancelled confirmation", `!document.getElementById('confirm').open && document.activeElement.dataset.action === 'reconnect'`)
		if n := len(tab.rows()); n != 6 {
			t.Fatalf("%d rows", n)
		}
		var tasks int
		tab.eval(`document.querySelectorAll('#tasks li').length`, &tasks)
		if tasks != 0 {
			t.Fatalf("a cancelled confirmation started %d tasks", tasks)
		}
		tab.click(`#details [data-action="reconnect"]`)
		tab.waitFor("the confirmation", `document.getElementById('confirm').open`)
		tab.click(`#confirm-ok`)
		tab.waitFor("vp-2's reconnect under way", `document.querySelector('#tasks li[data-action="reconnect"][data-target$="/vp-2"][data-state="STATE_RUNNING"], #tasks li[data-action="reconnect"][data-target$="/vp-2"][data-state="STATE_QUEUED"]')`)
		tab.checkAccessible("task running")
		g.sim.Sim.SetSpeed(2400)
		tab.waitFor("vp-2's reconnect succeeded", `document.querySelector('#tasks li[data-action="reconnect"][data-target$="/vp-2"][data-state="STATE_SUCCEEDED"]')`)
		var done struct {
			Progress float64 `json:"progress"`
			Status   string  `json:"status"`
			Live     string  `json:"live"`
		}
		tab.eval(`(() => { const li = document.querySelector('#tasks li[data-target$="/vp-2"]'); const s = li.querySelector('.task-status');
			return {progress: li.querySelector('progress').value, status: s.textContent, live: s.getAttribute('aria-live')}; })()`, &done)
		if done.Progress != 100 || done.Status != "Succeeded: 100 %" || done.Live != "polite" {
			t.Errorf("vp-2's finished task shows %+v", done)
		}
		tab.waitFor("vp-2 connected", `document.querySelector('#provider-rows tr[data-name$="/vp-2"][data-status="STATUS_CONNECTED"]')`)

		// Reconnect of vp-3 is refused: the page shows the message, the
		// recovery steps and the help links, the raw status folded away.
		tab.click(`#provider-rows tr[data-name$="/vp-3"] button`)
		tab.click(`#details [data-action="reconnect"]`)
		tab.click(`#confirm-ok`)
		tab.waitFor("vp-3's refusal", `document.querySelector('#tasks li[data-target$="/vp-3"][data-state="REFUSED"] .fault')`)
		var fault struct {
			Reason  string   `json:"reason"`
			Message string   `json:"message"`
			Steps   []string `json:"steps"`
			Links   []string `json:"links"`
			Open    bool     `json:"open"`
		}
		tab.eval(`(() => { const f = document.querySelector('#tasks li[data-target$="/vp-3"] .fault');
			return {reason: f.dataset.reason, message: f.querySelector('.fault-message').textContent,
				steps: [...f.querySelectorAll('.fault-steps li')].map(e => e.textContent),
				links: [...f.querySelectorAll('a.help-link')].map(a => a.href), open: f.querySelector('details').open}; })()`, &fault)
		direct := g.rest(t, http.MethodPost, "/v1/vcenters/default/vasaProviders/vp-3:reconnect", "{}")
		st := restStatus(t, direct.body)
		if fault.Reason != "INVALID_CERTIFICATE" || fault.Open {
			t.Errorf("vp-3's fault: reason %q, details open %v", fault.Reason, fault.Open)
		}
		if !strings.Contains(fault.Message, "certificate") || len(fault.Steps) == 0 || len(fault.Links) == 0 {
			t.Errorf("vp-3's fault does not show the message, the steps and the links: %+v", fault)
		}
		if wantLinks := helpLinks(st); !slices.Equal(fault.Links, wantLinks) {
			t.Errorf("help links %v, want %v", fault.Links, wantLinks)
		}
		tab.checkAccessible("fault")
		tab.shot("console-fault")

		t.Run("sync and refresh certificate", func(t *testing.T) {
			for _, action := range []string{"sync", "refreshCertificate"} {
				tab.click(`#provider-rows tr[data-name$="/vp-1"] button`)
				tab.click(`#details [data-action="` + action + `"]`)
				tab.waitFor("the confirmation", `document.getElementById('confirm').open`)
				tab.click(`#confirm-ok`)
				tab.waitFor("vp-1's "+action+" succeeded", `document.querySelector('#tasks li[data-action="`+action+`"][data-target$="/vp-1"][data-state="STATE_SUCCEEDED"]')`)
			}
		})

		t.Run("recover", func(t *testing.T) {
			renewed, err := g.sim.Sim.RenewProviderCertificate("vp-3")
			if err != nil {
				t.Fatal(err)
			}
			tab.click(`#provider-rows tr[data-name$="/vp-3"] button`)
			tab.click(`#details [data-action="recover"]`)
			tab.waitFor("the recovery form", `!document.getElementById('recover-fields').hidden`)
			// A fingerprint that is not the presented certificate's: the
			// pre-flight refuses, changing nothing, and the dialog shows the
			// one the provider presents for the operator to confirm.
			wrong := strings.TrimSuffix(strings.Repeat("00:", 32), ":")
			tab.do(
				chromedp.SendKeys(chromedp.ID("recover-username"), "vasa-admin"),
				chromedp.SendKeys(chromedp.ID("recover-password"), "provider-secret"),
				chromedp.SendKeys(chromedp.ID("recover-fingerprint"), wrong),
			)
			tab.checkAccessible("recovery form")
			tab.click(`#confirm-ok`)
			tab.waitFor("the presented fingerprint", `!document.getElementById('recover-presented').hidden`)
			var presented string
			tab.eval(`document.getElementById('recover-presented-fingerprint').textContent`, &presented)
			if want := fingerprint(t, renewed); presented != want {
				t.Fatalf("the dialog shows the presented fingerprint %q, want %q", presented, want)
			}
			tab.checkAccessible("fingerprint confirmation")
			tab.shot("console-recover-confirm")
			tab.click(`#recover-use-presented`)
			tab.click(`#confirm-ok`)
			tab.waitFor("the recovery succeeded", `document.querySelector('#tasks li[data-action="recover"][data-state="STATE_SUCCEEDED"]')`)
			var steps []string
			tab.eval(`[...document.querySelectorAll('#tasks li[data-action="recover"] .steps li')].map(s => s.dataset.kind + ' ' + s.dataset.state)`, &steps)
			if len(steps) < 3 {
				t.Errorf("recovery steps %v", steps)
			}
			for _, s := range steps {
				if !strings.HasSuffix(s, "STATE_SUCCEEDED") {
					t.Errorf("recovery step %s", s)
				}
			}
			// The details follow the provider to its new name, and the list
			// shows it connected with its new certificate.
			var result string
			tab.eval(`document.querySelector('#tasks li[data-action="recover"]').dataset.result`, &result)
			if result == "" || result == "vcenters/default/vasaProviders/vp-3" {
				t.Fatalf("recovery result %q", result)
			}
			resultJSON, _ := json.Marshal(result)
			tab.waitFor("the recovered provider's details", `document.getElementById('details').dataset.name === `+string(resultJSON)+
				` && document.querySelector('#provider-rows tr[data-name=`+string(resultJSON)+`] td:nth-of-type(2) .badge').dataset.value === 'CERTIFICATE_STATUS_VALID'`)
			var text string
			tab.eval(`document.body.innerText`, &text)
			if strings.Contains(text, "provider-secret") {
				t.Error("the page shows the provider password")
			}
			tab.shot("console-recovery")
		})
	})

	t.Run("roles", func(t *testing.T) {
		t.Parallel()
		p := newPKI(t)
		g := startSecureGateway(t, p, p.tokenFlags()...)
		origin := "https://" + g.httpAddr
		tab := b.open(t, origin)

		// No token: a sign-in prompt, not an error dump.
		tab.waitFor("the sign-in prompt", `!document.getElementById('sign-in').hidden && document.getElementById('console').hidden`)
		var text string
		tab.eval(`document.body.innerText`, &text)
		if strings.Contains(text, `"code"`) || strings.Contains(text, "UNAUTHENTICATED") {
			t.Errorf("the sign-in prompt shows an error dump:\n%s", text)
		}
		tab.checkAccessible("sign-in")
		tab.shot("console-sign-in")

		// A bad token is refused with a reason, at the prompt.
		tab.do(chromedp.SetValue(chromedp.ID("token"), "not-a-token"))
		tab.click(`#sign-in-form button[type="submit"]`)
		tab.waitFor("the refusal", `document.getElementById('sign-in-error').textContent.includes('TOKEN_INVALID')`)

		// A viewer sees the fleet with the actions disabled.
		viewer := p.issuer.Token(t, "viewer-1", "viewers")
		tab.do(chromedp.SetValue(chromedp.ID("token"), viewer))
		tab.click(`#sign-in-form button[type="submit"]`)
		tab.waitFor("the viewer's console", `document.querySelectorAll('#provider-rows tr').length === 6`)
		tab.click(`#provider-rows tr[data-name$="/vp-2"] button`)
		var disabled []bool
		tab.eval(`[...document.querySelectorAll('#details [data-action]')].map(b => b.disabled)`, &disabled)
		if len(disabled) != 4 || slices.Contains(disabled, false) {
			t.Errorf("a viewer's actions disabled: %v, want 4 disabled", disabled)
		}
		tab.eval(`document.getElementById('identity-text').textContent`, &text)
		if !strings.Contains(text, "role: viewer") {
			t.Errorf("identity %q", text)
		}
		var stored int
		tab.eval(`localStorage.length + sessionStorage.length + document.cookie.length`, &stored)
		if stored != 0 {
			t.Error("the page stored something (the token lives in memory only)")
		}
		tab.checkAccessible("viewer")
		tab.shot("console-viewer")

		// An operator's token: the actions run with it, the same-origin POST
		// and the task's event stream (fetch, with the Authorization header).
		tab.click(`#sign-out`)
		tab.waitFor("the sign-in prompt again", `!document.getElementById('sign-in').hidden`)
		tab.do(chromedp.SetValue(chromedp.ID("token"), p.issuer.Token(t, "ops")))
		tab.click(`#sign-in-form button[type="submit"]`)
		tab.waitFor("the operator's console", `document.querySelectorAll('#provider-rows tr').length === 6 && document.getElementById('identity-text').textContent.includes('role: operator')`)
		tab.click(`#provider-rows tr[data-name$="/vp-2"] button`)
		tab.click(`#details [data-action="reconnect"]`)
		tab.click(`#confirm-ok`)
		tab.waitFor("vp-2's reconnect succeeded", `document.querySelector('#tasks li[data-target$="/vp-2"][data-state="STATE_SUCCEEDED"]')`)
		if !strings.Contains(g.logs.String(), "token:ops") {
			t.Error("the audit log does not name the operator")
		}
	})
}

// checkConsoleHeaders checks the page's and its assets' security headers
// as the gateway serves them.
func checkConsoleHeaders(t *testing.T, g *gateway) {
	t.Helper()
	for _, path := range []string{"/", "/console/app.js", "/console/api.js", "/console/sse.js", "/console/fault.js", "/console/console.css"} {
		r := g.rest(t, http.MethodGet, path, "")
		if r.code != http.StatusOK {
			t.Errorf("GET %s: HTTP %d", path, r.code)
			continue
		}
		if got := r.header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", path, got)
		}
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
	}
	// The REST API's own answers are unchanged.
	if r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", ""); r.code != http.StatusOK {
		t.Errorf("GetVasaProvider beside the console: HTTP %d", r.code)
	}
}

// checkSSEParser runs the page's own SSE parser on an event stream split
// at every byte, with every line ending the format allows, comments, ids,
// multi-line data and an event without data.
func checkSSEParser(t *testing.T, tab *consoleTab) {
	t.Helper()
	stream := ": keepalive\r\nid: 1\r\nevent: task\r\ndata: {\"a\":1}\r\n\r\n" +
		"id: 2\nevent: provider\ndata: line one\ndata:line two\n\n" +
		"event: ignored\n\n" +
		"data: third\rid: 3\r\r" +
		"retry: 10\nfield-without-colon\ndata\n\n"
	type event struct {
		Type string `json:"type"`
		Data string `json:"data"`
		ID   string `json:"id"`
	}
	want := []event{
		{"task", `{"a":1}`, "1"},
		{"provider", "line one\nline two", "2"},
		{"message", "third", "3"},
		{"message", "", "3"},
	}
	js, _ := json.Marshal(stream)
	var splits [][]event
	tab.eval(`import('/console/sse.js').then(({SSEParser}) => {
		const s = `+string(js)+`;
		const out = [];
		for (let i = 0; i <= s.length; i++) {
			for (let j = i; j <= s.length; j += Math.max(1, s.length - i)) {
				const p = new SSEParser();
				out.push([...p.push(s.slice(0, i)), ...p.push(s.slice(i, j)), ...p.push(s.slice(j))]);
			}
		}
		return out;
	})`, &splits)
	if len(splits) == 0 {
		t.Fatal("the parser ran on no split")
	}
	for i, got := range splits {
		if !slices.Equal(got, want) {
			t.Fatalf("split %d: events %+v, want %+v", i, got, want)
		}
	}
}

// helpLinks is the URLs of a status's google.rpc.Help details.
func helpLinks(st *status.Status) []string {
	var out []string
	for _, d := range st.Details() {
		if h, ok := d.(*errdetails.Help); ok {
			for _, l := range h.GetLinks() {
				out = append(out, l.GetUrl())
			}
		}
	}
	return out
}
