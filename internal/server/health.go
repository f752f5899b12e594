package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
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
// check of the vCenter session succeeded and the gateway is not shutting
// down. It backs gRPC health, /readyz and the vasagw_vcenter_up gauge.
type readiness struct {
	ready    atomic.Bool
	interval time.Duration
	log      *slog.Logger
	// onCheck, when not nil, is told the result of each check.
	onCheck func(ok bool)
}

// healthServices are the gRPC health service names kept in step with the
// vCenter session: the whole server ("") and each API service.
var healthServices = []string{
	"",
	vasagwv1.VasaProviderService_ServiceDesc.ServiceName,
	vasagwv1.TaskService_ServiceDesc.ServiceName,
}

// watch checks the vCenter session at once and then every interval until
// ctx is done, and reports SERVING for the server and each API service
// while the check succeeds, NOT_SERVING otherwise. Readiness is updated
// before the gRPC health status, so a caller who saw the status change sees
// /readyz agree. On return (shutdown) the gateway is no longer ready.
func (rd *readiness) watch(ctx context.Context, h *health.Server, up pinger) {
	defer rd.ready.Store(false)
	set := func(st healthpb.HealthCheckResponse_ServingStatus) {
		for _, s := range healthServices {
			h.SetServingStatus(s, st)
		}
	}
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
		if was := rd.ready.Swap(ok); was != ok || first {
			if ok {
				rd.log.Info("vCenter session works: reporting SERVING")
			} else {
				rd.log.Warn("vCenter session check failed: reporting NOT_SERVING", "error", err)
			}
		}
		first = false
		if rd.onCheck != nil {
			rd.onCheck(ok)
		}
		if ok {
			set(healthpb.HealthCheckResponse_SERVING)
		} else {
			set(healthpb.HealthCheckResponse_NOT_SERVING)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthz is the liveness endpoint: it answers as long as the process
// serves HTTP, and never touches vCenter (a vCenter outage must not get
// the gateway restarted).
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz is the readiness endpoint: 200 while the last check of the
// vCenter session succeeded, else 503. It reads the last check's result
// and never calls vCenter itself.
func (rd *readiness) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !rd.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: the vCenter session does not work\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
