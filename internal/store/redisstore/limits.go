package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// This file holds the per-caller limits shared by the replicas: the
// ReconnectProvider rate (a GCRA bucket per caller, redis_rate) and the
// open-stream cap (a sorted set per caller of its open streams, each with
// an expiry that the replica holding the stream keeps moving: a replica
// that dies stops counting against its callers within [StreamTTL]).

// StreamTTL is how long an open stream counts without its replica
// refreshing it; replicas refresh every third of it.
const StreamTTL = 30 * time.Second

// Allow takes one call from caller's bucket of n calls per period, shared
// by every replica. It returns 0 when the call may go ahead, else how long
// until one would.
func (s *Store) Allow(ctx context.Context, caller string, n int, per time.Duration) (time.Duration, error) {
	if err := s.ready(); err != nil {
		return 0, err
	}
	lim := redis_rate.NewLimiter(s.c)
	res, err := lim.Allow(ctx, s.key("rate", strconv.Itoa(len(caller)), caller), redis_rate.Limit{Rate: n, Burst: n, Period: per})
	if err != nil {
		return 0, s.result(err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return max(res.RetryAfter, time.Millisecond), nil
}

// openStream drops the expired members of KEYS[1], then adds ARGV[2] with
// an expiry ARGV[3] ms from now unless ARGV[1] members remain; 1 when added.
var openStream = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// refreshStream moves the expiry of the member ARGV[1] of KEYS[1], if it is
// still there, to ARGV[2] ms from now.
var refreshStream = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

func (s *Store) streamsKey(caller string) string {
	return s.key("streams", strconv.Itoa(len(caller)), caller)
}

// streamMember names one stream of this replica.
func (s *Store) streamMember(id string) string { return s.owner + "/" + id }

// OpenStream counts stream id of caller across the replicas, unless the
// caller holds max open streams already (it returns false then).
func (s *Store) OpenStream(ctx context.Context, caller, id string, max int) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	n, err := openStream.Run(ctx, s.c, []string{s.streamsKey(caller)}, max, s.streamMember(id), StreamTTL.Milliseconds()).Int()
	if err != nil {
		return false, s.result(err)
	}
	return n == 1, nil
}

// RefreshStream keeps stream id of caller counted for another [StreamTTL].
func (s *Store) RefreshStream(ctx context.Context, caller, id string) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.result(refreshStream.Run(ctx, s.c, []string{s.streamsKey(caller)}, s.streamMember(id), StreamTTL.Milliseconds()).Err())
}

// CloseStream stops counting stream id of caller.
func (s *Store) CloseStream(ctx context.Context, caller, id string) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.result(s.c.ZRem(ctx, s.streamsKey(caller), s.streamMember(id)).Err())
}
