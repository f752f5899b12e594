// Package redisstore owns the gateway's state on Redis (or Valkey) that
// several replicas share: request_id records, the active task per
// provider, leases, the latest state of each watched task with its
// pub/sub channel, the per-caller reconnect rate (github.com/go-redis/redis_rate)
// and open-stream counts. It implements the interfaces internal/service
// declares ([service.Shared]) and the limits internal/server needs, and
// watches its own connection so that a caller is never held up by a
// Redis that is down: while [Store.Up] is false every call fails at once
// and the gateway goes on with its local state.
package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/vasagw/vasagw/internal/service"
)

// ErrUnavailable is what every call returns while Redis is unreachable.
var ErrUnavailable = errors.New("redis unavailable")

// Timeouts keep a call to an unreachable Redis short: a caller's request
// waits at most this long before the gateway goes on locally.
const (
	dialTimeout = 250 * time.Millisecond
	ioTimeout   = 250 * time.Millisecond
)

// Options configure a [Store].
type Options struct {
	// URL is redis://[user@]host:port[/db] or rediss:// (TLS).
	URL string
	// Password, when set, overrides any in the URL.
	Password string
	// KeyPrefix starts every key and channel.
	KeyPrefix string
	// TLS, for rediss://, overrides the default client configuration (the
	// system roots; tests pass their CA).
	TLS    *tls.Config
	Logger *slog.Logger
}

// Store is the shared state on one Redis.
type Store struct {
	c      *redis.Client
	prefix string
	owner  string // this replica's lease owner id
	log    *slog.Logger
	up     atomic.Bool
}

// New returns a Store for opts; it does not dial (see [Store.Monitor]).
// Errors never carry the URL or the password.
func New(opts Options) (*Store, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, errors.New("--redis-url: not a valid redis:// or rediss:// URL")
	}
	if opts.Password != "" {
		ro.Password = opts.Password
	}
	if ro.TLSConfig != nil && opts.TLS != nil {
		cfg := opts.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = ro.TLSConfig.ServerName
		}
		ro.TLSConfig = cfg
	}
	// go-redis prints pool dial failures on stderr through a process-wide
	// logger, outside the gateway's log format, every second while Redis
	// is down; the store reports reachability itself ([Store.Monitor], one
	// line per transition), so that logger is silenced.
	logging.Disable()
	ro.DialTimeout = dialTimeout
	ro.ReadTimeout = ioTimeout
	ro.WriteTimeout = ioTimeout
	ro.MaxRetries = 1
	ro.PoolTimeout = ioTimeout
	ro.ContextTimeoutEnabled = true
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Store{c: redis.NewClient(ro), prefix: opts.KeyPrefix, owner: hex.EncodeToString(b[:]), log: log}, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.c.Close() }

// Up reports whether the last check reached Redis.
func (s *Store) Up() bool { return s.up.Load() }

// Monitor pings Redis every interval until ctx ends, keeping [Store.Up]
// current; it calls onChange with the first result and at every
// transition it sees, and logs each transition. (A failed call marks
// Redis down at once, so that the next calls fail fast; the transition is
// reported here, at the next check.)
func (s *Store) Monitor(ctx context.Context, interval time.Duration, onChange func(up bool)) {
	first, reported := true, false
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, dialTimeout+ioTimeout)
		err := s.c.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		up := err == nil
		s.up.Store(up)
		if first || up != reported {
			if up {
				s.log.Info("redis reachable: sharing state with the other replicas")
			} else {
				s.log.Warn("redis unreachable: serving from local state", "error", safeError(err))
			}
			if onChange != nil {
				onChange(up)
			}
			reported = up
		}
		first = false
		t.Reset(interval)
	}
}

