package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// healthCheckTimeout bounds one check of the vCenter session.
const healthCheckTimeout = 5 * time.Second

// pinger is what the health check needs of a vCenter session.
type pinger interface {
	Ping(ctx context.Context) error
}

// readiness reports whether the gateway can serve: true while the last
// check of at least one vCenter's session succeeded and the gateway is not
// shutting down. It backs gRPC health (`vcenters/{id}` per vCenter, and ""
// with each API service overall), /readyz and the vasagw_vcenter_up gauge.
type readiness struct {
	ready    atomic.Bool
	interval time.Duration
	log      *slog.Logger
	health   *health.Server
	// onCheck, when not nil, is told the result of each check.
	onCheck func(vcenterID string, ok bool)

	mu      sync.Mutex
	up      map[string]bool // tracked vCenters: the last check succeeded
	stopped bool
}

// healthServices are the gRPC health service names that follow the
// gateway as a whole: the server ("") and each API service.
var healthServices = []string{
	"",
	vasagwv1.VasaProviderService_ServiceDesc.ServiceName,
	vasagwv1.TaskService_ServiceDesc.ServiceName,
	vasagwv1.VCenterService_ServiceDesc.ServiceName,
}

// vcenterHealthService is the gRPC health service name of one vCenter.
func vcenterHealthService(id string) string { return "vcenters/" + id }

// track checks one vCenter's session at once and then every interval, on a
// goroutine of its own (a slow vCenter delays no other's check), and
// reports `vcenters/{id}` SERVING while the check succeeds, NOT_SERVING
// otherwise.
func (rd *readiness) track(id string, up pinger) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &tracker{rd: rd, id: id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		rd.check(ctx, id, up)
	}()
	return t
}

// tracker is the health checking of one vCenter.
type tracker struct {
	rd     *readiness
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the checks and returns when they have; the vCenter's health
// stays as last checked.
func (t *tracker) stop() {
	t.cancel()
	<-t.done
}

// forget drops a removed vCenter: its health name reports
// SERVICE_UNKNOWN, and it no longer counts for the overall status.
func (t *tracker) forget() {
	rd := t.rd
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.stopped {
		return
	}
	delete(rd.up, t.id)
	rd.health.SetServingStatus(vcenterHealthService(t.id), healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
	rd.updateLocked()
}

func (rd *readiness) check(ctx context.Context, id string, up pinger) {
	t := time.NewTicker(rd.interval)
	defer t.Stop()
	first := true
	for {
		pctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
		err := up.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		ok := err == nil
		if was := rd.set(id, ok); was != ok || first {
			if ok {
				rd.log.Info("vCenter session works: reporting SERVING", "vcenter", id)
			} else {
				rd.log.Warn("vCenter session check failed: reporting NOT_SERVING", "vcenter", id, "error", err)
			}
		}
		first = false
		if rd.onCheck != nil {
			rd.onCheck(id, ok)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// set records one vCenter's check and returns its previous result.
// Readiness is updated before the gRPC health status, so a caller who saw
// the status change sees /readyz agree.
func (rd *readiness) set(id string, ok bool) (was bool) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.stopped {
		return ok
	}
	if rd.up == nil {
		rd.up = make(map[string]bool)
	}
	was = rd.up[id]
	rd.up[id] = ok
	rd.updateLocked()
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	rd.health.SetServingStatus(vcenterHealthService(id), st)
	return was
}

// updateLocked sets the overall status: SERVING while any vCenter is.
func (rd *readiness) updateLocked() {
	serving := false
	for _, ok := range rd.up {
		serving = serving || ok
	}
	rd.ready.Store(serving)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, s := range healthServices {
		rd.health.SetServingStatus(s, st)
	}
}

// shutdown marks the gateway not ready, for good: the checks still running
// change nothing any more.
func (rd *readiness) shutdown() {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.stopped = true
	rd.ready.Store(false)
}

// healthz is the liveness endpoint: it answers as long as the process
// serves HTTP, and never touches vCenter (a vCenter outage must not get
// the gateway restarted).
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz is the readiness endpoint: 200 while the last check of at least
// one vCenter's session succeeded, else 503. It reads the last check's result
// and never calls vCenter itself.
func (rd *readiness) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !rd.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: no vCenter session works\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
