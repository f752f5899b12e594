package service

import (
	"context"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
)

type statusProto = spb.Status

// maxAutoReconnectBackoff caps the wait between a provider's failed
// automatic reconnects.
const maxAutoReconnectBackoff = 30 * time.Minute

// AutoReconnectCaller is who the audit log names for the gateway's own
// reconnects.
const AutoReconnectCaller = "vasagw/auto-reconnect"

// autoReconnectCaller is the caller the automatic reconnects run as: it
// goes through the same path, de-duplication and audit as a caller's
// ReconnectProvider.
var autoReconnectCaller = &auth.Caller{
	Kind:    auth.KindInternal,
	Subject: AutoReconnectCaller,
	Roles:   []auth.Role{auth.RoleOperator, auth.RoleViewer},
}

// Outcomes of one automatic reconnect, as counted.
const (
	autoSucceeded      = "succeeded"
	autoFailed         = "failed"
	autoRecoveryNeeded = "recovery_needed"
	autoUnsupported    = "unsupported"
)

// autoReconnector reconnects a vCenter's disconnected providers by itself:
// at each refresh, every provider the snapshot shows `disconnected` gets a
// reconnect unless one is running or its backoff has not passed. A
// provider whose reconnect faults InvalidCertificate (or that is below
// VASA 2.0) is not tried again while it stays disconnected; its watchers
// see `recovery_needed`.
type autoReconnector struct {
	f *fleet

	mu       sync.Mutex
	state    map[string]*autoAttempt // provider id -> its attempts
	outcomes map[string]int64
}

type autoAttempt struct {
	running  bool
	failures int
	next     time.Time
	stopped  bool
}

func newAutoReconnector(f *fleet) *autoReconnector {
	return &autoReconnector{f: f, state: make(map[string]*autoAttempt), outcomes: map[string]int64{autoSucceeded: 0, autoFailed: 0, autoRecoveryNeeded: 0, autoUnsupported: 0}}
}

func (a *autoReconnector) counts() map[string]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int64, len(a.outcomes))
	for k, v := range a.outcomes {
		out[k] = v
	}
	return out
}

// tick starts the reconnects snap calls for and forgets providers that are
// no longer disconnected.
func (a *autoReconnector) tick(snap *fleetSnapshot) {
	now := a.f.opts.now()
	var cleared, start []string
	a.mu.Lock()
	for id, st := range a.state {
		if e := snap.entries[id]; !e.present() || e.msg.GetStatus() != vasagwv1.VasaProvider_STATUS_DISCONNECTED {
			if !st.running {
				delete(a.state, id)
				cleared = append(cleared, id)
			}
		}
	}
	for _, id := range snap.ids {
		if snap.entries[id].msg.GetStatus() != vasagwv1.VasaProvider_STATUS_DISCONNECTED {
			continue
		}
		st := a.state[id]
		if st == nil {
			st = &autoAttempt{}
			a.state[id] = st
		}
		if st.running || st.stopped || now.Before(st.next) {
			continue
		}
		st.running = true
		start = append(start, id)
	}
	a.mu.Unlock()
	for _, id := range cleared {
		a.f.setAutoState(id, false, nil)
	}
	for _, id := range start {
		a.f.wg.Add(1)
		go a.attempt(id)
	}
}

// attempt reconnects one provider through the callers' path and waits for
// the task to end.
func (a *autoReconnector) attempt(id string) {
	defer a.f.wg.Done()
	f := a.f
	ctx := auth.NewContext(f.ctx, autoReconnectCaller)
	name := providerName{VCenter: f.vcenter, Provider: id}
	t, err := f.s.reconnect(ctx, name, "")
	if err == nil {
		t, err = f.s.awaitTask(ctx, f.vcenter, t)
	}
	if f.ctx.Err() != nil {
		return // closing: neither a success nor a failure
	}
	var st *statusProto
	switch {
	case err != nil:
		st = status.Convert(err).Proto()
	case t.GetState() == vasagwv1.Task_STATE_FAILED:
		st = t.GetError()
	}
	outcome := autoSucceeded
	switch reason := errorReason(st); {
	case reason == "INVALID_CERTIFICATE":
		outcome = autoRecoveryNeeded
	case reason == "VASA_VERSION_UNSUPPORTED":
		outcome = autoUnsupported
	case st != nil:
		outcome = autoFailed
	case f.current().entries[id].msg.GetStatus() == vasagwv1.VasaProvider_STATUS_DISCONNECTED:
		// The task succeeded yet the provider stays disconnected: back off
		// as after a failure, or it would be reconnected every interval.
		outcome = autoFailed
	}

	a.mu.Lock()
	a.outcomes[outcome]++
	s := a.state[id]
	if s == nil {
		s = &autoAttempt{}
		a.state[id] = s
	}
	s.running = false
	switch outcome {
	case autoSucceeded:
		delete(a.state, id)
	case autoRecoveryNeeded, autoUnsupported:
		s.stopped = true
	default:
		s.failures++
		s.next = f.opts.now().Add(autoBackoff(f.opts.interval, s.failures))
	}
	a.mu.Unlock()

	f.setAutoState(id, outcome == autoRecoveryNeeded, st)
	f.opts.logger.Info("automatic reconnect ended", "vcenter", f.vcenter, "provider", id, "task", t.GetName(), "outcome", outcome)
}

// autoBackoff doubles base per consecutive failure, up to
// maxAutoReconnectBackoff.
func autoBackoff(base time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < maxAutoReconnectBackoff; i++ {
		d *= 2
	}
	return min(d, maxAutoReconnectBackoff)
}

// errorReason is the ErrorInfo reason of a status, or "".
func errorReason(st *statusProto) string {
	if st == nil {
		return ""
	}
	for _, d := range status.FromProto(st).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// awaitTask follows a task through the shared watch hub until it ends and
// returns its terminal state.
func (s *Service) awaitTask(ctx context.Context, vcenterID string, t *vasagwv1.Task) (*vasagwv1.Task, error) {
	if terminal(t.GetState()) {
		return t, nil
	}
	name, err := parseTaskName("name", t.GetName())
	if err != nil {
		return nil, err
	}
	sub, err := s.hub.subscribe(hubKey{vcenter: vcenterID, task: name.Task})
	if err != nil {
		return nil, err
	}
	defer sub.close()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.notify:
		}
		for _, ev := range sub.drain() {
			if ev.err != nil {
				return nil, statusOf(ev.err, vcenterID, name.String()).Err()
			}
			if terminal(ev.task.GetState()) {
				return ev.task, nil
			}
		}
	}
}
