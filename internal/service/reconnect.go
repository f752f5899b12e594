package service

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// reconnectTimeout bounds the upstream call that starts a shared reconnect;
// it runs detached from any one caller so that a caller giving up does not
// fail the others who joined it.
const reconnectTimeout = time.Minute

// reconnects de-duplicates ReconnectProvider across concurrent callers, by
// provider; request_ids are the [requestIDs] store's.
type reconnects struct {
	flight singleflight.Group

	mu     sync.Mutex
	active map[string]string // provider resource -> latest task id
}

func newReconnects() *reconnects {
	return &reconnects{active: make(map[string]string)}
}

func (r *reconnects) activeTask(provider string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.active[provider]
	return id, ok
}

func (r *reconnects) setActive(provider, taskID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[provider] = taskID
}

// providerFacts remembers, per provider, what the reconnect pre-check needs
// (the VASA version), so that a ReconnectProvider after a List or Get makes
// no extra round trip.
type providerFacts struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]providerFact
}

type providerFact struct {
	vasaVersion string
	expires     time.Time
}

func newProviderFacts(ttl time.Duration) *providerFacts {
	return &providerFacts{ttl: ttl, m: make(map[string]providerFact)}
}

func (f *providerFacts) remember(vcenterID string, p *vcenter.Provider) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[providerName{VCenter: vcenterID, Provider: p.ID}.String()] = providerFact{
		vasaVersion: p.VasaVersion,
		expires:     time.Now().Add(f.ttl),
	}
}

func (f *providerFacts) vasaVersion(name providerName) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fact, ok := f.m[name.String()]
	if !ok || time.Now().After(fact.expires) {
		return "", false
	}
	return fact.vasaVersion, true
}

// reconnect implements ReconnectProvider once the request is parsed.
func (s *Service) reconnect(ctx context.Context, name providerName, requestID string) (*vasagwv1.Task, error) {
	resource := name.String()
	up, err := s.upstream(name.VCenter, resource)
	if err != nil {
		return nil, err
	}
	prior, ok, err := s.requestIDs.prior(ctx, opReconnect, name.VCenter, resource, requestID)
	if err != nil {
		err = s.fail(ctx, err, name.VCenter, resource, "look up request id")
		s.audit(ctx, resource, "", requestID, "refused: "+status.Code(err).String())
		return nil, err
	}
	if ok {
		s.audit(ctx, resource, prior, requestID, "retried")
		return s.taskSnapshot(ctx, up, name.VCenter, prior)
	}

	version, known := s.providers.vasaVersion(name)
	if !known {
		info, err := s.provider(ctx, name)
		if err != nil {
			s.audit(ctx, resource, "", requestID, "refused: "+status.Code(err).String())
			return nil, err
		}
		version = info.VasaVersion
	}
	if !vasaSupportsReconnect(version) {
		err := vasaVersionUnsupported(name.VCenter, resource, version)
		s.audit(ctx, resource, "", requestID, "refused: "+status.Code(err).String())
		return nil, err
	}

	// A call in a user's own vCenter session shares only with that session.
	key := resource + s.opts.UserSessions.dedupKey(ctx)
	v, err, _ := s.reconnects.flight.Do(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reconnectTimeout)
		defer cancel()
		return s.startOrJoin(fctx, up, name, key)
	})
	if err != nil {
		s.gateway.noteReconnectFault(resource, err)
		err = s.fail(ctx, err, name.VCenter, resource, "reconnect provider")
		s.audit(ctx, resource, "", requestID, "failed: "+status.Code(err).String())
		return nil, err
	}
	got := v.(startedTask)
	taskID, err := s.requestIDs.remember(ctx, opReconnect, name.VCenter, resource, requestID, got.id)
	if err != nil {
		// The task runs; only this answer is refused (a concurrent call of
		// the same caller used the id for another target first) or, with a
		// shared store that failed, the id is not remembered.
		err = s.fail(ctx, err, name.VCenter, resource, "remember request id")
		s.audit(ctx, resource, got.id, requestID, "refused: "+status.Code(err).String())
		return nil, err
	}
	s.audit(ctx, resource, taskID, requestID, "started")
	if taskID == got.id && got.task != nil {
		return got.task, nil
	}
	return s.taskSnapshot(ctx, up, name.VCenter, taskID)
}

// startedTask is what one shared reconnect gives all who joined it: the
// task, and its state read once for all of them (nil when that read failed,
// so that each caller reads it again and gets the task's own error).
type startedTask struct {
	id   string
	task *vasagwv1.Task
}

// startOrJoin returns the provider's reconnect task that is still running
// (under the de-duplication key), or starts a new one, with the task's
// current state.
func (s *Service) startOrJoin(ctx context.Context, up Upstream, name providerName, key string) (startedTask, error) {
	if got, ok := s.joinActive(ctx, up, name, key); ok {
		return got, nil
	}
	// With replicas, one of them starts the task: the others wait for its
	// lease and join what it started.
	if release, waited := s.reconnectLease(ctx, key); release != nil {
		defer release()
		if waited {
			if got, ok := s.joinActive(ctx, up, name, key); ok {
				return got, nil
			}
		}
	}
	taskID, err := up.Reconnect(ctx, name.Provider)
	if err != nil {
		return startedTask{}, err
	}
	s.setActive(ctx, key, taskID)
	s.hub.kinds.set(hubKey{vcenter: name.VCenter, task: taskID}, vasagwv1.Task_KIND_RECONNECT)
	t, _ := s.snapshot(ctx, up, name.VCenter, taskID)
	return startedTask{id: taskID, task: t}, nil
}

