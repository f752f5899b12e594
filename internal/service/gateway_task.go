package service

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// This file holds the tasks the gateway runs itself (a register that may
// resend a confirmed certificate, a recovery): their ids, their state and
// steps, and how the watch hub follows them. Such a task is served by
// GetTask and WatchTask exactly like an SmsTask: the hub's poller for it
// waits for the task's own changes instead of polling vCenter, and feeds the
// same subscriber queues.

// gatewayTaskPrefix starts the id of every task the gateway runs itself. An
// SmsTask moId never starts with it ("SmsTask-12" upstream), and the id is a
// valid name segment (letters, digits and "-").
const gatewayTaskPrefix = "vasagw-"

// maxGatewayTasks bounds the gateway tasks kept in memory; the oldest
// finished ones go first. A running task is never dropped.
const maxGatewayTasks = 10_000

// maxTaskVersions bounds the snapshots one gateway task keeps for its
// follower; a recovery has about a dozen.
const maxTaskVersions = 64

// isGatewayTaskID reports whether a task id names a task the gateway runs
// itself rather than an SmsTask.
func isGatewayTaskID(id string) bool { return strings.HasPrefix(id, gatewayTaskPrefix) }

// newGatewayTaskID returns a fresh id: the prefix and a random UUID (v4).
func newGatewayTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s%x-%x-%x-%x-%x", gatewayTaskPrefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// gatewayTask is one task the gateway runs. Its state is changed only
// through [gatewayTask.update], which records every change as an immutable
// snapshot, in order, and wakes the task's follower in the hub.
type gatewayTask struct {
	id      string
	vcenter string
	key     hubKey

	mu       sync.Mutex
	cur      *vasagwv1.Task   // the working copy, changed under mu
	versions []*vasagwv1.Task // snapshots, oldest first; never changed once added
	base     int              // sequence number of versions[0]
	changed  chan struct{}    // closed at the next change
	ended    time.Time        // zero while running

	// recovery is what a recovery needs to run and resume (no secret); nil
	// for a register. Set before the task starts, never changed.
	recovery *recoveryPlan
	// state is what a running recovery learnt; guarded by mu.
	state recoveryState
	// next is the id of the attempt that resumed this failed one, "" if none.
	next string
	// onEnd, when set, runs once as the task turns terminal, before anyone
	// can see it (the fleet refreshes the providers it names).
	onEnd func(vcenterID string, t *vasagwv1.Task)
}

func newGatewayTask(vcenterID string, kind vasagwv1.Task_Kind, target string, steps ...vasagwv1.TaskStep_Kind) *gatewayTask {
	id := newGatewayTaskID()
	t := &vasagwv1.Task{
		Name:      taskName{VCenter: vcenterID, Task: id}.String(),
		Target:    target,
		State:     vasagwv1.Task_STATE_RUNNING,
		Kind:      kind,
		StartTime: timestamppb.Now(),
	}
	for _, k := range steps {
		t.Steps = append(t.Steps, &vasagwv1.TaskStep{Kind: k, State: vasagwv1.Task_STATE_QUEUED})
	}
	gt := &gatewayTask{
		id:      id,
		vcenter: vcenterID,
		key:     hubKey{vcenter: vcenterID, task: id},
		cur:     t,
		changed: make(chan struct{}),
	}
	gt.versions = []*vasagwv1.Task{proto.CloneOf(t)}
	return gt
}

