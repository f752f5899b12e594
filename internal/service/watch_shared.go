package service

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// This file makes the watch hub's pollers one per task cluster-wide when
// replicas share a store ([Shared]). Each replica with watchers of a task
// runs its poller as before, but a poller polls vCenter only while its
// replica holds the task's lease; it then publishes each change, with a
// sequence number, to the store. The pollers of the other replicas follow:
// they take each published state from the subscription (pushed, at once)
// and read the latest stored state every half interval (which also covers
// a push lost while the store was away), and try the lease at each such
// turn, so that when the holder dies its lease, 1.5 intervals long, is
// taken over within two intervals of its last renewal. A follower hands a
// state to its watchers only when its sequence number is larger than any
// it has seen, and a poller ends after the terminal state, so no watcher
// sees a state twice or a second terminal event. When the store is
// unreachable every poller polls for itself, as without a store.
//
// Pub/sub with a stored latest state rather than a stream: watchers get
// the latest state, not every state (their queues are latest-wins), so a
// replay log buys nothing that the stored state does not; a follower that
// missed pushes reads that state and is whole again.

// remoteQueue bounds the published states queued for one poller; past it
// a push is dropped and the follower's next read of the stored state
// catches up.
const remoteQueue = 4

// sharedKey names a task in the shared store: "<vcenter>/<task>".
func (k hubKey) sharedKey() string { return k.vcenter + "/" + k.task }

// leaseName names the lease of a task's poller.
func (k hubKey) leaseName() string { return "poll/" + k.sharedKey() }

// remoteUpdate hands a state some replica published to this replica's
// poller of that task, if it has one; it never blocks.
func (h *hub) remoteUpdate(u TaskUpdate) {
	vc, task, ok := strings.Cut(u.Key, "/")
	if !ok {
		return
	}
	h.mu.Lock()
	p, ok := h.pollers[hubKey{vcenter: vc, task: task}]
	h.mu.Unlock()
	if !ok {
		return
	}
	select {
	case p.remote <- u:
	default:
	}
}

// leaseTTL is how long a poller's lease lasts without renewal.
func (h *hub) leaseTTL() time.Duration { return h.opts.interval * 3 / 2 }

// accept decodes a published state newer than any this poller has seen,
// and returns nil for an older or undecodable one.
func (p *poller) accept(u TaskUpdate) *vasagwv1.Task {
	if u.Seq <= p.seq {
		return nil
	}
	t := new(vasagwv1.Task)
	if err := proto.Unmarshal(u.Data, t); err != nil {
		p.h.opts.logger.Warn("watch task: undecodable shared state", "resource", p.key.resource(), "error", err)
		return nil
	}
	p.seq = u.Seq
	return t
}

// deliver gives a followed state to the watchers: a change is published,
// a terminal state finishes the poller (it returns true then).
func (p *poller) deliver(t *vasagwv1.Task) bool {
	if terminal(t.GetState()) {
		if p.h.opts.onTerminal != nil {
			// This replica's snapshot too, before its watchers are told.
			p.h.opts.onTerminal(p.key.vcenter, t)
		}
		p.finish(event{task: t}, t)
		return true
	}
	p.mu.Lock()
	changed := p.latest == nil || !proto.Equal(p.latest, t)
	p.mu.Unlock()
	if changed {
		p.publish(event{task: t})
	}
	return false
}

// followShared is a poller's turn with a shared store. It returns the
// newest stored state if this poller has not seen it yet, and following
// true when another replica polls the task (it holds the lease, or the
// task has finished); following false means this replica polls now: it
// holds the lease, or the store is unreachable.
func (p *poller) followShared() (t *vasagwv1.Task, following bool) {
	h := p.h
	ctx, cancel := context.WithTimeout(h.ctx, sharedTimeout)
	defer cancel()
	u, ok, err := h.opts.shared.LatestTask(ctx, p.key.sharedKey())
	remoteOnly := isGatewayTaskID(p.key.task) // another replica runs it: nothing to poll
	if err != nil {
		p.lost(err)
		return nil, remoteOnly
	}
	if ok {
		t = p.accept(u)
	}
	if remoteOnly || (t != nil && terminal(t.GetState())) {
		return t, true
	}
	held, err := h.opts.shared.Lease(ctx, p.key.leaseName(), h.leaseTTL())
	if err != nil {
		p.lost(err)
		return t, false
	}
	if held != p.holding {
		h.opts.logger.Debug("watch task: lease", "resource", p.key.resource(), "held", held)
	}
	p.holding = held
	return t, !held
}

// lost notes that the shared store failed this turn: the poller polls for
// itself until it is back.
func (p *poller) lost(err error) {
	p.h.opts.logger.Debug("watch task: shared store unreachable, polling locally", "resource", p.key.resource(), "error", err)
	p.holding = false
}

// share publishes a state this replica polled while holding the lease. A
// state polled while the store was unreachable is not published: its
// sequence number would not be ordered with the holder's.
func (p *poller) share(t *vasagwv1.Task) {
	h := p.h
	if h.opts.shared == nil || !p.holding {
		return
	}
	data, err := proto.Marshal(t)
	if err != nil {
		return
	}
	p.seq++
	ctx, cancel := context.WithTimeout(h.ctx, sharedTimeout)
	defer cancel()
	if err := h.opts.shared.PublishTask(ctx, TaskUpdate{Key: p.key.sharedKey(), Seq: p.seq, Data: data}, h.opts.terminalTTL); err != nil {
		h.opts.logger.Debug("watch task: publish failed", "resource", p.key.resource(), "error", err)
	}
}

// release gives up the task's lease when the poller ends, so that a
// replica whose watchers remain takes over at its next turn.
func (p *poller) release() {
	h := p.h
	if h.opts.shared == nil || !p.holding {
		return
	}
	p.holding = false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), sharedTimeout)
	defer cancel()
	_ = h.opts.shared.Release(ctx, p.key.leaseName())
}