// safeError is a Redis error as logged: go-redis errors name the server
// address at most, never the password.
func safeError(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ready fails fast while Redis is known to be down.
func (s *Store) ready() error {
	if !s.up.Load() {
		return ErrUnavailable
	}
	return nil
}

// result turns a go-redis error into the store's: a connection failure
// marks Redis down at once, so that the next calls fail fast until the
// monitor sees it back.
func (s *Store) result(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	var re redis.Error
	if errors.As(err, &re) {
		return fmt.Errorf("redis: %w", err) // a reply error: Redis is up
	}
	if s.up.CompareAndSwap(true, false) {
		s.log.Debug("redis call failed: failing fast until the next check", "error", safeError(err))
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func (s *Store) key(parts ...string) string {
	return s.prefix + strings.Join(parts, ":")
}

// requestKey keeps a caller identity (which may hold ":") apart from the id.
func (s *Store) requestKey(k service.RequestKey) string {
	return s.key("req", strconv.Itoa(len(k.Caller)), k.Caller, k.RequestID)
}

// putIfAbsent stores ARGV[1] under KEYS[1] for ARGV[2] ms unless the key
// exists, and returns what the key holds afterwards.
var putIfAbsent = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
`)

// Get implements [service.RequestStore].
func (s *Store) Get(ctx context.Context, key service.RequestKey) (service.RequestRecord, bool, error) {
	if err := s.ready(); err != nil {
		return service.RequestRecord{}, false, err
	}
	b, err := s.c.Get(ctx, s.requestKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return service.RequestRecord{}, false, nil
	}
	if err != nil {
		return service.RequestRecord{}, false, s.result(err)
	}
	var rec service.RequestRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return service.RequestRecord{}, false, fmt.Errorf("decode request record: %w", err)
	}
	return rec, true, nil
}

// PutIfAbsent implements [service.RequestStore].
func (s *Store) PutIfAbsent(ctx context.Context, key service.RequestKey, rec service.RequestRecord, ttl time.Duration) (service.RequestRecord, error) {
	if err := s.ready(); err != nil {
		return service.RequestRecord{}, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return service.RequestRecord{}, err
	}
	got, err := putIfAbsent.Run(ctx, s.c, []string{s.requestKey(key)}, b, ttl.Milliseconds()).Text()
	if err != nil {
		return service.RequestRecord{}, s.result(err)
	}
	var out service.RequestRecord
	if err := json.Unmarshal([]byte(got), &out); err != nil {
		return service.RequestRecord{}, fmt.Errorf("decode request record: %w", err)
	}
	return out, nil
}

// ActiveTask implements [service.ActiveTasks].
func (s *Store) ActiveTask(ctx context.Context, key string) (string, bool, error) {
	if err := s.ready(); err != nil {
		return "", false, err
	}
	v, err := s.c.Get(ctx, s.key("active", key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.result(err)
	}
	return v, true, nil
}

// SetActiveTask implements [service.ActiveTasks].
func (s *Store) SetActiveTask(ctx context.Context, key, task string, ttl time.Duration) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.result(s.c.Set(ctx, s.key("active", key), task, ttl).Err())
}

// lease takes KEYS[1] for owner ARGV[1] for ARGV[2] ms when it is free, or
// extends it when ARGV[1] holds it; 1 when ARGV[1] holds it afterwards.
var lease = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// release deletes KEYS[1] if owner ARGV[1] holds it.
var release = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Lease implements [service.Leases].
func (s *Store) Lease(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	if err := s.ready(); err != nil {
		return false, err
	}
	n, err := lease.Run(ctx, s.c, []string{s.key("lease", name)}, s.owner, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, s.result(err)
	}
	return n == 1, nil
}

// Release implements [service.Leases].
func (s *Store) Release(ctx context.Context, name string) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.result(release.Run(ctx, s.c, []string{s.key("lease", name)}, s.owner).Err())
}

// publishTask stores (seq ARGV[1], data ARGV[2], resume ARGV[6]) in the
// hash KEYS[1] for ARGV[3] ms unless it holds a larger or equal seq, and
// then publishes ARGV[5] on the channel ARGV[4]; 1 when it stored.
var publishTask = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if tonumber(ARGV[1]) <= cur then
  return 0
end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'data', ARGV[2], 'resume', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// taskMessage is an update on the channel: "<seq> <key>\n<data>".
func taskMessage(u service.TaskUpdate) string {
	return strconv.FormatInt(u.Seq, 10) + " " + u.Key + "\n" + string(u.Data)
}

func parseTaskMessage(m string) (service.TaskUpdate, bool) {
	head, data, ok := strings.Cut(m, "\n")
	if !ok {
		return service.TaskUpdate{}, false
	}
	seq, key, ok := strings.Cut(head, " ")
	if !ok {
		return service.TaskUpdate{}, false
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n <= 0 || key == "" {
		return service.TaskUpdate{}, false
	}
	return service.TaskUpdate{Key: key, Seq: n, Data: []byte(data)}, true
}

// PublishTask implements [service.TaskFeed].
func (s *Store) PublishTask(ctx context.Context, u service.TaskUpdate, ttl time.Duration) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.result(publishTask.Run(ctx, s.c, []string{s.key("task", u.Key)},
		u.Seq, u.Data, max(ttl.Milliseconds(), 1), s.key("tasks"), taskMessage(u), u.Resume).Err())
}

// LatestTask implements [service.TaskFeed].
func (s *Store) LatestTask(ctx context.Context, key string) (service.TaskUpdate, bool, error) {
	if err := s.ready(); err != nil {
		return service.TaskUpdate{}, false, err
	}
	vals, err := s.c.HMGet(ctx, s.key("task", key), "seq", "data", "resume").Result()
	if err != nil {
		return service.TaskUpdate{}, false, s.result(err)
	}
	seq, _ := vals[0].(string)
	data, _ := vals[1].(string)
	resume, _ := vals[2].(string)
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return service.TaskUpdate{}, false, nil // none stored
	}
	u := service.TaskUpdate{Key: key, Seq: n, Data: []byte(data)}
	if resume != "" {
		u.Resume = []byte(resume)
	}
	return u, true, nil
}

// SubscribeTasks implements [service.TaskFeed]. go-redis re-subscribes by
// itself after a lost connection.
func (s *Store) SubscribeTasks(ctx context.Context, fn func(service.TaskUpdate)) {
	ps := s.c.Subscribe(ctx, s.key("tasks"))
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(5 * time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if u, ok := parseTaskMessage(m.Payload); ok {
				fn(u)
			}
		}
	}
}

var _ service.Shared = (*Store)(nil)
