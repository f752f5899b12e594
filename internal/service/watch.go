package service

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// subscriberQueue bounds the events buffered for one subscriber. When a
// subscriber falls this far behind, its oldest non-terminal event is
// dropped: the latest state wins and the terminal event is never lost.
const subscriberQueue = 8

// maxTerminalCached bounds the finished tasks kept for late readers.
const maxTerminalCached = 10_000

// pollTimeout bounds one upstream poll.
const pollTimeout = 30 * time.Second

// maxPollBackoff caps the delay between failed polls.
const maxPollBackoff = 10 * time.Second

// hubKey identifies a watched task.
type hubKey struct {
	vcenter string
	task    string
}

func (k hubKey) resource() string { return taskName{VCenter: k.vcenter, Task: k.task}.String() }

type hubOptions struct {
	// resolve returns the upstream of a vCenter now: polls follow a
	// vCenter that was replaced, and a removed one has none.
	resolve          func(vcenterID string) (Upstream, bool)
	interval         time.Duration
	linger           time.Duration
	terminalTTL      time.Duration
	unreachableAfter time.Duration
	logger           *slog.Logger
	// shared, when set, makes one poller per task cluster-wide: the
	// replica holding the task's lease polls and publishes, the others
	// follow (watch_shared.go).
	shared Shared
	// onTerminal, when set, runs once a poller sees its task finished,
	// before any subscriber is told (the fleet refreshes the provider the
	// task acted on).
	onTerminal func(vcenterID string, t *vasagwv1.Task)
}

// hub runs one poller per watched task, shared by all of the task's
// subscribers, so that a thousand watchers of a task cost vCenter one
// QuerySmsTaskInfo per interval. Finished tasks stay cached for late
// readers.
type hub struct {
	opts   hubOptions
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	polls  atomic.Int64
	kinds  taskKinds // what started each SmsTask

	mu       sync.Mutex
	closed   bool
	pollers  map[hubKey]*poller
	terminal map[hubKey]terminalEntry
	order    []hubKey // terminal cache keys, oldest first
}

type terminalEntry struct {
	task    *vasagwv1.Task
	expires time.Time
}

// event is one thing a subscriber is told: a task snapshot, or the error
// that ends its stream.
type event struct {
	task *vasagwv1.Task
	err  error
}

func (e event) final() bool { return e.err != nil || terminal(e.task.GetState()) }

func newHub(opts hubOptions) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hub{
		opts:     opts,
		ctx:      ctx,
		cancel:   cancel,
		pollers:  make(map[hubKey]*poller),
		terminal: make(map[hubKey]terminalEntry),
	}
	if opts.shared != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			opts.shared.SubscribeTasks(ctx, h.remoteUpdate)
		}()
	}
	return h
}

// subscribe starts watching a task. The subscription's first event is the
// current snapshot, as soon as there is one.
func (h *hub) subscribe(key hubKey) (*subscription, error) {
	return h.subscribeSource(key, nil)
}

// subscribeSource subscribes to the task key, polled upstream (an SmsTask)
// or followed from the gateway's own task gt.
func (h *hub) subscribeSource(key hubKey, gt *gatewayTask) (*subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, shuttingDown(key.vcenter, key.resource())
	}
	// Under h.mu, so that a vCenter removed from now on ends this watch in
	// endVCenter.
	if _, ok := h.opts.resolve(key.vcenter); !ok {
		return nil, unknownVCenter(key.vcenter, key.resource())
	}
	sub := &subscription{notify: make(chan struct{}, 1)}
	if e, ok := h.terminalLocked(key); ok {
		sub.push(event{task: e})
		return sub, nil
	}
	p, ok := h.pollers[key]
	if !ok {
		p = &poller{h: h, key: key, gt: gt, subs: make(map[*subscription]struct{}), wake: make(chan struct{}, 1), stop: make(chan struct{}), remote: make(chan TaskUpdate, remoteQueue)}
		h.pollers[key] = p
		h.wg.Add(1)
		go p.run()
	}
	p.add(sub)
	return sub, nil
}

// terminalSnapshot returns a finished task from the cache.
func (h *hub) terminalSnapshot(key hubKey) (*vasagwv1.Task, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.terminalLocked(key)
}

func (h *hub) terminalLocked(key hubKey) (*vasagwv1.Task, bool) {
	e, ok := h.terminal[key]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.task, true
}

// cacheTerminal remembers a finished task.
func (h *hub) cacheTerminal(key hubKey, t *vasagwv1.Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cacheTerminalLocked(key, t)
}

