package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// adminHandler serves the admin listener: Prometheus /metrics, the
// liveness and readiness endpoints, and Go's profiler under /debug/pprof/.
// It is for the cluster's scrapers and operators, never for API callers:
// keep --admin-addr off the public network.
func adminHandler(tel *telemetry.Telemetry, rd *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.MetricsHandler())
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", rd.readyz)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// listenAdmin binds --admin-addr, or returns a nil listener when it is
// empty.
func listenAdmin(cfg config.Config) (net.Listener, error) {
	if cfg.AdminAddr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr %s: %w", cfg.AdminAddr, err)
	}
	return lis, nil
}

// serveAdmin serves h on lis until ctx is done; a nil lis (--admin-addr
// empty) serves nothing.
func serveAdmin(ctx context.Context, lis net.Listener, h http.Handler, log *slog.Logger) error {
	if lis == nil {
		return nil
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A CPU profile or execution trace runs for ?seconds= (default 30).
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("admin endpoints serving", "admin_addr", lis.Addr().String())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		// The shutdown goroutine ends when the failure cancels ctx.
		return fmt.Errorf("serve admin: %w", err)
	}
	<-stopped
	return nil
}
