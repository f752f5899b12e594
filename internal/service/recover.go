package service

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// This file holds RecoverProvider: the seed's three recovery steps for a
// provider whose certificate expired (unregister, provision a new
// certificate, register) as one task the gateway runs, with a pre-flight
// that refuses to unregister anything until the register can succeed, and
// a resume from the step that failed.

// The steps of a recovery, in order; their index in Task.steps.
const (
	recoverPreflight = iota
	recoverUnregister
	recoverRegister
	recoverWaitOnline
)

var recoverSteps = []vasagwv1.TaskStep_Kind{
	recoverPreflight:  vasagwv1.TaskStep_KIND_PREFLIGHT,
	recoverUnregister: vasagwv1.TaskStep_KIND_UNREGISTER,
	recoverRegister:   vasagwv1.TaskStep_KIND_REGISTER,
	recoverWaitOnline: vasagwv1.TaskStep_KIND_WAIT_ONLINE,
}

const (
	// probeTimeout bounds the pre-flight's TLS handshake to the provider.
	probeTimeout = 10 * time.Second
	// onlineTimeout bounds the wait for the registered provider to report
	// online or connected.
	onlineTimeout = 5 * time.Minute
	// preflightTimeout bounds a shared pre-flight (provider info and probe),
	// detached from the caller so that joiners are not failed by its leaving.
	preflightTimeout = time.Minute
)

// recoveryPlan is what a recovery needs to run and, after a failure, to
// resume: the provider as it was, and the certificate the pre-flight
// checked. It holds no secret: the password comes with each call.
type recoveryPlan struct {
	provider    providerName // the provider being recovered (its old moId)
	uid         string
	displayName string
	url         string
	description string
	certificate string // PEM the provider presented, checked by the pre-flight
}

// recoveryState is what a running recovery learns: the provider it
// registered, and the step it failed at. Guarded by the task's mu.
type recoveryState struct {
	registered providerName
	// registerTask is the register SmsTask of the attempt this one resumes,
	// "" if none: if it did succeed, its provider is taken, not registered twice.
	registerTask string
	failed       int // index of the failed step; -1 while none failed
}