func (h *hub) cacheTerminalLocked(key hubKey, t *vasagwv1.Task) {
	now := time.Now()
	for len(h.order) > 0 {
		oldest := h.order[0]
		e, ok := h.terminal[oldest]
		if ok && len(h.order) < maxTerminalCached && !now.After(e.expires) {
			break
		}
		delete(h.terminal, oldest)
		h.order = h.order[1:]
	}
	if _, ok := h.terminal[key]; !ok {
		h.order = append(h.order, key)
	}
	h.terminal[key] = terminalEntry{task: t, expires: now.Add(h.opts.terminalTTL)}
}

// close ends every subscription with UNAVAILABLE and waits for the pollers.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// endVCenter ends the watches of a removed vCenter with NOT_FOUND
// VCENTER_NOT_FOUND, stops their pollers and forgets its finished tasks.
// The registry has already dropped the vCenter, so no new poller of it
// starts.
func (h *hub) endVCenter(id string) {
	h.mu.Lock()
	var ended []*poller
	for k, p := range h.pollers {
		if k.vcenter == id {
			delete(h.pollers, k)
			ended = append(ended, p)
		}
	}
	kept := h.order[:0]
	for _, k := range h.order {
		if k.vcenter == id {
			delete(h.terminal, k)
		} else {
			kept = append(kept, k)
		}
	}
	h.order = kept
	h.mu.Unlock()
	for _, p := range ended {
		p.publish(event{err: unknownVCenter(id, p.key.resource())})
		close(p.stop)
	}
}

// stats reports the running pollers and their subscribers.
func (h *hub) stats() (pollers, subscribers int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pollers {
		p.mu.Lock()
		subscribers += len(p.subs)
		p.mu.Unlock()
	}
	return len(h.pollers), subscribers
}

// poller polls one task for all of its subscribers.
type poller struct {
	h    *hub
	key  hubKey
	gt   *gatewayTask  // set for a task the gateway runs itself
	wake chan struct{} // a subscriber arrived
	stop chan struct{} // closed when its vCenter was removed
	// remote carries the task's states other replicas published; seq is
	// the largest Seq seen or published, holding whether this replica
	// held the task's lease at its last turn (both the poller's own).
	remote  chan TaskUpdate
	seq     int64
	holding bool

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	latest *vasagwv1.Task
	final  *event
}

// add attaches a subscriber and gives it what is known so far. Called with
// h.mu held, so the poller cannot retire concurrently.
func (p *poller) add(sub *subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sub.p = p
	p.subs[sub] = struct{}{}
	if p.latest != nil {
		sub.push(event{task: p.latest})
	}
	if p.final != nil && p.final.err != nil {
		sub.push(*p.final)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *poller) remove(sub *subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.subs, sub)
}

// publish sends an event to every subscriber.
func (p *poller) publish(ev event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.task != nil {
		p.latest = ev.task
	}
	if ev.final() {
		p.final = &ev
	}
	for sub := range p.subs {
		sub.push(ev)
	}
}

func (p *poller) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs) == 0
}

// run polls until the task is terminal, the task is gone, vCenter stays
// unreachable, the last subscriber has left (after the linger), or the hub
// closes.
func (p *poller) run() {
	defer p.h.wg.Done()
	if p.gt != nil {
		p.follow()
		return
	}
	defer p.release()
	h := p.h
	var (
		failures     int
		failingSince time.Time
		delay        time.Duration // the first poll is immediate
	)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		if p.idle() {
			if p.retireIfIdle() {
				return
			}
		}
		select {
		case <-h.ctx.Done():
			p.finish(event{err: shuttingDown(p.key.vcenter, p.key.resource())}, nil)
			return
		case <-p.stop:
			return
		case u := <-p.remote:
			if t := p.accept(u); t != nil && p.deliver(t) {
				return
			}
			continue
		case <-timer.C:
		}

		if h.opts.shared != nil {
			t, following := p.followShared()
			if t != nil && p.deliver(t) {
				return
			}
			if following {
				timer.Reset(jitter(h.opts.interval / 2))
				continue
			}
		}
		info, err := p.poll()
		select {
		case <-p.stop:
			return
		default:
		}
		if err != nil && h.ctx.Err() != nil {
			p.finish(event{err: shuttingDown(p.key.vcenter, p.key.resource())}, nil)
			return
		}
		if err != nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			failures++
			if !transient(err) || time.Since(failingSince) >= h.opts.unreachableAfter {
				h.opts.logger.Warn("watch task: poll failed, ending watch", "resource", p.key.resource(), "error", err)
				p.finish(event{err: err}, nil)
				return
			}
			h.opts.logger.Debug("watch task: poll failed, retrying", "resource", p.key.resource(), "attempt", failures, "error", err)
			timer.Reset(backoff(h.opts.interval, failures))
			continue
		}
		failures, failingSince = 0, time.Time{}

		t := h.convert(p.key, info)
		if terminal(t.GetState()) && h.opts.onTerminal != nil {
			h.opts.onTerminal(p.key.vcenter, t) // before anyone is told
		}
		p.mu.Lock()
		if t.Kind == vasagwv1.Task_KIND_UNSPECIFIED && p.latest != nil {
			t.Kind = p.latest.Kind // started on another replica
		}
		changed := p.latest == nil || !proto.Equal(p.latest, t)
		p.mu.Unlock()
		if changed {
			p.share(t)
		}
		if terminal(t.GetState()) {
			p.finish(event{task: t}, t)
			return
		}
		if changed {
			p.publish(event{task: t})
		}
		timer.Reset(jitter(h.opts.interval))
	}
}

