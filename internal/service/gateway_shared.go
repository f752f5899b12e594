package service

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// This file shares the gateway's own tasks (register with resend,
// recover) across replicas. The replica running a task publishes each of
// its snapshots to the shared store, with what a recovery needs to resume
// (its plan and what it learnt: never the password, which comes with each
// call), and holds the task's run lease while its work goes on. So a
// watcher on any replica follows the task (GetTask and WatchTask read the
// shared state), and when the replica running it dies (its run lease
// runs out) the caller's retry with the same request_id and password on
// any replica adopts the task: the step that was under way ends FAILED as
// if the replica had shut down, and the retry resumes the recovery from
// there, as it resumes one that failed. A surviving replica does not
// finish a recovery on its own: the register needs the provider's password,
// which is never stored.

// gatewayRunTTL is how long a gateway task's run lease lasts without
// renewal; the running replica renews it every gatewayRunRenew.
const (
	gatewayRunTTL   = 2 * time.Second
	gatewayRunRenew = 500 * time.Millisecond
)

// runLease names the lease held by the replica running the task.
func (g *gatewayTask) runLease() string { return "run/" + g.key.sharedKey() }

// sharedRecovery is a recovery's resumable state as stored: the plan and
// what the attempt learnt. No secret.
type sharedRecovery struct {
	Provider     string `json:"provider"`
	UID          string `json:"uid"`
	DisplayName  string `json:"displayName"`
	URL          string `json:"url"`
	Description  string `json:"description"`
	Certificate  string `json:"certificate"`
	Registered   string `json:"registered,omitempty"`
	RegisterTask string `json:"registerTask,omitempty"`
	Failed       int    `json:"failed"`
}

// resumeRecord encodes what another replica needs to resume the task (nil
// for a task that is not a recovery).
func (g *gatewayTask) resumeRecord() []byte {
	if g.recovery == nil {
		return nil
	}
	st := g.recoveryState()
	r := sharedRecovery{
		Provider: g.recovery.provider.String(), UID: g.recovery.uid, DisplayName: g.recovery.displayName,
		URL: g.recovery.url, Description: g.recovery.description, Certificate: g.recovery.certificate,
		RegisterTask: st.registerTask, Failed: st.failed,
	}
	if st.registered != (providerName{}) {
		r.Registered = st.registered.String()
	}
	b, _ := json.Marshal(r) // plain strings and an int: never fails
	return b
}

// publish runs beside a gateway task on a replica with a shared store: it
// publishes each new snapshot (the latest, when several came at once) and
// renews the task's run lease until the terminal snapshot is out; at
// shutdown it waits briefly for the task's last change.
func (g *gatewayTasks) publish(t *gatewayTask) {
	sh := g.shared
	tick := time.NewTicker(gatewayRunRenew)
	defer tick.Stop()
	var stopAt <-chan time.Time
	seq := -1
	for {
		snaps, last, changed := t.since(seq)
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		_, _ = sh.Lease(ctx, t.runLease(), gatewayRunTTL)
		if len(snaps) > 0 {
			cur := snaps[len(snaps)-1]
			data, err := proto.Marshal(cur)
			if err == nil {
				err = sh.PublishTask(ctx, TaskUpdate{Key: t.key.sharedKey(), Seq: int64(last) + 1, Data: data, Resume: t.resumeRecord()}, g.ttl)
			}
			if err == nil {
				seq = last
				if terminal(cur.GetState()) {
					_ = sh.Release(ctx, t.runLease())
					cancel()
					return
				}
			}
		}
		cancel()
		select {
		case <-changed:
		case <-tick.C:
		case <-g.ctx.Done():
			if stopAt == nil {
				stopAt = time.After(2 * time.Second)
			}
		case <-stopAt:
			return
		}
	}
}

// publishNow publishes the task's current snapshot and takes its run
// lease, once; the shared store failing only delays that to [publish].
func (g *gatewayTasks) publishNow(t *gatewayTask) {
	snaps, last, _ := t.since(-1)
	data, err := proto.Marshal(snaps[len(snaps)-1])
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if held, err := g.shared.Lease(ctx, t.runLease(), gatewayRunTTL); err != nil || !held {
		return
	}
	_ = g.shared.PublishTask(ctx, TaskUpdate{Key: t.key.sharedKey(), Seq: int64(last) + 1, Data: data, Resume: t.resumeRecord()}, g.ttl)
}

// sharedSnapshot returns a gateway task's latest state from the shared
// store, and its stored record.
func (s *Service) sharedSnapshot(ctx context.Context, key hubKey) (*vasagwv1.Task, TaskUpdate, bool) {
	sh := s.opts.Shared
	if sh == nil {
		return nil, TaskUpdate{}, false
	}
	sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	u, ok, err := sh.LatestTask(sctx, key.sharedKey())
	if err != nil || !ok {
		return nil, TaskUpdate{}, false
	}
	t := new(vasagwv1.Task)
	if err := proto.Unmarshal(u.Data, t); err != nil {
		return nil, TaskUpdate{}, false
	}
	return t, u, true
}