// RecoverProvider starts (or joins, or resumes) a provider's recovery.
func (p *providerServer) RecoverProvider(ctx context.Context, req *vasagwv1.RecoverProviderRequest) (*vasagwv1.Task, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	requestID, err := parseRequestID(req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if err := checkCredentials(req.GetUsername(), req.GetPassword()); err != nil {
		return nil, err
	}
	fingerprint, err := parseFingerprint(req.GetCertificateSha256Fingerprint())
	if err != nil {
		return nil, err
	}
	return p.s.recover(ctx, name, requestID, recoverCall{
		username:    req.GetUsername(),
		password:    req.GetPassword(),
		fingerprint: fingerprint,
	})
}

// recoverCall is what one RecoverProvider call brings: the provider's
// credentials (the password lives only as long as the call's work) and the
// fingerprint the caller confirmed.
type recoverCall struct {
	username, password string
	fingerprint        string
}

// recover implements RecoverProvider once the request is parsed.
func (s *Service) recover(ctx context.Context, name providerName, requestID string, call recoverCall) (*vasagwv1.Task, error) {
	resource := name.String()
	up, err := s.upstream(name.VCenter, resource)
	if err != nil {
		return nil, err
	}
	up = pinned(ctx, up)
	taskID, ok, err := s.requestIDs.prior(ctx, opRecover, name.VCenter, resource, requestID)
	if err != nil {
		return nil, s.fail(ctx, err, name.VCenter, resource, "recover provider")
	}
	if ok {
		prev, found := s.gateway.get(name.VCenter, taskID)
		if !found {
			// Run by another replica: adopted when it has ended or its
			// replica is gone, else answered as it is.
			adopted, snap, ok := s.adoptRecovery(ctx, up, name.VCenter, taskID)
			if ok && adopted == nil {
				s.auditLifecycle(ctx, opRecover, resource, taskID, requestID, "retried")
				return snap, nil
			}
			prev, found = adopted, ok
		}
		if !found {
			return nil, notFound(name.VCenter, taskName{VCenter: name.VCenter, Task: taskID}.String())
		}
		latest := s.gateway.latest(prev)
		if latest.snapshot().GetState() != vasagwv1.Task_STATE_FAILED {
			s.auditLifecycle(ctx, opRecover, resource, latest.id, requestID, "retried")
			return latest.snapshot(), nil
		}
		return s.resumeRecovery(ctx, up, latest, requestID, call)
	}
	if last, ok := s.gateway.lastRecovery(resource); ok {
		switch snap := last.snapshot(); {
		case !terminal(snap.GetState()):
			return s.joinRecovery(ctx, last, requestID)
		case snap.GetState() == vasagwv1.Task_STATE_FAILED && last.failedAfterUnregister():
			return s.resumeRecovery(ctx, up, last, requestID, call)
		}
	}
	return s.freshRecovery(ctx, up, name, requestID, call, nil)
}

// joinRecovery answers a call for a provider whose recovery is running
// with that recovery.
func (s *Service) joinRecovery(ctx context.Context, t *gatewayTask, requestID string) (*vasagwv1.Task, error) {
	resource := t.recovery.provider.String()
	id, err := s.requestIDs.remember(ctx, opRecover, t.vcenter, resource, requestID, t.id)
	if err != nil {
		return nil, s.fail(ctx, err, t.vcenter, resource, "recover provider")
	}
	s.auditLifecycle(ctx, opRecover, resource, id, requestID, "joined")
	return s.anyTaskSnapshot(ctx, nil, t.vcenter, id)
}

// freshRecovery runs the pre-flight and, when it passes, starts a recovery
// from the unregister step. Concurrent calls for one provider share one
// pre-flight and one recovery. prev, when set, is the failed attempt this
// one resumes.
func (s *Service) freshRecovery(ctx context.Context, up Upstream, name providerName, requestID string, call recoverCall, prev *gatewayTask) (*vasagwv1.Task, error) {
	resource := name.String()
	v, err, _ := s.gateway.flight.Do(resource, func() (any, error) {
		if last, ok := s.gateway.lastRecovery(resource); ok && !terminal(last.snapshot().GetState()) {
			return last, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), preflightTimeout)
		defer cancel()
		plan, err := s.preflight(fctx, name, call.fingerprint)
		if err != nil {
			return nil, err
		}
		gt := newRecoveryTask(name, plan)
		gt.step(recoverPreflight, vasagwv1.Task_STATE_SUCCEEDED, "", nil)
		if prev != nil && s.gateway.claimResume(prev, gt) != gt {
			return s.gateway.latest(prev), nil
		}
		if !s.gateway.start(gt, func(ctx context.Context) { s.runRecovery(ctx, up, gt, recoverUnregister, call) }) {
			return nil, shuttingDown(name.VCenter, resource)
		}
		s.gateway.setLastRecovery(resource, gt)
		return gt, nil
	})
	if err != nil {
		s.auditLifecycle(ctx, opRecover, resource, "", requestID, "refused: "+status.Code(err).String())
		return nil, err
	}
	gt := v.(*gatewayTask)
	id, err := s.requestIDs.remember(ctx, opRecover, name.VCenter, resource, requestID, gt.id)
	if err != nil {
		return nil, s.fail(ctx, err, name.VCenter, resource, "recover provider")
	}
	if prev != nil {
		// The id stays recorded for the first attempt; the chain of
		// attempts leads from it to this one.
		id = gt.id
	}
	s.auditLifecycle(ctx, opRecover, resource, id, requestID, "started")
	return s.anyTaskSnapshot(ctx, up, name.VCenter, id)
}

