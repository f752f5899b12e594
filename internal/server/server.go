// Package server owns the running gateway: it binds the gRPC, REST and
// admin listeners, serves TLS, builds the gRPC server with its interceptor
// chain (telemetry, caller authentication and authorization, per-caller
// limits), connects the REST side to the same services in process, runs the
// configured vCenters (one session, health check and metrics label each;
// the config file reloaded when it changes), keeps gRPC health and
// /readyz in step with their sessions, and shuts all of it down
// gracefully. [Run] is the whole of it; cmd/server calls it with the
// loaded configuration.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// grpcStreamWorkers is how many goroutines the gRPC server keeps to run
// calls on. A call runs on an idle worker, whose stack has already grown
// to the depth of an SMS round trip (XML decoding, the cookie jar); only
// when all are busy does it get a new goroutine, whose stack then grows
// by copying, which took 4 % of the gateway's CPU under load
// (docs/benchmarks.md). Idle workers cost a stack each.
const grpcStreamWorkers = 64

// maxGRPCMessageBytes bounds a gRPC request message, as [rest.MaxBodyBytes]
// bounds a REST body.
const maxGRPCMessageBytes = 1 << 20

// Run serves the gateway configured by cfg until ctx is done, then shuts
// down gracefully. It returns an error when the configuration is refused,
// a listener cannot be bound, or a server fails.
func Run(ctx context.Context, cfg config.Config, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.configCheck <= 0 {
		o.configCheck = defaultConfigCheck
	}
	var out io.Writer = os.Stderr
	if o.logOutput != nil {
		out = o.logOutput
	}
	log := telemetry.NewLogger(cfg.LogFormat, cfg.LogLevel, out)
	// Refuse an insecure configuration before binding or dialling anything.
	if errs := cfg.Security.Validate(cfg.RealVCenters()); len(errs) > 0 {
		return errors.Join(errs...)
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("--grpc-addr %s: %w", cfg.GRPCAddr, err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("--http-addr %s: %w", cfg.HTTPAddr, err)
	}
	adminLis, err := listenAdmin(cfg)
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	if o.onListen != nil {
		a := Addrs{GRPC: grpcLis.Addr(), HTTP: httpLis.Addr()}
		if adminLis != nil {
			a.Admin = adminLis.Addr()
		}
		o.onListen(a)
	}
	return serve(ctx, cfg, o, log, grpcLis, httpLis, adminLis)
}

// serve runs the gateway on the given listeners until ctx is done. adminLis
// is nil when --admin-addr is empty.
func serve(ctx context.Context, cfg config.Config, o options, log *slog.Logger, grpcLis, httpLis, adminLis net.Listener) error {
	// Every way out closes the listeners; the servers close them too on a
	// normal stop, and a second Close is harmless.
	defer grpcLis.Close()
	defer httpLis.Close()
	if adminLis != nil {
		defer adminLis.Close()
	}
	var stdout io.Writer = os.Stdout
	if o.logOutput != nil {
		stdout = o.logOutput
	}
	tel, err := telemetry.New(ctx, log, telemetry.Options{Env: cfg.OTelEnv, Exporter: o.spanExporter, Stdout: stdout})
	if err != nil {
		return err
	}
	defer tel.Close()
	healthServer := health.NewServer()
	rd := &readiness{
		interval: cfg.HealthInterval,
		log:      log,
		health:   healthServer,
		onCheck:  tel.SetVCenterUp,
	}

	sec, err := newSecurity(ctx, cfg, o, log)
	if err != nil {
		return err
	}

	// The state the replicas share, when --redis-url is set (redis.go).
	store, stopStore, err := newRedisStore(cfg, log, healthServer, tel)
	if err != nil {
		return err
	}
	defer stopStore()
	var shared service.Shared
	if store != nil {
		shared = store
		sec.limits.shared = store
	}

	// One session, health check and metrics label per vCenter (vcenters.go).
	vcs := newVCenterSet(cfg, log, tel, rd)
	defer vcs.close()
	users, err := newUserSessions(vcs.session)
	if err != nil {
		return err
	}
	svc, err := service.New(service.Options{
		UserSessions:         users,
		TaskPollInterval:     cfg.TaskPollInterval,
		WatchLinger:          o.watchLinger,
		Shared:               shared,
		ProviderPollInterval: cfg.ProviderPollInterval,
		ProviderMaxAge:       cfg.ProviderMaxAge,
		Logger:               log,
	})
	if err != nil {
		return err
	}
	vcs.svc = svc
	if _, _, _, err := vcs.apply(cfg.VCenters); err != nil {
		svc.Close()
		return err
	}

	tel.ObserveWatches(svc)
	if sec.keyFileFailures != nil {
		tel.ObserveKeyFileFailures(sec.keyFileFailures)
	}
	tel.ObserveFleet(svc)

	// The gRPC server for the network, with the connection limits, and the
	// REST side's in-process channel to the same services through the same
	// interceptors, bounded by the REST listener's limits instead (see
	// [networkLimits]).
	telUnary, telStream := tel.GRPCServerInterceptors()
	unary := append(telUnary, sec.unaryInterceptors()...)
	stream := append(telStream, sec.streamInterceptors()...)
	serverOptions := []grpc.ServerOption{
		sec.grpcCredentials(),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.ConnectionTimeout(grpcConnectionTimeout),
		grpc.MaxRecvMsgSize(maxGRPCMessageBytes),
		grpc.MaxHeaderListSize(maxGRPCHeaderBytes),
		grpc.NumStreamWorkers(grpcStreamWorkers),
	}
	if h := tel.GRPCServerStatsHandler(); h != nil {
		serverOptions = append(serverOptions, grpc.StatsHandler(h))
	}
	perConn := &connStreams{max: int64(cfg.MaxStreamsPerConnection)}
	grpcServer := grpc.NewServer(append(serverOptions, networkLimits(cfg.Limits, perConn)...)...)
	svc.Register(grpcServer)
	healthpb.RegisterHealthServer(grpcServer, healthServer)
	reflection.Register(grpcServer)
	// The REST side reaches the services over the in-process channel, so
	// that streaming methods and interceptors work for REST callers too.
	conn := newInProcess(inProcessOptions{
		Unary:       unary,
		Stream:      stream,
		ServerStats: tel.GRPCServerStatsHandler(),
		ClientStats: tel.GRPCClientStatsHandler(),
		Seal:        sec.seal,
	})
	svc.Register(conn)

	grpcLimited := newLimitListener(grpcLis, "grpc", cfg.MaxConnections, log)
	httpLimited := newLimitListener(httpLis, "http", cfg.MaxConnections, log)
	grpcRefusals := newGRPCRefusalServer(sec.grpcCredentials(), grpcLimited.max)
	httpRefusals := newHTTPRefusalServer(httpLimited.max, log)
	tel.ObserveLimits(func() []telemetry.LimitStat {
		return append(sec.limits.stats(), perConn.stat(), grpcLimited.stat(), httpLimited.stat())
	})

	handler, err := restHandler(ctx, cfg, o, log, conn, tel, rd, sec, users, vcs.simulatorControls())
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: sec.readHeader,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: task streams stay open for as long as the task
		// runs; they carry keepalives and end on shutdown.
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveGRPC(grpcServer, grpcLimited, "grpc") })
	g.Go(func() error {
		if err := httpServer.Serve(sec.httpListener(httpLimited)); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error { return serveRefusals(grpcRefusals.Serve, grpcLimited.overflowListener()) })
	g.Go(func() error {
		return serveRefusals(httpRefusals.Serve, sec.httpListener(httpLimited.overflowListener()))
	})
	g.Go(func() error {
		vcs.watchConfig(gctx, o.configCheck, o.reload)
		return nil
	})
	g.Go(func() error { return serveAdmin(gctx, adminLis, adminHandler(tel, rd), log) })
	log.Info("vasagw serving", "grpc_addr", grpcLis.Addr().String(), "http_addr", httpLis.Addr().String())

	g.Go(func() error {
		<-gctx.Done()
		log.Info("vasagw shutting down")
		rd.shutdown()
		healthServer.Shutdown()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
		defer cancel()
		// Streams end first, with UNAVAILABLE, so their callers reconnect to
		// another replica; then the servers drain.
		svc.Close()
		grpcRefusals.Stop()
		httpRefusals.Close()
		if err := httpServer.Shutdown(sctx); err != nil {
			httpServer.Close()
		}
		stopped := make(chan struct{})
		go func() {
			grpcServer.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-sctx.Done():
			grpcServer.Stop()
			<-stopped
		}
		return nil
	})
	err = g.Wait()
	svc.Close()
	return err
}

// networkLimits are the gRPC listener's connection limits: at most
// MaxStreamsPerConnection concurrent streams (HTTP/2's
// SETTINGS_MAX_CONCURRENT_STREAMS; perConn measures it), a connection
// without a call for IdleTimeout sent away, server pings to find dead
// clients of open streams, and client pings no closer than
// KeepaliveMinTime (a client that pings more often is sent away with
// GOAWAY too_many_pings).
func networkLimits(l config.Limits, perConn *connStreams) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.StatsHandler(perConn),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.IdleTimeout,
			Time:              2 * time.Minute,
			Timeout:           20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.KeepaliveMinTime, PermitWithoutStream: true}),
	}
	if l.MaxStreamsPerConnection > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(l.MaxStreamsPerConnection)))
	}
	return opts
}

func serveGRPC(s *grpc.Server, l net.Listener, what string) error {
	if err := s.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve %s: %w", what, err)
	}
	return nil
}
