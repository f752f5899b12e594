package server

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/store/redisstore"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// redisHealthService is the gRPC health service name that reports the
// shared Redis: SERVING while it is reachable.
const redisHealthService = "redis"

// redisCheckInterval is how often the gateway checks Redis: how soon it
// notices an outage (calls in between fail fast on their own) and how
// soon it shares again once Redis is back.
const redisCheckInterval = time.Second

// newRedisStore connects the replicas' shared state when --redis-url is
// set (nil when it is not) and starts its check, which keeps the health
// service "redis" and vasagw_redis_up current until stop, which also
// closes the store once the service no longer uses it.
func newRedisStore(cfg config.Config, log *slog.Logger, hs *health.Server, tel *telemetry.Telemetry) (st *redisstore.Store, stop func(), err error) {
	if cfg.RedisURL == "" {
		return nil, func() {}, nil
	}
	password, err := cfg.RedisPassword()
	if err != nil {
		return nil, nil, err
	}
	st, err = redisstore.New(redisstore.Options{URL: cfg.RedisURL, Password: password, KeyPrefix: cfg.RedisKeyPrefix, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	hs.SetServingStatus(redisHealthService, healthpb.HealthCheckResponse_NOT_SERVING)
	tel.ObserveRedis(st.Up)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Monitor(ctx, redisCheckInterval, func(up bool) {
			s := healthpb.HealthCheckResponse_NOT_SERVING
			if up {
				s = healthpb.HealthCheckResponse_SERVING
			}
			hs.SetServingStatus(redisHealthService, s)
		})
	}()
	return st, func() {
		cancel()
		<-done
		st.Close()
	}, nil
}