// resumeRecovery starts a new attempt of the failed recovery prev from the
// step it failed at. A recovery that failed at or before its unregister
// left the provider registered: it starts over, pre-flight included.
func (s *Service) resumeRecovery(ctx context.Context, up Upstream, prev *gatewayTask, requestID string, call recoverCall) (*vasagwv1.Task, error) {
	plan := *prev.recovery
	resource := plan.provider.String()
	if !prev.failedAfterUnregister() {
		return s.freshRecovery(ctx, up, plan.provider, requestID, call, prev)
	}
	state := prev.recoveryState()
	before := prev.snapshot()
	gt := newRecoveryTask(plan.provider, &plan)
	gt.update(func(t *vasagwv1.Task) {
		for i := range state.failed {
			t.Steps[i] = proto.CloneOf(before.Steps[i])
		}
	})
	// A request_id this caller used for something else is refused before
	// anything runs; one already recorded (for the first attempt) stays.
	if _, err := s.requestIDs.remember(ctx, opRecover, plan.provider.VCenter, resource, requestID, gt.id); err != nil {
		return nil, s.fail(ctx, err, plan.provider.VCenter, resource, "recover provider")
	}
	gt.setRecoveryState(func(r *recoveryState) {
		r.registered = state.registered
		if n, err := parseTaskName("task", before.Steps[recoverRegister].GetTask()); err == nil {
			r.registerTask = n.Task
		}
	})
	if winner, won := s.claimResumeShared(ctx, prev.id, gt.id); !won {
		s.auditLifecycle(ctx, opRecover, resource, winner, requestID, "retried")
		return s.gatewayTaskSnapshot(ctx, taskName{VCenter: plan.provider.VCenter, Task: winner})
	}
	if winner := s.gateway.claimResume(prev, gt); winner != gt {
		s.auditLifecycle(ctx, opRecover, resource, winner.id, requestID, "retried")
		return winner.snapshot(), nil
	}
	if !s.gateway.start(gt, func(ctx context.Context) { s.runRecovery(ctx, up, gt, state.failed, call) }) {
		return nil, shuttingDown(plan.provider.VCenter, resource)
	}
	s.gateway.setLastRecovery(resource, gt)
	s.auditLifecycle(ctx, opRecover, resource, gt.id, requestID, "resumed")
	return gt.snapshot(), nil
}

// needsRecovery reports whether a provider is one RecoverProvider is for:
// its certificate is expired or invalid, or vCenter reports it faulted
// InvalidCertificate (as its status fault, or as the fault of a reconnect
// through this gateway).
func (s *Service) needsRecovery(name providerName, p *vcenter.Provider) bool {
	switch p.CertificateStatus {
	case "expired", "invalid":
		return true
	}
	if p.StatusFault != nil && p.StatusFault.Find("InvalidCertificate") != nil {
		return true
	}
	return s.gateway.reconnectFaultedCertificate(name.String())
}

// noteReconnectFault remembers a provider whose reconnect faulted
// InvalidCertificate, for as long as a request_id is remembered.
func (g *gatewayTasks) noteReconnectFault(provider string, err error) {
	var f *vcenter.Fault
	if !errors.As(err, &f) || f == nil || f.Find("InvalidCertificate") == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	for len(g.certOrder) > 0 {
		oldest := g.certOrder[0]
		if len(g.certOrder) < maxGatewayTasks && now.Sub(g.invalidCertificate[oldest]) <= g.ttl {
			break
		}
		delete(g.invalidCertificate, oldest)
		g.certOrder = g.certOrder[1:]
	}
	if _, ok := g.invalidCertificate[provider]; !ok {
		g.certOrder = append(g.certOrder, provider)
	}
	g.invalidCertificate[provider] = now
}

// reconnectFaultedCertificate reports whether a provider's reconnect
// faulted InvalidCertificate lately.
func (g *gatewayTasks) reconnectFaultedCertificate(provider string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.invalidCertificate[provider]
	return ok && time.Since(t) <= g.ttl
}

