package server

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/telemetry"
)

// maxLimitedCallers bounds the per-caller rate limiters kept in memory;
// past it, limiters of callers that have been idle long enough to be back
// at a full burst are forgotten (they would start full anyway).
const maxLimitedCallers = 10_000

// streamCaps are the stream limits that interceptors enforce (the limit
// per connection is HTTP/2's, see [connStreams]); 0 switches one off.
type streamCaps struct {
	perCaller      int // per authenticated caller
	perAnonymousIP int // per address of anonymous callers
	public         int // all streams of the public services together
}

// callerLimits holds the per-caller limits, a cap on open streams and a
// token bucket on ReconnectProvider, and the global budget of public
// streams. Authenticated callers are told apart by [auth.Caller.String].
// Anonymous callers (every caller of a gateway without authentication,
// and every caller of health and reflection) are told apart by address,
// as [anonymousKey] spells it: one shared cap would let a few open portal
// tabs lock every other watcher of an open demo out, and no cap at all let
// 80,000 health watches from one client take a gigabyte. The
// ReconnectProvider budget stays shared by all anonymous callers.
type callerLimits struct {
	caps      streamCaps
	reconnect config.Rate
	log       *slog.Logger
	// shared, when set, holds the limits of authenticated callers across
	// the replicas; while it fails the local ones apply.
	shared sharedLimits

	mu       sync.Mutex
	streams  map[string]int // caller or anonymous address -> open streams
	public   int            // open streams of the public services
	limiters map[string]*rate.Limiter

	refusedCaller, refusedAnonymous, refusedPublic atomic.Int64
}

func newCallerLimits(caps streamCaps, reconnect config.Rate, log *slog.Logger) *callerLimits {
	return &callerLimits{
		caps:      caps,
		reconnect: reconnect,
		log:       log,
		streams:   make(map[string]int),
		limiters:  make(map[string]*rate.Limiter),
	}
}

// unary limits ReconnectProvider per caller: RESOURCE_EXHAUSTED with a
// RetryInfo saying when the next call would pass.
func (l *callerLimits) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != vasagwv1.VasaProviderService_ReconnectProvider_FullMethodName || l.reconnect.N == 0 {
			return handler(ctx, req)
		}
		c, _ := auth.CallerFrom(ctx)
		key := c.String() // every anonymous caller shares "anonymous"
		if wait := l.take(ctx, key); wait > 0 {
			l.log.WarnContext(ctx, "rate-limited ReconnectProvider", "caller", key, "limit", l.reconnect.String(), "retry_after", wait)
			return nil, rateLimited(l.reconnect, wait)
		}
		return handler(ctx, req)
	}
}

// take takes one call from the caller's bucket: the replicas' shared one,
// or this replica's while that is unreachable.
func (l *callerLimits) take(ctx context.Context, key string) time.Duration {
	if l.shared != nil {
		sctx, cancel := context.WithTimeout(ctx, sharedLimitTimeout)
		wait, err := l.shared.Allow(sctx, key, l.reconnect.N, l.reconnect.Per)
		cancel()
		if err == nil {
			return wait
		}
	}
	return l.reserve(key, time.Now())
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

// stream enforces the public budget and the per-caller stream caps.
func (l *callerLimits) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		if l.caps.public > 0 && isPublicMethod(info.FullMethod) {
			if !l.openPublic() {
				l.refusedPublic.Add(1)
				l.log.WarnContext(ctx, "refused a stream: the public stream budget is used up", "method", info.FullMethod, "limit", l.caps.public)
				return tooManyPublicStreams(l.caps.public)
			}
			defer l.closePublic()
		}
		key, max, anonymous := l.streamKey(ctx)
		if max == 0 {
			return handler(srv, ss)
		}
		if !anonymous {
			if done, ok, err := l.openShared(ctx, key, max); err == nil {
				if !ok {
					l.refusedCaller.Add(1)
					l.log.WarnContext(ctx, "refused a stream: too many open across the replicas", "caller", key, "limit", max)
					return tooManyStreams(max, false)
				}
				defer done()
				return handler(srv, ss)
			}
		}
		if !l.openStream(key, max) {
			if anonymous {
				l.refusedAnonymous.Add(1)
			} else {
				l.refusedCaller.Add(1)
			}
			l.log.WarnContext(ctx, "refused a stream: too many open", "caller", key, "limit", max)
			return tooManyStreams(max, anonymous)
		}
		defer l.closeStream(key)
		return handler(srv, ss)
	}
}