// update applies fn to the task and publishes the result as a new snapshot.
// A task that reached a terminal state does not change again.
func (g *gatewayTask) update(fn func(t *vasagwv1.Task)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if terminal(g.cur.GetState()) {
		return
	}
	fn(g.cur)
	if terminal(g.cur.GetState()) {
		g.ended = time.Now()
		if g.cur.CompletionTime == nil {
			g.cur.CompletionTime = timestamppb.New(g.ended)
		}
		if g.onEnd != nil {
			g.onEnd(g.vcenter, proto.CloneOf(g.cur))
		}
	}
	g.versions = append(g.versions, proto.CloneOf(g.cur))
	if drop := len(g.versions) - maxTaskVersions; drop > 0 {
		clear(g.versions[:drop])
		g.versions = g.versions[drop:]
		g.base += drop
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

// snapshot returns the task as it is now. The caller must not change it.
func (g *gatewayTask) snapshot() *vasagwv1.Task {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.versions[len(g.versions)-1]
}

// since returns the snapshots after sequence number seq (all kept ones when
// seq < 0), the sequence number of the last one, and a channel closed at the
// next change.
func (g *gatewayTask) since(seq int) ([]*vasagwv1.Task, int, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	last := g.base + len(g.versions) - 1
	from := max(seq+1-g.base, 0)
	if from > len(g.versions) {
		from = len(g.versions)
	}
	return g.versions[from:], last, g.changed
}

// step changes step i (state, SmsTask, error, times) and, when fn is not
// nil, the task itself, as one change.
func (g *gatewayTask) step(i int, state vasagwv1.Task_State, smsTask string, fn func(t *vasagwv1.Task)) {
	g.update(func(t *vasagwv1.Task) {
		s := t.Steps[i]
		now := timestamppb.Now()
		if s.State == vasagwv1.Task_STATE_QUEUED && state != vasagwv1.Task_STATE_QUEUED {
			s.StartTime = now
		}
		s.State = state
		if smsTask != "" {
			s.Task = taskName{VCenter: g.vcenter, Task: smsTask}.String()
		}
		if terminal(state) {
			s.CompletionTime = now
		}
		if fn != nil {
			fn(t)
		}
	})
}

// gatewayTasks holds the gateway's tasks and runs them: each task's work is
// one goroutine, stopped by close.
type gatewayTasks struct {
	ttl    time.Duration
	shared Shared                                   // nil: this replica only (gateway_shared.go)
	onEnd  func(vcenterID string, t *vasagwv1.Task) // see gatewayTask.onEnd
	flight singleflight.Group                       // pre-flights of recoveries, by provider
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	m      map[string]*gatewayTask
	order  []string // ids, oldest first
	// recoveries maps a provider's resource name to its newest recovery
	// attempt's id.
	recoveries map[string]string
	// invalidCertificate holds, by provider resource name, when its
	// reconnect last faulted InvalidCertificate, oldest first in certOrder.
	invalidCertificate map[string]time.Time
	certOrder          []string
}

func newGatewayTasks(ttl time.Duration) *gatewayTasks {
	ctx, cancel := context.WithCancel(context.Background())
	return &gatewayTasks{ttl: ttl, ctx: ctx, cancel: cancel, m: make(map[string]*gatewayTask), recoveries: make(map[string]string), invalidCertificate: make(map[string]time.Time)}
}

// start adds t and runs work for it in its own goroutine, with a context
// that close cancels. It returns false, and runs nothing, after close.
func (g *gatewayTasks) start(t *gatewayTask, work func(ctx context.Context)) bool {
	if g.shared != nil {
		// Before the caller is answered, so that the task's id names it on
		// every replica.
		g.publishNow(t)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.evictLocked(time.Now())
	t.onEnd = g.onEnd
	g.m[t.id] = t
	g.order = append(g.order, t.id)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		work(g.ctx)
	}()
	if g.shared != nil {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.publish(t)
		}()
	}
	return true
}

// background runs work in its own goroutine, with a context that close
// cancels; nothing runs after close.
func (g *gatewayTasks) background(work func(ctx context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		work(g.ctx)
	}()
}

// evictLocked drops finished tasks that expired, and the oldest finished
// ones while the store is full.
func (g *gatewayTasks) evictLocked(now time.Time) {
	kept := g.order[:0]
	full := len(g.order) >= maxGatewayTasks
	for _, id := range g.order {
		t := g.m[id]
		t.mu.Lock()
		ended := t.ended
		t.mu.Unlock()
		if !ended.IsZero() && (full || now.Sub(ended) > g.ttl) {
			delete(g.m, id)
			if t.recovery != nil && g.recoveries[t.recovery.provider.String()] == id {
				delete(g.recoveries, t.recovery.provider.String())
			}
			full = len(g.m) >= maxGatewayTasks
			continue
		}
		kept = append(kept, id)
	}
	clear(g.order[len(kept):])
	g.order = kept
}

// get returns the task with id of the vCenter vcenterID.
func (g *gatewayTasks) get(vcenterID, id string) (*gatewayTask, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.m[id]
	if !ok || t.vcenter != vcenterID {
		return nil, false
	}
	return t, true
}

// latest follows a task's chain of resumed attempts to the newest one.
func (g *gatewayTasks) latest(t *gatewayTask) *gatewayTask {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range maxGatewayTasks {
		t.mu.Lock()
		next := t.next
		t.mu.Unlock()
		n, ok := g.m[next]
		if next == "" || !ok {
			return t
		}
		t = n
	}
	return t
}

// claimResume records that attempt resumes the failed task prev, unless
// another attempt already did; it returns the attempt that resumes prev.
func (g *gatewayTasks) claimResume(prev, attempt *gatewayTask) *gatewayTask {
	g.mu.Lock()
	defer g.mu.Unlock()
	prev.mu.Lock()
	defer prev.mu.Unlock()
	if t, ok := g.m[prev.next]; ok {
		return t
	}
	prev.next = attempt.id
	return attempt
}

// lastRecovery returns the newest recovery attempt of a provider (by its
// resource name before the recovery), running or not.
func (g *gatewayTasks) lastRecovery(provider string) (*gatewayTask, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.m[g.recoveries[provider]]
	return t, ok
}

func (g *gatewayTasks) setLastRecovery(provider string, t *gatewayTask) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.recoveries[provider] = t.id
}