func (p *poller) poll() (*vcenter.TaskInfo, error) {
	up, ok := p.h.opts.resolve(p.key.vcenter)
	if !ok {
		return nil, unknownVCenter(p.key.vcenter, p.key.resource())
	}
	p.h.polls.Add(1)
	ctx, cancel := context.WithTimeout(p.h.ctx, pollTimeout)
	defer cancel()
	return up.Task(ctx, p.key.task)
}

// retireIfIdle waits out the linger with no subscriber and, if none came,
// removes the poller. It returns false as soon as a subscriber arrives.
func (p *poller) retireIfIdle() bool {
	h := p.h
	linger := time.NewTimer(h.opts.linger)
	defer linger.Stop()
	for {
		select {
		case <-h.ctx.Done():
			p.finish(event{err: shuttingDown(p.key.vcenter, p.key.resource())}, nil)
			return true
		case <-p.stop:
			return true
		case <-p.wake:
			if !p.idle() {
				return false
			}
		case <-linger.C:
			h.mu.Lock()
			defer h.mu.Unlock()
			if !p.idle() {
				return false
			}
			delete(h.pollers, p.key)
			return true
		}
	}
}

// finish publishes the final event, caches a terminal task, and retires the
// poller, atomically with respect to new subscribers.
func (p *poller) finish(ev event, terminalTask *vasagwv1.Task) {
	h := p.h
	h.mu.Lock()
	// A poller no longer in the map belongs to a removed vCenter, whose
	// tasks are not cached.
	if h.pollers[p.key] == p {
		delete(h.pollers, p.key)
		if terminalTask != nil {
			h.cacheTerminalLocked(p.key, terminalTask)
		}
	}
	h.mu.Unlock()
	p.publish(ev)
}

// transient reports whether a failed poll is worth retrying rather than
// ending the watch.
func transient(err error) bool {
	if errors.Is(err, vcenter.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, vcenter.ErrClosed) {
		// The vCenter was replaced while the poll was under way: the next
		// poll goes to its new session.
		return true
	}
	var f *vcenter.Fault
	if errors.As(err, &f) {
		switch f.TypeName {
		case "ProviderBusy", "ServiceNotInitialized", "Timedout", "HostCommunication", "RequestCanceled":
			return true
		}
	}
	return false
}

// backoff doubles the poll interval per consecutive failure, with jitter,
// up to maxPollBackoff.
func backoff(interval time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < maxPollBackoff; i++ {
		d *= 2
	}
	return jitter(min(d, maxPollBackoff))
}

// jitter spreads d by ±10% so that many pollers do not poll in lock-step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread))
}

// subscription is one watcher's view of a poller: a bounded queue of
// events and a notification channel.
type subscription struct {
	p      *poller
	notify chan struct{}

	mu    sync.Mutex
	queue []event
}

// push queues an event, dropping the oldest non-final one when the queue is
// full.
func (s *subscription) push(ev event) {
	s.mu.Lock()
	if len(s.queue) >= subscriberQueue {
		for i, q := range s.queue {
			if !q.final() {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				break
			}
		}
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// drain takes every queued event.
func (s *subscription) drain() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// close detaches the subscriber; the poller lingers, then stops, when it
// was the last.
func (s *subscription) close() {
	if s.p == nil {
		return
	}
	s.p.remove(s)
	select {
	case s.p.wake <- struct{}{}:
	default:
	}
}
