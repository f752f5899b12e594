package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	vimtypes "github.com/vmware/govmomi/vim25/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
)

// slowTask starts a reconnect that runs for an hour on a provider of its own.
func slowTask(t *testing.T, g *gateway, id string) (name, taskID string) {
	t.Helper()
	g.sim.Sim.AddProvider(smssim.Provider{ID: id, Info: disconnectedInfo(id), ReconnectDuration: time.Hour})
	task, err := g.providers.ReconnectProvider(testContext(t), &vasagwv1.ReconnectProviderRequest{Name: "vcenters/default/vasaProviders/" + id})
	if err != nil {
		t.Fatal(err)
	}
	return task.GetName(), task.GetName()[strings.LastIndex(task.GetName(), "/")+1:]
}

// TestStreamEndsWithMappedError: a watch that fails after it started ends
// with the same mapped status on every transport: a gRPC status, an
// {"error": Status} line in NDJSON, an `event: error` frame in SSE.
func TestStreamEndsWithMappedError(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	fault := &vimtypes.NoPermission{PrivilegeId: "StorageViews.View"}
	checkStatus := func(t *testing.T, st *status.Status) {
		t.Helper()
		if st.Code() != codes.PermissionDenied {
			t.Fatalf("stream ended with %v, want PERMISSION_DENIED", st.Proto())
		}
		ei := errorInfo(t, st)
		if ei.GetReason() != "NO_PERMISSION" || ei.GetMetadata()["privilege"] != "StorageViews.View" || !hasDetail(st, "VimFault") {
			t.Errorf("stream error %v", st.Proto())
		}
	}

	t.Run("gRPC", func(t *testing.T) {
		t.Parallel()
		name, taskID := slowTask(t, g, "vp-err-grpc")
		stream, err := g.tasks.WatchTask(testContext(t), &vasagwv1.WatchTaskRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		g.sim.Sim.InjectFault("QuerySmsTaskInfo", taskID, fault)
		for err == nil {
			_, err = stream.Recv()
		}
		checkStatus(t, status.Convert(err))
	})

	t.Run("NDJSON", func(t *testing.T) {
		t.Parallel()
		name, taskID := slowTask(t, g, "vp-err-ndjson")
		resp := openStream(t, g.base+"/v1/"+name+":watch", nil)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), `{"result":`) {
			t.Fatalf("first line %q, %v", sc.Text(), sc.Err())
		}
		g.sim.Sim.InjectFault("QuerySmsTaskInfo", taskID, fault)
		var last string
		for sc.Scan() {
			last = sc.Text()
		}
		var line struct {
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(last), &line); err != nil || line.Error == nil {
			t.Fatalf("last line %q is not an error chunk (%v)", last, err)
		}
		checkStatus(t, restStatus(t, line.Error))
	})

	t.Run("SSE", func(t *testing.T) {
		t.Parallel()
		name, taskID := slowTask(t, g, "vp-err-sse")
		resp := openStream(t, g.base+"/v1/"+name+":watch", map[string]string{"Accept": "text/event-stream"})
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		injected := false
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && event == "task" && !injected:
				g.sim.Sim.InjectFault("QuerySmsTaskInfo", taskID, fault)
				injected = true
			}
		}
		if event != "error" {
			t.Fatalf("last event %q (%s), want error", event, data)
		}
		checkStatus(t, restStatus(t, []byte(data)))
	})

	t.Run("unknown task", func(t *testing.T) {
		t.Parallel()
		_, err := watchGRPC(testContext(t), g.tasks, "vcenters/default/tasks/SmsTask-404")
		if st := status.Convert(err); st.Code() != codes.NotFound || errorInfo(t, st).GetReason() != "TASK_NOT_FOUND" {
			t.Errorf("gRPC watch of an unknown task: %v", st.Proto())
		}
		for _, accept := range []string{"", "text/event-stream"} {
			r := g.rest(t, http.MethodGet, "/v1/vcenters/default/tasks/SmsTask-404:watch", "", "Accept", accept)
			body := r.body
			// grpc-gateway's NDJSON stream wraps even an error sent before the
			// first message as {"error": Status}; the HTTP status still tells.
			var chunk struct {
				Error json.RawMessage `json:"error"`
			}
			if accept == "" && json.Unmarshal(body, &chunk) == nil && chunk.Error != nil {
				body = chunk.Error
			}
			if r.code != http.StatusNotFound || errorInfo(t, restStatus(t, body)).GetReason() != "TASK_NOT_FOUND" {
				t.Errorf("REST watch (Accept %q) of an unknown task: %d %s", accept, r.code, r.body)
			}
		}
	})
}

// TestSSEKeepaliveAndLastEventID: an idle SSE stream sends keepalive
// comments, and a reconnect with Last-Event-ID gets the current snapshot
// first, with ids that continue after the one it sent.
func TestSSEKeepaliveAndLastEventID(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	cfg := gatewayConfig(t, sim)
	g := &gateway{sim: sim}
	startRun(t, cfg, g, SSEKeepalive(20*time.Millisecond))
	name, _ := slowTask(t, g, "vp-keepalive")

	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/v1/"+name+":watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "41")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == ": keepalive" {
			break
		}
	}
	if len(lines) < 4 || lines[0] != "event: task" || lines[1] != "id: 42" || !strings.HasPrefix(lines[2], `data: {"name":"`+name+`"`) {
		t.Fatalf("stream began %q", lines)
	}
	if lines[len(lines)-1] != ": keepalive" {
		t.Errorf("no keepalive comment on an idle stream: %q", lines)
	}
}

func TestUnsupportedAccept(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", "", "Accept", "application/xml")
	if r.code != http.StatusBadRequest {
		t.Fatalf("Accept: application/xml: %d %s", r.code, r.body)
	}
	st := restStatus(t, r.body)
	if errorInfo(t, st).GetReason() != "INVALID_REQUEST" || !strings.Contains(fmt.Sprint(st.Details()), `field:"Accept"`) {
		t.Errorf("status %v", st.Proto())
	}
	for _, ok := range []string{"application/json", "*/*", "application/xml, application/json;q=0.5", "text/html, */*;q=0.1"} {
		if r := g.rest(t, http.MethodGet, "/v1/vcenters/default/vasaProviders/vp-1", "", "Accept", ok); r.code != http.StatusOK {
			t.Errorf("Accept %q: %d %s", ok, r.code, r.body)
		}
	}
}

// openStream starts a GET with headers and returns the open response.
func openStream(t *testing.T, url string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp
}