// streamKey returns what the streams of ctx's caller count under, and the
// cap that applies.
func (l *callerLimits) streamKey(ctx context.Context) (key string, max int, anonymous bool) {
	c, _ := auth.CallerFrom(ctx)
	if c == nil || c.Kind == auth.KindAnonymous {
		return anonymousKey(ctx), l.caps.perAnonymousIP, true
	}
	return c.String(), l.caps.perCaller, false
}

// isPublicMethod reports whether a method belongs to a service anyone may
// call ([publicMethods]).
func isPublicMethod(method string) bool {
	for _, p := range publicMethods {
		if method == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(method, p)) {
			return true
		}
	}
	return false
}

// anonymousKey names an anonymous caller by address: "anonymous@" + the IP
// (an IPv6 address by its /64, which one host is commonly given whole). A
// REST caller's address is the one the REST side forwarded over the
// in-process connection ([clientAddrMetadataKey]), trusted on that
// connection only.
func anonymousKey(ctx context.Context) string {
	addr := ""
	if isInProcess(ctx) {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(clientAddrMetadataKey); len(v) == 1 {
				addr = v[0]
			}
		}
	} else if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "anonymous@unknown"
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		prefix, _ := ip.Prefix(64)
		return "anonymous@" + prefix.String()
	}
	return "anonymous@" + ip.String()
}

func (l *callerLimits) openPublic() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.public >= l.caps.public {
		return false
	}
	l.public++
	return true
}

func (l *callerLimits) closePublic() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.public--
}

func (l *callerLimits) openStream(key string, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[key] >= max {
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

// stats reports the stream limits for the metrics.
func (l *callerLimits) stats() []telemetry.LimitStat {
	l.mu.Lock()
	var caller, anonymous int64
	for k, n := range l.streams {
		if strings.HasPrefix(k, "anonymous@") {
			anonymous += int64(n)
		} else {
			caller += int64(n)
		}
	}
	public := int64(l.public)
	l.mu.Unlock()
	return []telemetry.LimitStat{
		{Limit: "public_streams", InUse: public, Max: int64(l.caps.public), Refused: l.refusedPublic.Load()},
		{Limit: "caller_streams", InUse: caller, Max: int64(l.caps.perCaller), Refused: l.refusedCaller.Load()},
		{Limit: "anonymous_ip_streams", InUse: anonymous, Max: int64(l.caps.perAnonymousIP), Refused: l.refusedAnonymous.Load()},
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

func tooManyStreams(max int, anonymous bool) error {
	msg := "too many open streams for this caller; close one first"
	scope := "caller"
	if anonymous {
		msg = "too many open streams from this address; close one first"
		scope = "anonymousAddress"
	}
	return limitError("TOO_MANY_STREAMS", msg, map[string]string{"limit": strconv.Itoa(max), "scope": scope})
}

func tooManyPublicStreams(max int) error {
	return limitError("TOO_MANY_PUBLIC_STREAMS", "the gateway's budget of health and reflection streams is used up; retry later",
		map[string]string{"limit": strconv.Itoa(max)})
}

// limitError is RESOURCE_EXHAUSTED with an ErrorInfo: the answer of every
// limit (HTTP 429 over REST).
func limitError(reason, msg string, md map[string]string) error {
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: auth.Domain, Metadata: md})
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}