// adoptRecovery takes over a recovery another replica ran, from the shared
// store. It returns the task, now held here, when the recovery has ended
// or the replica running it is gone (the step under way then ends
// FAILED); or the snapshot of a recovery still running on a live replica.
func (s *Service) adoptRecovery(ctx context.Context, up Upstream, vcenterID, id string) (*gatewayTask, *vasagwv1.Task, bool) {
	key := hubKey{vcenter: vcenterID, task: id}
	snap, u, ok := s.sharedSnapshot(ctx, key)
	if !ok {
		return nil, nil, false
	}
	var rec sharedRecovery
	if len(u.Resume) == 0 || json.Unmarshal(u.Resume, &rec) != nil {
		return nil, snap, true
	}
	plan, state, err := rec.decode()
	if err != nil {
		return nil, snap, true
	}
	dead := false
	if !terminal(snap.GetState()) {
		sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		held, err := s.opts.Shared.Lease(sctx, "run/"+key.sharedKey(), gatewayRunTTL)
		cancel()
		if err != nil || !held {
			return nil, snap, true // running on a live replica, or unknown
		}
		dead = true
	}
	gt := &gatewayTask{
		id: id, vcenter: vcenterID, key: key,
		cur: proto.CloneOf(snap), versions: []*vasagwv1.Task{snap}, base: int(u.Seq) - 1,
		changed: make(chan struct{}), recovery: plan, state: state,
	}
	if !dead {
		gt.ended = time.Now()
	} else {
		s.failAbandonedStep(ctx, up, gt)
	}
	g := s.gateway
	g.mu.Lock()
	if t, ok := g.m[id]; ok {
		g.mu.Unlock()
		return t, nil, true
	}
	g.evictLocked(time.Now())
	g.m[id] = gt
	g.order = append(g.order, id)
	g.recoveries[plan.provider.String()] = id
	g.mu.Unlock()
	if dead {
		g.background(func(context.Context) { g.publish(gt) })
	}
	s.log.InfoContext(ctx, "recover provider: adopted a recovery from another replica", "task", key.resource(), "state", gt.snapshot().GetState().String())
	return gt, nil, true
}

// decode turns a stored recovery back into its plan and state.
func (r sharedRecovery) decode() (*recoveryPlan, recoveryState, error) {
	p, err := parseProviderName("provider", r.Provider)
	if err != nil {
		return nil, recoveryState{}, err
	}
	st := recoveryState{registerTask: r.RegisterTask, failed: r.Failed}
	if r.Registered != "" {
		if st.registered, err = parseProviderName("registered", r.Registered); err != nil {
			return nil, recoveryState{}, err
		}
	}
	return &recoveryPlan{provider: p, uid: r.UID, displayName: r.DisplayName, url: r.URL, description: r.Description, certificate: r.Certificate}, st, nil
}

// failAbandonedStep ends the step a dead replica was running FAILED, as a
// shutdown would have. An unregister whose SmsTask succeeded meanwhile
// counts as done, so that the resume goes on from the register.
func (s *Service) failAbandonedStep(ctx context.Context, up Upstream, gt *gatewayTask) {
	snap := gt.snapshot()
	i := len(snap.GetSteps())
	for j, st := range snap.GetSteps() {
		if st.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
			i = j
			break
		}
	}
	if i >= len(snap.GetSteps()) {
		i = len(snap.GetSteps()) - 1
	}
	if i == recoverUnregister {
		if n, err := parseTaskName("task", snap.GetSteps()[i].GetTask()); err == nil {
			wctx, cancel := context.WithTimeout(ctx, startTimeout)
			info, err := s.waitTask(wctx, up, hubKey{vcenter: gt.vcenter, task: n.Task})
			cancel()
			if err == nil && info.State == vcenter.TaskSuccess {
				gt.step(recoverUnregister, vasagwv1.Task_STATE_SUCCEEDED, "", nil)
				i = recoverRegister
			}
		}
	}
	if i == recoverRegister {
		if n, err := parseTaskName("task", snap.GetSteps()[i].GetTask()); err == nil {
			gt.setRecoveryState(func(r *recoveryState) { r.registerTask = n.Task })
		}
	}
	st := status.Convert(shuttingDown(gt.vcenter, gt.key.resource()))
	taskErr := stepFailed(st, recoverSteps[i], i > recoverUnregister)
	gt.setRecoveryState(func(r *recoveryState) { r.failed = i })
	gt.step(i, vasagwv1.Task_STATE_FAILED, "", func(t *vasagwv1.Task) {
		t.Steps[i].Error = st.Proto()
		t.State, t.Error = vasagwv1.Task_STATE_FAILED, taskErr.Proto()
	})
}

// claimResumeShared records, cluster-wide, that attempt resumes the failed
// task prev, unless another replica's attempt already does: it returns
// that attempt's id then. Without a shared store, or when it fails, this
// replica's own claim decides.
func (s *Service) claimResumeShared(ctx context.Context, prev, attempt string) (winner string, won bool) {
	sh := s.opts.Shared
	if sh == nil {
		return attempt, true
	}
	sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	held, err := sh.Lease(sctx, "resume/"+prev, s.opts.RequestIDTTL)
	if err != nil {
		return attempt, true
	}
	if held {
		_ = sh.SetActiveTask(sctx, "resumed/"+prev, attempt, s.opts.RequestIDTTL)
		return attempt, true
	}
	if id, ok, err := sh.ActiveTask(sctx, "resumed/"+prev); err == nil && ok {
		return id, false
	}
	return attempt, true
}