// close stops every running task (each ends failed, resumable where that
// applies) and waits for them.
func (g *gatewayTasks) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// gatewayTaskSnapshot answers GetTask for a gateway task: this replica's,
// or one another replica runs or ran (shared store).
func (s *Service) gatewayTaskSnapshot(ctx context.Context, name taskName) (*vasagwv1.Task, error) {
	t, ok := s.gateway.get(name.VCenter, name.Task)
	if !ok {
		if snap, _, ok := s.sharedSnapshot(ctx, hubKey{vcenter: name.VCenter, task: name.Task}); ok {
			return snap, nil
		}
		return nil, notFound(name.VCenter, name.String())
	}
	return t.snapshot(), nil
}

// subscribeGateway starts watching a gateway task through the hub, so that
// its subscribers get the same ordering, bounded latest-wins queues and
// terminal guarantees as the watchers of an SmsTask.
func (h *hub) subscribeGateway(t *gatewayTask) (*subscription, error) {
	return h.subscribeSource(t.key, t)
}

// follow is the poller of a gateway task: instead of polling vCenter, it
// publishes each of the task's own changes, in order, from the snapshot
// current when it started, and ends after the terminal one.
func (p *poller) follow() {
	h := p.h
	seq := -1
	for first := true; ; first = false {
		if p.idle() && p.retireIfIdle() {
			return
		}
		snaps, last, changed := p.gt.since(seq)
		if first && len(snaps) > 0 {
			snaps = snaps[len(snaps)-1:] // a watch starts at the current snapshot
		}
		seq = last
		for _, t := range snaps {
			if terminal(t.GetState()) {
				p.finish(event{task: t}, t)
				return
			}
			p.publish(event{task: t})
		}
		select {
		case <-h.ctx.Done():
			p.finish(event{err: shuttingDown(p.key.vcenter, p.key.resource())}, nil)
			return
		case <-p.stop:
			return
		case <-changed:
		case <-p.wake:
		}
	}
}
