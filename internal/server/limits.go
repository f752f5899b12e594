package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/config"
)

// maxLimitedCallers bounds the per-caller rate limiters kept in memory;
// past it, limiters of callers that have been idle long enough to be back
// at a full burst are forgotten (they would start full anyway).
const maxLimitedCallers = 10_000

// callerLimits holds the per-caller limits: a cap on open streams and a
// token bucket on ReconnectProvider. Callers are told apart by
// [auth.Caller.String]. On a gateway without caller authentication every
// caller is "anonymous": they share the ReconnectProvider budget, but the
// stream cap does not apply to them, since one shared cap would let any 32
// watchers (a portal's open tabs) lock everyone else out of task progress.
type callerLimits struct {
	maxStreams int
	reconnect  config.Rate
	log        *slog.Logger

	mu       sync.Mutex
	streams  map[string]int
	limiters map[string]*rate.Limiter
}

func newCallerLimits(maxStreams int, reconnect config.Rate, log *slog.Logger) *callerLimits {
	return &callerLimits{
		maxStreams: maxStreams,
		reconnect:  reconnect,
		log:        log,
		streams:    make(map[string]int),
		limiters:   make(map[string]*rate.Limiter),
	}
}

// callerKey names the caller of ctx for the limits.
func callerKey(ctx context.Context) string {
	c, _ := auth.CallerFrom(ctx)
	return c.String()
}

// unary limits ReconnectProvider per caller: RESOURCE_EXHAUSTED with a
// RetryInfo saying when the next call would pass.
func (l *callerLimits) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != vasagwv1.VasaProviderService_ReconnectProvider_FullMethodName || l.reconnect.N == 0 {
			return handler(ctx, req)
		}
		key := callerKey(ctx)
		if wait := l.reserve(key, time.Now()); wait > 0 {
			l.log.WarnContext(ctx, "rate-limited ReconnectProvider", "caller", key, "limit", l.reconnect.String(), "retry_after", wait)
			return nil, rateLimited(l.reconnect, wait)
		}
		return handler(ctx, req)
	}
}

// reserve takes one call from the caller's bucket, or returns how long
// until one is available (taking nothing).
func (l *callerLimits) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	lim, ok := l.limiters[key]
	if !ok {
		if len(l.limiters) >= maxLimitedCallers {
			for k, other := range l.limiters {
				if other.TokensAt(now) >= float64(other.Burst()) {
					delete(l.limiters, k)
				}
			}
		}
		lim = rate.NewLimiter(rate.Limit(float64(l.reconnect.N)/l.reconnect.Per.Seconds()), l.reconnect.N)
		l.limiters[key] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return l.reconnect.Per
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// stream caps the streams a caller holds open at once.
func (l *callerLimits) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if l.maxStreams == 0 {
			return handler(srv, ss)
		}
		c, _ := auth.CallerFrom(ss.Context())
		if c == nil || c.Kind == auth.KindAnonymous {
			return handler(srv, ss)
		}
		key := c.String()
		if !l.openStream(key) {
			l.log.WarnContext(ss.Context(), "refused a stream: too many open", "caller", key, "limit", l.maxStreams)
			return tooManyStreams(l.maxStreams)
		}
		defer l.closeStream(key)
		return handler(srv, ss)
	}
}

func (l *callerLimits) openStream(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[key] >= l.maxStreams {
		return false
	}
	l.streams[key]++
	return true
}

func (l *callerLimits) closeStream(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[key]--; l.streams[key] <= 0 {
		delete(l.streams, key)
	}
}

// openStreams reports a caller's open streams (tests).
func (l *callerLimits) openStreams(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streams[key]
}

func rateLimited(r config.Rate, wait time.Duration) error {
	st := status.New(codes.ResourceExhausted, "too many ReconnectProvider calls from this caller; retry later")
	st, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: auth.Domain, Metadata: map[string]string{"limit": r.String()}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(wait.Round(time.Millisecond))},
	)
	if err != nil {
		return status.Error(codes.ResourceExhausted, "too many ReconnectProvider calls from this caller; retry later")
	}
	return st.Err()
}

func tooManyStreams(max int) error {
	st := status.New(codes.ResourceExhausted, "too many open streams for this caller; close one first")
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: "TOO_MANY_STREAMS", Domain: auth.Domain, Metadata: map[string]string{"limit": strconv.Itoa(max)}})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "too many open streams for this caller; close one first")
	}
	return st.Err()
}
