package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// defaultVCenter is the id of the vCenter configured by flags.
const defaultVCenter = "default"

// grpcStreamWorkers is how many goroutines the gRPC server keeps to run
// calls on. A call runs on an idle worker, whose stack has already grown
// to the depth of an SMS round trip (XML decoding, the cookie jar); only
// when all are busy does it get a new goroutine, whose stack then grows
// by copying, which took 4 % of the gateway's CPU under load
// (docs/benchmarks.md). Idle workers cost a stack each.
const grpcStreamWorkers = 64

// run serves the gateway until ctx is done, then shuts down gracefully.
func run(ctx context.Context, cfg Config) error {
	var out io.Writer = os.Stderr
	if cfg.logOutput != nil {
		out = cfg.logOutput
	}
	log := newLogger(cfg, out)
	// Refuse an insecure configuration before binding or dialling anything.
	if errs := cfg.SecurityConfig.validate(cfg.VCenterURL != ""); len(errs) > 0 {
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
	if cfg.onListen != nil {
		cfg.onListen(grpcLis.Addr(), httpLis.Addr())
	}
	return serve(ctx, cfg, log, grpcLis, httpLis, adminLis)
}

// serve runs the gateway on the given listeners until ctx is done. adminLis
// is nil when --admin-addr is empty.
func serve(ctx context.Context, cfg Config, log *slog.Logger, grpcLis, httpLis, adminLis net.Listener) error {
	// Every way out closes the listeners; the servers close them too on a
	// normal stop, and a second Close is harmless.
	defer grpcLis.Close()
	defer httpLis.Close()
	if adminLis != nil {
		defer adminLis.Close()
	}
	op, err := newOps(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer op.close()
	rawUp, closeUpstream, err := newUpstream(cfg, log, op.metrics.onLogin(defaultVCenter))
	if err != nil {
		return err
	}
	defer closeUpstream()
	up := op.instrumentUpstream(rawUp)

	sec, err := newSecurity(ctx, cfg, log)
	if err != nil {
		return err
	}

	svc, err := service.New(service.Options{
		VCenters:         map[string]service.Upstream{defaultVCenter: up},
		TaskPollInterval: cfg.TaskPollInterval,
		WatchLinger:      cfg.watchLinger,
		Logger:           log,
	})
	if err != nil {
		return err
	}

	op.observeService(svc)

	grpcServer := grpc.NewServer(append(op.grpcServerOptions(),
		grpc.ChainUnaryInterceptor(requestIDUnary(log)),
		grpc.ChainStreamInterceptor(requestIDStream(log)),
		sec.grpcCredentials(),
		sec.unaryInterceptors(),
		sec.streamInterceptors(),
		grpc.ConnectionTimeout(grpcConnectionTimeout),
		grpc.MaxRecvMsgSize(maxBodyBytes),
		grpc.MaxHeaderListSize(maxGRPCHeaderBytes),
		grpc.NumStreamWorkers(grpcStreamWorkers),
	)...)
	svc.Register(grpcServer)
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(grpcServer, healthServer)
	reflection.Register(grpcServer)

	// The REST facade reaches the gRPC server over an in-process connection,
	// so that streaming methods and interceptors work for REST callers too.
	inproc := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///vasagw-inprocess", append(op.grpcDialOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		sec.sealUnary(),
		sec.sealStream(),
	)...)
	if err != nil {
		return fmt.Errorf("in-process gRPC client: %w", err)
	}
	defer conn.Close()
	handler, err := newHTTPHandler(ctx, cfg, log, conn)
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		// Metrics, spans, /readyz and /openapi.json sit outside caller
		// authentication: probes and scrapes of refused calls still work.
		Handler:           op.restHandler(sec.restHandler(handler)),
		ReadHeaderTimeout: sec.readHeader,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: task streams stay open for as long as the task
		// runs; they carry keepalives and end on shutdown.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveGRPC(grpcServer, grpcLis, "grpc") })
	g.Go(func() error { return serveGRPC(grpcServer, inProcessListener{inproc}, "in-process") })
	g.Go(func() error {
		if err := httpServer.Serve(sec.httpListener(httpLis)); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		op.watchHealth(gctx, healthServer, up)
		return nil
	})
	g.Go(func() error { return op.serveAdmin(gctx, adminLis) })
	log.Info("vasagw serving", "grpc_addr", grpcLis.Addr().String(), "http_addr", httpLis.Addr().String())

	g.Go(func() error {
		<-gctx.Done()
		log.Info("vasagw shutting down")
		healthServer.Shutdown()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
		defer cancel()
		// Streams end first, with UNAVAILABLE, so their callers reconnect to
		// another replica; then the servers drain.
		svc.Close()
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

func serveGRPC(s *grpc.Server, l net.Listener, what string) error {
	if err := s.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve %s: %w", what, err)
	}
	return nil
}

// upstream is what the gateway needs of a vCenter session beyond the
// service's needs.
type upstream interface {
	service.Upstream
	Ping(ctx context.Context) error
}

// newUpstream returns the session to the configured vCenter, or to an
// embedded SMS simulator when none is configured.
func newUpstream(cfg Config, log *slog.Logger, onLogin func(error)) (upstream, func(), error) {
	if cfg.VCenterURL == "" {
		sim, err := smssim.Start(smssim.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("start the embedded SMS simulator: %w", err)
		}
		log.Info("no --vcenter-url: serving the embedded SMS simulator (demo data, not a real vCenter)", "simulator_url", sim.URL.String())
		pw := sim.Password
		s, err := vcenter.NewSession(vcenter.SessionConfig{
			URL:      sim.URL,
			Username: sim.Username,
			Password: func() (string, error) { return pw, nil },
			CAFile:   sim.CAFile,
			OnLogin:  onLogin,
			Logger:   log,
		})
		if err != nil {
			sim.Close()
			return nil, nil, err
		}
		return s, func() {
			closeSession(s, log)
			sim.Close()
		}, nil
	}
	u, err := url.Parse(cfg.VCenterURL)
	if err != nil {
		return nil, nil, fmt.Errorf("--vcenter-url: %w", err)
	}
	if cfg.VCenterInsecure {
		log.Warn("--vcenter-insecure: vCenter's certificate is not verified; anyone on the network path can read the vCenter credentials")
	}
	s, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:        u,
		Username:   cfg.VCenterUsername,
		Password:   cfg.passwordFunc(),
		CAFile:     cfg.VCenterCAFile,
		Thumbprint: cfg.VCenterThumbprint,
		Insecure:   cfg.VCenterInsecure,
		OnLogin:    onLogin,
		Logger:     log,
	})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { closeSession(s, log) }, nil
}

func closeSession(s *vcenter.Session, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		log.Warn("close the vCenter session", "error", err)
	}
}