// joinActive returns the provider's reconnect task under key that is
// still running, started by this replica or another.
func (s *Service) joinActive(ctx context.Context, up Upstream, name providerName, key string) (startedTask, bool) {
	taskID, ok := s.activeTask(ctx, key)
	if !ok {
		return startedTask{}, false
	}
	hk := hubKey{vcenter: name.VCenter, task: taskID}
	if _, done := s.hub.terminalSnapshot(hk); done {
		return startedTask{}, false
	}
	s.hub.kinds.set(hk, vasagwv1.Task_KIND_RECONNECT)
	t, err := s.snapshot(ctx, up, name.VCenter, taskID)
	if err != nil || terminal(t.GetState()) {
		return startedTask{}, false
	}
	return startedTask{id: taskID, task: t}, true
}

// activeTaskTTL is how long the shared store keeps a provider's active
// reconnect task; a finished one is seen as finished long before.
const activeTaskTTL = time.Hour

// reconnectLeaseTTL bounds how long a replica that died while starting a
// reconnect holds the others back.
const reconnectLeaseTTL = 10 * time.Second

// reconnectLeaseWait is how often a replica waiting for another's
// reconnect lease tries again.
const reconnectLeaseWait = 50 * time.Millisecond

// activeTask returns the task under key: the shared store's, or this
// replica's when there is none or it is unreachable.
func (s *Service) activeTask(ctx context.Context, key string) (string, bool) {
	if sh := s.opts.Shared; sh != nil {
		sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
		if id, ok, err := sh.ActiveTask(sctx, key); err == nil {
			return id, ok
		}
	}
	return s.reconnects.activeTask(key)
}

func (s *Service) setActive(ctx context.Context, key, taskID string) {
	s.reconnects.setActive(key, taskID)
	if sh := s.opts.Shared; sh != nil {
		sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
		if err := sh.SetActiveTask(sctx, key, taskID, activeTaskTTL); err != nil {
			s.log.Debug("reconnect: shared store unreachable, active task kept locally", "error", err)
		}
	}
}

// reconnectLease takes the cluster-wide lease on starting a reconnect under
// key, waiting while another replica holds it. It returns the release
// (nil without a shared store, or when the store is unreachable: this
// replica then goes on alone) and whether it had to wait.
func (s *Service) reconnectLease(ctx context.Context, key string) (release func(), waited bool) {
	sh := s.opts.Shared
	if sh == nil {
		return nil, false
	}
	name := "reconnect/" + key
	tick := time.NewTicker(reconnectLeaseWait)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		held, err := sh.Lease(sctx, name, reconnectLeaseTTL)
		cancel()
		if err != nil {
			return nil, waited
		}
		if held {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
				defer cancel()
				_ = sh.Release(rctx, name)
			}, waited
		}
		waited = true
		select {
		case <-ctx.Done():
			return nil, waited
		case <-tick.C:
		}
	}
}

// taskSnapshot returns a task's current state, or the caller-safe error.
func (s *Service) taskSnapshot(ctx context.Context, up Upstream, vcenterID, taskID string) (*vasagwv1.Task, error) {
	t, err := s.snapshot(ctx, up, vcenterID, taskID)
	if err != nil {
		return nil, s.fail(ctx, err, vcenterID, taskName{VCenter: vcenterID, Task: taskID}.String(), "get task")
	}
	return t, nil
}

// snapshot returns a task's current state: from the terminal cache when it
// has finished, else from vCenter (caching it when it has).
func (s *Service) snapshot(ctx context.Context, up Upstream, vcenterID, taskID string) (*vasagwv1.Task, error) {
	key := hubKey{vcenter: vcenterID, task: taskID}
	if t, ok := s.hub.terminalSnapshot(key); ok {
		return t, nil
	}
	info, err := up.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	t := s.hub.convert(key, info)
	if terminal(t.GetState()) {
		s.onTaskTerminal(vcenterID, t)
		s.hub.cacheTerminal(key, t)
	}
	return t, nil
}

// audit writes the one audit line per ReconnectProvider call, naming the
// caller the auth interceptor established.
func (s *Service) audit(ctx context.Context, provider, taskID, requestID, outcome string) {
	caller, _ := auth.CallerFrom(ctx)
	s.log.InfoContext(ctx, "audit: reconnect provider",
		"audit", true,
		"caller", caller.String(),
		"provider", provider,
		"task", taskID,
		"reconnect_request_id", requestID,
		"outcome", outcome,
	)
}

// vasaSupportsReconnect reports whether a provider's VASA version allows
// VasaProviderReconnect_Task (2.0 and later). A version the gateway cannot
// read is left for vCenter to judge.
func vasaSupportsReconnect(version string) bool {
	major, _, _ := strings.Cut(strings.TrimSpace(version), ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return true
	}
	return n >= 2
}