// preflight decides, before anything changes, whether a recovery can
// succeed: the provider needs one, and its URL presents a new certificate
// that is valid now, not the one vCenter holds, and (when the caller gave
// one) of the confirmed fingerprint. It returns what the recovery needs.
func (s *Service) preflight(ctx context.Context, name providerName, fingerprint string) (*recoveryPlan, error) {
	resource := name.String()
	info, err := s.provider(ctx, name)
	if err != nil {
		return nil, err
	}
	if !s.needsRecovery(name, info) {
		return nil, recoveryNotNeeded(name.VCenter, resource, info.CertificateStatus)
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	presented, err := vcenter.ProbeCertificate(pctx, info.URL)
	cancel()
	if err != nil {
		s.log.WarnContext(ctx, "recover provider: certificate probe failed", "vcenter", name.VCenter, "resource", resource, "error", err)
		return nil, providerUnreachable(name.VCenter, resource)
	}
	fp := presented.SHA256
	now := time.Now()
	switch {
	case now.After(presented.NotAfter):
		return nil, certificateNotRenewed(name.VCenter, resource, "an expired certificate", fp)
	case now.Before(presented.NotBefore):
		return nil, certificateNotRenewed(name.VCenter, resource, "a certificate that is not valid yet", fp)
	case fp != "" && fp == info.CertificateSHA256:
		return nil, certificateNotRenewed(name.VCenter, resource, "the certificate vCenter already holds", fp)
	case fp == "":
		return nil, certificateNotRenewed(name.VCenter, resource, "no certificate the gateway can read", "")
	case fingerprint != "" && fingerprint != fp:
		return nil, certificateFingerprintMismatch(name.VCenter, resource, fp)
	}
	return &recoveryPlan{
		provider:    name,
		uid:         info.UID,
		displayName: info.Name,
		url:         info.URL,
		description: info.Description,
		certificate: presented.PEM,
	}, nil
}

func newRecoveryTask(name providerName, plan *recoveryPlan) *gatewayTask {
	gt := newGatewayTask(name.VCenter, vasagwv1.Task_KIND_RECOVER, name.String(), recoverSteps...)
	gt.recovery = plan
	gt.state = recoveryState{failed: -1}
	return gt
}

// runRecovery does a recovery's work from step from. call's password lives
// only here, for as long as the attempt runs.
func (s *Service) runRecovery(ctx context.Context, up Upstream, gt *gatewayTask, from int, call recoverCall) {
	plan := gt.recovery
	if from <= recoverUnregister {
		gt.step(recoverUnregister, vasagwv1.Task_STATE_RUNNING, "", nil)
		f, err := s.unregisterStep(ctx, up, gt, plan.uid)
		if s.failRecovery(gt, recoverUnregister, f, err) {
			return
		}
		gt.step(recoverUnregister, vasagwv1.Task_STATE_SUCCEEDED, "", nil)
		s.providersChanged(plan.provider)
	}
	state := gt.recoveryState()
	registered := state.registered
	if from <= recoverRegister && state.registerTask != "" {
		// The attempt this one resumes started a register; if it succeeded
		// after all (the gateway lost sight of it), take its provider.
		if p, f, err := s.registered(ctx, up, hubKey{vcenter: gt.vcenter, task: state.registerTask}, call.password); f == nil && err == nil {
			registered = p
			gt.setRecoveryState(func(r *recoveryState) { r.registered = p })
			gt.step(recoverRegister, vasagwv1.Task_STATE_SUCCEEDED, state.registerTask, nil)
			from = recoverWaitOnline
		}
	}
	if from <= recoverRegister {
		var (
			f   *vcenter.Fault
			err error
		)
		registered, f, err = s.registerStep(ctx, up, gt, recoverRegister, vcenter.ProviderSpec{
			Name:        plan.displayName,
			URL:         plan.url,
			Username:    call.username,
			Password:    call.password,
			Certificate: plan.certificate,
			Description: plan.description,
		})
		if s.failRecovery(gt, recoverRegister, f, err) {
			return
		}
		gt.setRecoveryState(func(r *recoveryState) { r.registered = registered })
		gt.step(recoverRegister, vasagwv1.Task_STATE_SUCCEEDED, "", nil)
		s.providersChanged(registered)
	}
	gt.step(recoverWaitOnline, vasagwv1.Task_STATE_RUNNING, "", nil)
	if s.failRecovery(gt, recoverWaitOnline, nil, s.waitOnline(ctx, up, registered)) {
		return
	}
	gt.step(recoverWaitOnline, vasagwv1.Task_STATE_SUCCEEDED, "", func(t *vasagwv1.Task) {
		t.State, t.Result = vasagwv1.Task_STATE_SUCCEEDED, registered.String()
	})
}

// unregisterStep runs UnregisterProvider_Task for the provider with uid and
// waits for it; it returns the fault it ended with, or why it could not tell.
func (s *Service) unregisterStep(ctx context.Context, up Upstream, gt *gatewayTask, uid string) (*vcenter.Fault, error) {
	lc, err := lifecycleOf(up, gt.vcenter, gt.key.resource())
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	taskID, err := lc.UnregisterProvider(sctx, uid)
	cancel()
	if err != nil {
		_, f, err := registeredOrFault(err)
		return f, err
	}
	key := hubKey{vcenter: gt.vcenter, task: taskID}
	s.hub.kinds.set(key, vasagwv1.Task_KIND_UNREGISTER)
	gt.step(recoverUnregister, vasagwv1.Task_STATE_RUNNING, taskID, nil)
	info, err := s.waitTask(ctx, up, key)
	switch {
	case err != nil:
		return nil, err
	case info.State != vcenter.TaskSuccess && info.Error == nil:
		return &vcenter.Fault{TypeName: rootFaultType}, nil
	case info.State != vcenter.TaskSuccess:
		return info.Error, nil
	}
	return nil, nil
}

// waitOnline polls the registered provider, every task poll interval and
// for at most onlineTimeout, until it reports online or connected.
func (s *Service) waitOnline(ctx context.Context, up Upstream, provider providerName) error {
	deadline := time.NewTimer(onlineTimeout)
	defer deadline.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return providerNotOnline(provider.VCenter, provider.String(), last)
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		info, err := up.Provider(pctx, provider.Provider)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !transient(err) && !isNotFound(err):
			return err
		case err == nil:
			last = info.Status
			if info.Status == "online" || info.Status == "connected" {
				return nil
			}
		}
		timer.Reset(jitter(s.opts.TaskPollInterval))
	}
}

