package service

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// simClock is a simulator clock the test advances by hand.
type simClock struct{ now chan time.Time }

func newSimClock() *simClock {
	c := &simClock{now: make(chan time.Time, 1)}
	c.now <- time.Now()
	return c
}

func (c *simClock) Now() time.Time {
	t := <-c.now
	c.now <- t
	return t
}

func (c *simClock) Advance(d time.Duration) {
	t := <-c.now
	c.now <- t.Add(d)
}

// hubFixture is a hub polling a real SMS simulator through a real session.
type hubFixture struct {
	sim   *smssim.Server
	up    *vcenter.Session
	hub   *hub
	clock *simClock
}

func newHubFixture(t *testing.T, interval time.Duration) *hubFixture {
	t.Helper()
	clock := newSimClock()
	providers := smssim.DefaultProviders()
	info := providers[1].Info // vp-2: disconnected, reconnectable
	providers = append(providers, smssim.Provider{ID: "vp-hub", Info: info, ReconnectDuration: 10 * time.Second})
	sim, err := smssim.Start(smssim.Options{Providers: providers, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	pw := sim.Password
	up, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      sim.URL,
		Username: sim.Username,
		Password: func() (string, error) { return pw, nil },
		CAFile:   sim.CAFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close(context.Background()) })
	h := newHub(hubOptions{resolve: func(string) (Upstream, bool) { return up, true }, interval: interval, linger: 10 * time.Millisecond, terminalTTL: time.Minute, unreachableAfter: time.Second, logger: discardLogger()})
	t.Cleanup(h.close)
	return &hubFixture{sim: sim, up: up, hub: h, clock: clock}
}

func (f *hubFixture) reconnect(t *testing.T) hubKey {
	t.Helper()
	id, err := f.up.Reconnect(context.Background(), "vp-hub")
	if err != nil {
		t.Fatal(err)
	}
	return hubKey{vcenter: "default", task: id}
}

// next waits for the subscription's next batch of events.
func next(t *testing.T, sub *subscription) []event {
	t.Helper()
	select {
	case <-sub.notify:
		return sub.drain()
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30 s")
		return nil
	}
}

// TestHubSlowSubscriberDoesNotDelayOthers: a subscriber that never reads
// holds at most subscriberQueue events, keeps the newest and the terminal
// one, and every other subscriber still gets every change.
func TestHubSlowSubscriberDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f := newHubFixture(t, 20*time.Millisecond)
	key := f.reconnect(t)
	stuck, err := f.hub.subscribe(key)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.close()
	reader, err := f.hub.subscribe(key)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.close()

	var seen []*vasagwv1.Task
	for len(seen) == 0 {
		for _, ev := range next(t, reader) {
			seen = append(seen, ev.task)
		}
	}
	// Many changes, each read by the reader before the next: more than the
	// stuck subscriber's queue holds. After each step of the clock the test
	// waits for two polls, so the poller has seen the step.
	for step := 1; !terminal(seen[len(seen)-1].GetState()); step++ {
		if step > 100 {
			t.Fatal("task never finished")
		}
		f.clock.Advance(500 * time.Millisecond)
		polls := f.sim.Sim.CallsOn("QuerySmsTaskInfo", key.task)
		deadline := time.Now().Add(30 * time.Second)
		for f.sim.Sim.CallsOn("QuerySmsTaskInfo", key.task) < polls+2 && pollers(f.hub) > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the poller stopped polling")
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, ev := range reader.drain() {
			if ev.err != nil {
				t.Fatal(ev.err)
			}
			seen = append(seen, ev.task)
		}
	}
	if len(seen) < 2*subscriberQueue {
		t.Fatalf("the reader saw only %d changes; the test needs more than the queue holds", len(seen))
	}
	queued := stuck.drain()
	if len(queued) > subscriberQueue {
		t.Errorf("stuck subscriber holds %d events, bound %d", len(queued), subscriberQueue)
	}
	if last := queued[len(queued)-1]; last.task.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Errorf("stuck subscriber's last event is %v, want the terminal one", last.task)
	}
	for i := 1; i < len(queued); i++ {
		if queued[i].task.GetState() < queued[i-1].task.GetState() ||
			queued[i].task.GetProgressPercent() < queued[i-1].task.GetProgressPercent() && queued[i].task.GetState() == vasagwv1.Task_STATE_RUNNING {
			t.Errorf("stuck subscriber's events out of order at %d: %v then %v", i, queued[i-1].task, queued[i].task)
		}
	}
	if !equalTask(queued[len(queued)-1].task, seen[len(seen)-1]) {
		t.Errorf("stuck subscriber's terminal event differs from the reader's")
	}
}