// failRecovery ends the recovery at step i when f or err says the step
// failed, and reports whether it did. The task's error is the step's,
// naming the step; a step after the unregister is resumable.
func (s *Service) failRecovery(gt *gatewayTask, i int, f *vcenter.Fault, err error) bool {
	st := s.stepStatus(gt, "recover provider: step "+recoverSteps[i].String(), f, err)
	if st == nil {
		return false
	}
	taskErr := stepFailed(st, recoverSteps[i], i > recoverUnregister)
	gt.setRecoveryState(func(r *recoveryState) { r.failed = i })
	gt.step(i, vasagwv1.Task_STATE_FAILED, "", func(t *vasagwv1.Task) {
		t.Steps[i].Error = st.Proto()
		t.State, t.Error = vasagwv1.Task_STATE_FAILED, taskErr.Proto()
	})
	return true
}

// recoveryState returns what the recovery learnt so far.
func (g *gatewayTask) recoveryState() recoveryState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

func (g *gatewayTask) setRecoveryState(fn func(r *recoveryState)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(&g.state)
}

// failedAfterUnregister reports whether a recovery failed at a step after
// its unregister, so that the provider is no longer registered under its
// old name and only a resume can finish the job.
func (g *gatewayTask) failedAfterUnregister() bool {
	return g.recovery != nil && g.recoveryState().failed > recoverUnregister
}