// TestHubTerminalTaskIsCached: a late subscriber to a finished task is
// answered from the cache, without a poll.
func TestHubTerminalTaskIsCached(t *testing.T) {
	t.Parallel()
	f := newHubFixture(t, 20*time.Millisecond)
	key := f.reconnect(t)
	sub, err := f.hub.subscribe(key)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	for done := false; !done; {
		for _, ev := range next(t, sub) {
			done = done || ev.final()
		}
	}
	sub.close()
	polls := f.sim.Sim.CallsOn("QuerySmsTaskInfo", key.task)
	late, err := f.hub.subscribe(key)
	if err != nil {
		t.Fatal(err)
	}
	defer late.close()
	evs := next(t, late)
	if len(evs) != 1 || evs[0].task.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		t.Fatalf("late subscriber got %v", evs)
	}
	if got := f.sim.Sim.CallsOn("QuerySmsTaskInfo", key.task); got != polls {
		t.Errorf("late subscriber caused %d polls", got-polls)
	}
}

// TestHubUnreachableEndsWithUnavailable: polls that keep failing end the
// watch with the unreachable error (mapped to UNAVAILABLE with RetryInfo),
// not with a failed task.
func TestHubUnreachableEndsWithUnavailable(t *testing.T) {
	t.Parallel()
	f := newHubFixture(t, 20*time.Millisecond)
	key := f.reconnect(t)
	sub, err := f.hub.subscribe(key)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if evs := next(t, sub); evs[0].err != nil {
		t.Fatal(evs[0].err)
	}
	f.sim.Down()
	var final event
	for final.err == nil {
		for _, ev := range next(t, sub) {
			if ev.task != nil && terminal(ev.task.GetState()) {
				t.Fatalf("an unreachable vCenter was reported as a finished task: %v", ev.task)
			}
			if ev.err != nil {
				final = ev
			}
		}
	}
	st := statusOf(final.err, key.vcenter, key.resource())
	if st.Code() != codes.Unavailable {
		t.Errorf("watch ended with %v, want UNAVAILABLE", st.Proto())
	}
	if err := f.sim.Up(); err != nil {
		t.Fatal(err)
	}
}

// TestHubShutdown: closing the hub ends every subscription with
// UNAVAILABLE and stops its pollers.
func TestHubShutdown(t *testing.T) {
	t.Parallel()
	f := newHubFixture(t, 20*time.Millisecond)
	key := f.reconnect(t)
	var subs []*subscription
	for range 5 {
		sub, err := f.hub.subscribe(key)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	f.hub.close()
	for i, sub := range subs {
		var last event
		for last.err == nil {
			evs := next(t, sub)
			last = evs[len(evs)-1]
		}
		if status.Code(last.err) != codes.Unavailable {
			t.Errorf("subscriber %d ended with %v", i, last.err)
		}
	}
	if p, s := f.hub.stats(); p != 0 || s != 0 {
		t.Errorf("after close: %d pollers, %d subscribers", p, s)
	}
	if _, err := f.hub.subscribe(key); status.Code(err) != codes.Unavailable {
		t.Errorf("subscribe after close: %v", err)
	}
}

func equalTask(a, b *vasagwv1.Task) bool { return proto.Equal(a, b) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func pollers(h *hub) int {
	p, _ := h.stats()
	return p
}
