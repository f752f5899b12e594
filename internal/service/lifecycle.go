package service

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// This file holds the provider life-cycle RPCs that start one SmsTask each
// (unregister, sync, refresh certificate) and the register, which the
// gateway runs itself because it may resend the registration with a
// certificate the caller confirmed (the RegisterProvider and RecoverProvider comments in proto/vasagw/v1/vasa_provider_service.proto).

// LifecycleUpstream is what the life-cycle RPCs need of one vCenter, beyond
// the [Upstream] that reads providers and tasks. *vcenter.Session and
// *vcenter.UserSession satisfy it; through an upstream that does not, these
// RPCs answer UNIMPLEMENTED.
type LifecycleUpstream interface {
	RegisterProvider(ctx context.Context, spec vcenter.ProviderSpec) (taskID string, err error)
	UnregisterProvider(ctx context.Context, providerUID string) (taskID string, err error)
	Sync(ctx context.Context, providerID string) (taskID string, err error)
	RefreshCertificate(ctx context.Context, providerID string) (taskID string, err error)
	TaskResult(ctx context.Context, taskID string) (*vcenter.TaskResult, error)
}

// Operation names of the life-cycle RPCs, for request_id records and audit
// lines.
const (
	opRegister           = "register"
	opUnregister         = "unregister"
	opSync               = "sync"
	opRefreshCertificate = "refresh certificate"
	opRecover            = "recover"
)

// startTimeout bounds the upstream call that starts a task once the RPC
// has decided to start it.
const startTimeout = time.Minute

// minSecretLength is the shortest password the gateway scrubs from
// upstream text; a shorter one would match ordinary words.
const minSecretLength = 4

// RegisterProvider starts the gateway task that registers a provider.
func (p *providerServer) RegisterProvider(ctx context.Context, req *vasagwv1.RegisterProviderRequest) (*vasagwv1.Task, error) {
	parent, err := parseVCenterName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	requestID, err := parseRequestID(req.GetRequestId())
	if err != nil {
		return nil, err
	}
	spec, err := parseProviderSpec(req)
	if err != nil {
		return nil, err
	}
	fingerprint, err := parseFingerprint(req.GetCertificateSha256Fingerprint())
	if err != nil {
		return nil, err
	}
	return p.s.register(ctx, parent, requestID, spec, fingerprint)
}

// UnregisterProvider starts UnregisterProvider_Task for a provider, by its uid.
func (p *providerServer) UnregisterProvider(ctx context.Context, req *vasagwv1.UnregisterProviderRequest) (*vasagwv1.Task, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	requestID, err := parseRequestID(req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return p.s.providerTask(ctx, name, requestID, opUnregister, vasagwv1.Task_KIND_UNREGISTER,
		func(ctx context.Context, lc LifecycleUpstream) (string, error) {
			info, err := p.s.provider(ctx, name)
			if err != nil {
				return "", err
			}
			return lc.UnregisterProvider(ctx, info.UID)
		})
}

// SyncProvider starts VasaProviderSync_Task. A second sync while one runs
// is vCenter's SyncInProgress: ABORTED.
func (p *providerServer) SyncProvider(ctx context.Context, req *vasagwv1.SyncProviderRequest) (*vasagwv1.Task, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	requestID, err := parseRequestID(req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return p.s.providerTask(ctx, name, requestID, opSync, vasagwv1.Task_KIND_SYNC,
		func(ctx context.Context, lc LifecycleUpstream) (string, error) {
			return lc.Sync(ctx, name.Provider)
		})
}

// RefreshProviderCertificate starts VasaProviderRefreshCertificate_Task.
func (p *providerServer) RefreshProviderCertificate(ctx context.Context, req *vasagwv1.RefreshProviderCertificateRequest) (*vasagwv1.Task, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	requestID, err := parseRequestID(req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return p.s.providerTask(ctx, name, requestID, opRefreshCertificate, vasagwv1.Task_KIND_REFRESH_CERTIFICATE,
		func(ctx context.Context, lc LifecycleUpstream) (string, error) {
			return lc.RefreshCertificate(ctx, name.Provider)
		})
}

// providerTask runs one life-cycle RPC that starts a single SmsTask on a
// provider: the request_id is honoured, start starts the task, the task's
// kind is remembered, and the provider views are refreshed when it ends.
// An upstream without life-cycle calls fails it UNIMPLEMENTED.
func (s *Service) providerTask(ctx context.Context, name providerName, requestID, op string, kind vasagwv1.Task_Kind,
	start func(ctx context.Context, lc LifecycleUpstream) (string, error),
) (*vasagwv1.Task, error) {
	resource := name.String()
	up, err := s.upstream(name.VCenter, resource)
	if err != nil {
		return nil, err
	}
	if taskID, ok, err := s.requestIDs.prior(ctx, op, name.VCenter, resource, requestID); err != nil || ok {
		if err != nil {
			return nil, s.fail(ctx, err, name.VCenter, resource, op+" provider")
		}
		s.auditLifecycle(ctx, op, resource, taskID, requestID, "retried")
		return s.anyTaskSnapshot(ctx, up, name.VCenter, taskID)
	}
	lc, err := lifecycleOf(up, name.VCenter, resource)
	var taskID string
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		taskID, err = start(sctx, lc)
		cancel()
	}
	if err != nil {
		err = s.fail(ctx, err, name.VCenter, resource, op+" provider")
		s.auditLifecycle(ctx, op, resource, "", requestID, "failed: "+status.Code(err).String())
		return nil, err
	}
	key := hubKey{vcenter: name.VCenter, task: taskID}
	s.hub.kinds.set(key, kind)
	s.noteTaskProvider(key, name)
	s.afterTask(pinned(ctx, up), key, name)
	taskID, err = s.requestIDs.remember(ctx, op, name.VCenter, resource, requestID, taskID)
	if err != nil {
		return nil, s.fail(ctx, err, name.VCenter, resource, op+" provider")
	}
	s.auditLifecycle(ctx, op, resource, taskID, requestID, "started")
	return s.anyTaskSnapshot(ctx, up, name.VCenter, taskID)
}

// anyTaskSnapshot is [Service.taskSnapshot] for an SmsTask or a gateway task.
func (s *Service) anyTaskSnapshot(ctx context.Context, up Upstream, vcenterID, taskID string) (*vasagwv1.Task, error) {
	if isGatewayTaskID(taskID) {
		return s.gatewayTaskSnapshot(ctx, taskName{VCenter: vcenterID, Task: taskID})
	}
	return s.taskSnapshot(ctx, up, vcenterID, taskID)
}

// afterTask waits, in the background, for an SmsTask this gateway started
// on a provider to end, then refreshes what the gateway holds about the
// vCenter's providers.
func (s *Service) afterTask(up Upstream, key hubKey, provider providerName) {
	s.gateway.background(func(ctx context.Context) {
		_, _ = s.waitTask(ctx, up, key)
		s.providersChanged(provider)
	})
}

// providersChanged is the one place told that a life-cycle task ended and
// the providers of a vCenter may have changed (one registered, removed,
// synced or given a new certificate): it drops the provider facts that
// pre-checks trust.
func (s *Service) providersChanged(provider providerName) {
	s.providers.forget(provider)
	// Also when no caller read the task's end (onTaskTerminal refreshes
	// the snapshot before one does).
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	s.providerChanged(ctx, provider.VCenter, provider.Provider)
}

// forget drops what is remembered about a provider.
func (f *providerFacts) forget(name providerName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, name.String())
}

// waitTask polls an SmsTask until it ends, every task poll interval,
// riding out transient failures for as long as a watch would. It returns
// the final info, or why it could not be read.
func (s *Service) waitTask(ctx context.Context, up Upstream, key hubKey) (*vcenter.TaskInfo, error) {
	var (
		failures     int
		failingSince time.Time
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		info, err := up.Task(pctx, key.task)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			failures++
			if !transient(err) || time.Since(failingSince) >= s.opts.UnreachableAfter {
				return nil, err
			}
			timer.Reset(backoff(s.opts.TaskPollInterval, failures))
			continue
		}
		failures, failingSince = 0, time.Time{}
		if info.Done() {
			return info, nil
		}
		timer.Reset(jitter(s.opts.TaskPollInterval))
	}
}

// register implements RegisterProvider once the request is parsed: a
// gateway task whose first step is RegisterProvider_Task and, when vCenter
// does not trust the provider's self-signed certificate and the caller
// confirmed its fingerprint, a second step that resends the registration
// with it.
func (s *Service) register(ctx context.Context, parent vcenterName, requestID string, spec vcenter.ProviderSpec, fingerprint string) (*vasagwv1.Task, error) {
	resource := parent.String()
	up, err := s.upstream(parent.VCenter, resource)
	if err != nil {
		return nil, err
	}
	if taskID, ok, err := s.requestIDs.prior(ctx, opRegister, parent.VCenter, resource, requestID); err != nil || ok {
		if err != nil {
			return nil, s.fail(ctx, err, parent.VCenter, resource, "register provider")
		}
		s.auditLifecycle(ctx, opRegister, resource, taskID, requestID, "retried")
		return s.anyTaskSnapshot(ctx, up, parent.VCenter, taskID)
	}
	gt := newGatewayTask(parent.VCenter, vasagwv1.Task_KIND_REGISTER, "", vasagwv1.TaskStep_KIND_REGISTER)
	taskID, err := s.requestIDs.remember(ctx, opRegister, parent.VCenter, resource, requestID, gt.id)
	if err != nil {
		return nil, s.fail(ctx, err, parent.VCenter, resource, "register provider")
	}
	if taskID != gt.id { // a concurrent call with the same request_id won
		return s.anyTaskSnapshot(ctx, up, parent.VCenter, taskID)
	}
	up = pinned(ctx, up)
	if !s.gateway.start(gt, func(ctx context.Context) { s.runRegister(ctx, up, gt, spec, fingerprint) }) {
		return nil, shuttingDown(parent.VCenter, resource)
	}
	s.auditLifecycle(ctx, opRegister, resource, gt.id, requestID, "started")
	return gt.snapshot(), nil
}

// runRegister does the register task's work. spec (and its password) lives
// only here, for as long as the task runs.
func (s *Service) runRegister(ctx context.Context, up Upstream, gt *gatewayTask, spec vcenter.ProviderSpec, fingerprint string) {
	step := 0
	provider, f, err := s.registerStep(ctx, up, gt, step, spec)
	if pem := untrustedCertificate(f); pem != "" && fingerprint != "" && certificateFingerprint(pem) == fingerprint {
		// The caller confirmed this certificate: resend with it.
		st := faultStatus(f, gt.vcenter, gt.key.resource())
		gt.step(step, vasagwv1.Task_STATE_FAILED, "", func(t *vasagwv1.Task) {
			t.Steps[step].Error = st.Proto()
			t.Steps = append(t.Steps, &vasagwv1.TaskStep{Kind: vasagwv1.TaskStep_KIND_REGISTER_WITH_CERTIFICATE, State: vasagwv1.Task_STATE_QUEUED})
		})
		step++
		spec.Certificate = pem
		provider, f, err = s.registerStep(ctx, up, gt, step, spec)
	}
	if st := s.stepStatus(gt, "register provider", f, err); st != nil {
		gt.step(step, vasagwv1.Task_STATE_FAILED, "", func(t *vasagwv1.Task) {
			t.Steps[step].Error = st.Proto()
			t.State, t.Error = vasagwv1.Task_STATE_FAILED, st.Proto()
		})
		return
	}
	gt.step(step, vasagwv1.Task_STATE_SUCCEEDED, "", func(t *vasagwv1.Task) {
		t.State, t.Result = vasagwv1.Task_STATE_SUCCEEDED, provider.String()
	})
	s.providersChanged(provider)
}

// untrustedCertificate returns the PEM a CertificateNotTrusted fault in f
// carries, or "".
func untrustedCertificate(f *vcenter.Fault) string {
	if f == nil {
		return ""
	}
	if nt := f.Find("CertificateNotTrusted"); nt != nil {
		return nt.Properties["certificate"]
	}
	return ""
}

// stepStatus maps why a step of a gateway task failed (an upstream fault f,
// or another error) to its status, logging the detail; nil when neither.
func (s *Service) stepStatus(gt *gatewayTask, op string, f *vcenter.Fault, err error) *status.Status {
	var st *status.Status
	switch {
	case errors.Is(err, context.Canceled):
		st = status.Convert(shuttingDown(gt.vcenter, gt.key.resource())) // only close cancels a task's work
	case err != nil:
		st = statusOf(err, gt.vcenter, gt.key.resource())
	case f != nil:
		st = faultStatus(f, gt.vcenter, gt.key.resource())
		err = f
	default:
		return nil
	}
	s.log.Warn(op+" failed", "vcenter", gt.vcenter, "task", gt.key.resource(), "code", st.Code().String(), "error", err)
	return st
}

// registerStep runs RegisterProvider_Task as step i and waits for it. It
// returns the registered provider, or the fault the task (or the call)
// ended with, or the error that kept it from knowing. Upstream text is
// scrubbed of the password before anything uses it.
func (s *Service) registerStep(ctx context.Context, up Upstream, gt *gatewayTask, i int, spec vcenter.ProviderSpec) (providerName, *vcenter.Fault, error) {
	gt.step(i, vasagwv1.Task_STATE_RUNNING, "", nil)
	lc, err := lifecycleOf(up, gt.vcenter, gt.key.resource())
	if err != nil {
		return providerName{}, nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	taskID, err := lc.RegisterProvider(sctx, spec)
	cancel()
	if err != nil {
		return registeredOrFault(redactSecret(err, spec.Password))
	}
	gt.step(i, vasagwv1.Task_STATE_RUNNING, taskID, nil)
	key := hubKey{vcenter: gt.vcenter, task: taskID}
	s.hub.kinds.set(key, vasagwv1.Task_KIND_REGISTER)
	return s.registered(ctx, up, key, spec.Password)
}

// registered waits for a register SmsTask and names the provider it
// registered, from QuerySmsTaskResult.
func (s *Service) registered(ctx context.Context, up Upstream, key hubKey, password string) (providerName, *vcenter.Fault, error) {
	info, err := s.waitTask(ctx, up, key)
	if err != nil {
		return registeredOrFault(redactSecret(err, password))
	}
	if info.State != vcenter.TaskSuccess {
		if info.Error == nil {
			info.Error = &vcenter.Fault{TypeName: rootFaultType}
		}
		return providerName{}, scrubFault(info.Error, password), nil
	}
	lc, err := lifecycleOf(up, key.vcenter, key.resource())
	if err != nil {
		return providerName{}, nil, err
	}
	res, err := lc.TaskResult(ctx, key.task)
	if err != nil {
		return registeredOrFault(redactSecret(err, password))
	}
	if res == nil || res.Value == "" {
		return providerName{}, nil, errors.New("register task " + key.task + " succeeded without naming the provider")
	}
	return providerName{VCenter: key.vcenter, Provider: res.Value}, nil, nil
}

// registeredOrFault splits a failed call into the upstream fault it
// carries (which the caller may act on, e.g. CertificateNotTrusted) or
// any other error.
func registeredOrFault(err error) (providerName, *vcenter.Fault, error) {
	var f *vcenter.Fault
	if errors.As(err, &f) && f != nil {
		return providerName{}, f, nil
	}
	return providerName{}, nil, err
}

// auditLifecycle writes the one audit line of a life-cycle call, naming the
// caller the auth interceptor established. It never names a credential.
func (s *Service) auditLifecycle(ctx context.Context, op, resource, taskID, requestID, outcome string) {
	caller, _ := auth.CallerFrom(ctx)
	s.log.InfoContext(ctx, "audit: "+op+" provider",
		"audit", true,
		"caller", caller.String(),
		"resource", resource,
		"task", taskID,
		"lifecycle_request_id", requestID,
		"outcome", outcome,
	)
}

// parseProviderSpec checks the fields of a register request. The password
// is required and never echoed.
func parseProviderSpec(req *vasagwv1.RegisterProviderRequest) (vcenter.ProviderSpec, error) {
	spec := vcenter.ProviderSpec{
		Name:        strings.TrimSpace(req.GetDisplayName()),
		URL:         strings.TrimSpace(req.GetUrl()),
		Username:    req.GetUsername(),
		Password:    req.GetPassword(),
		Description: req.GetDescription(),
	}
	switch {
	case spec.Name == "":
		return spec, invalidRequest("display_name", "display_name is required")
	case len(spec.Name) > maxIDLength:
		return spec, invalidRequest("display_name", "display_name is longer than 256 characters")
	}
	if err := checkProviderURL(spec.URL); err != nil {
		return spec, err
	}
	return spec, checkCredentials(spec.Username, spec.Password)
}

// checkProviderURL accepts an absolute http(s) URL with a host.
func checkProviderURL(raw string) error {
	if raw == "" {
		return invalidRequest("url", "url is required, for example https://array.example.com:8443/vasa/version.xml")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return invalidRequest("url", "url must be an absolute https URL with no user information, for example https://array.example.com:8443/vasa/version.xml")
	}
	return nil
}

// checkCredentials requires the user vCenter logs in to the provider as,
// and its password (never quoted).
func checkCredentials(username, password string) error {
	if username == "" {
		return invalidRequest("username", "username is required")
	}
	if password == "" {
		return invalidRequest("password", "password is required")
	}
	return nil
}

// parseFingerprint reads a SHA-256 fingerprint as a caller may send it
// (hex, with or without ":" between bytes, any case) and returns it in the
// form the gateway reports fingerprints ("AB:CD:..."), or "" for none.
func parseFingerprint(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	fp, err := vcenter.NormalizeFingerprint(s)
	if err != nil {
		return "", invalidRequest("certificate_sha256_fingerprint", "certificate_sha256_fingerprint must be a SHA-256 fingerprint: 64 hex digits, with or without \":\" between bytes")
	}
	return fp, nil
}

// redactSecret keeps a secret out of an upstream error: a fault is
// scrubbed level by level, any other error whose text quotes the secret
// gets that text replaced (its chain stays for errors.Is).
func redactSecret(err error, secret string) error {
	if err == nil || len(secret) < minSecretLength {
		return err
	}
	var f *vcenter.Fault
	if errors.As(err, &f) && f != nil {
		return scrubFault(f, secret)
	}
	if strings.Contains(err.Error(), secret) {
		return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, redacted), err: err}
	}
	return err
}

const redacted = "[REDACTED]"

// redactedError is an error whose text had a secret replaced.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrubFault returns a copy of f and its causes with every occurrence of
// secret replaced in their messages and properties.
func scrubFault(f *vcenter.Fault, secret string) *vcenter.Fault {
	if f == nil || len(secret) < minSecretLength {
		return f
	}
	r := strings.NewReplacer(secret, redacted)
	var root, parent *vcenter.Fault
	for depth, cur := 0, f; cur != nil && depth <= maxFaultDepth; depth, cur = depth+1, cur.Cause {
		out := *cur
		out.Cause = nil
		out.Message = r.Replace(cur.Message)
		out.Messages = make([]vcenter.Message, len(cur.Messages))
		for i, m := range cur.Messages {
			m.Text = r.Replace(m.Text)
			args := make([]vcenter.KeyValue, len(m.Args))
			for j, a := range m.Args {
				args[j] = vcenter.KeyValue{Key: a.Key, Value: r.Replace(a.Value)}
			}
			m.Args = args
			out.Messages[i] = m
		}
		if cur.Properties != nil {
			out.Properties = make(map[string]string, len(cur.Properties))
			for k, v := range cur.Properties {
				out.Properties[k] = r.Replace(v)
			}
		}
		if root == nil {
			root = &out
		} else {
			parent.Cause = &out
		}
		parent = &out
	}
	return root
}

// lifecycleOf returns up's life-cycle calls: UNIMPLEMENTED for an upstream
// that has none.
func lifecycleOf(up Upstream, vcenterID, resource string) (LifecycleUpstream, error) {
	lc, ok := up.(LifecycleUpstream)
	if !ok {
		return nil, lifecycleUnsupported(vcenterID, resource)
	}
	return lc, nil
}

// pinned is the upstream that ctx's caller's calls go to now (a user's own
// vCenter session, or the shared one), for work that outlives the call:
// the background steps of a gateway task run with the caller's privileges.
func pinned(ctx context.Context, up Upstream) Upstream {
	if c, ok := up.(callerUpstream); ok {
		if p, err := c.users.pick(ctx, c.vcenter, c.shared); err == nil {
			return p
		}
	}
	return up
}

// The life-cycle calls of a [callerUpstream], each sent to the upstream
// [UserSessions.pick] chooses for its caller.

// lifecycle is the life-cycle calls of the upstream [UserSessions.pick]
// chooses for ctx's caller.
func (c callerUpstream) lifecycle(ctx context.Context) (LifecycleUpstream, error) {
	up, err := c.users.pick(ctx, c.vcenter, c.shared)
	if err != nil {
		return nil, err
	}
	return lifecycleOf(up, c.vcenter, "")
}

func (c callerUpstream) RegisterProvider(ctx context.Context, spec vcenter.ProviderSpec) (string, error) {
	lc, err := c.lifecycle(ctx)
	if err != nil {
		return "", err
	}
	return lc.RegisterProvider(ctx, spec)
}

func (c callerUpstream) UnregisterProvider(ctx context.Context, providerUID string) (string, error) {
	lc, err := c.lifecycle(ctx)
	if err != nil {
		return "", err
	}
	return lc.UnregisterProvider(ctx, providerUID)
}

func (c callerUpstream) Sync(ctx context.Context, providerID string) (string, error) {
	lc, err := c.lifecycle(ctx)
	if err != nil {
		return "", err
	}
	return lc.Sync(ctx, providerID)
}

func (c callerUpstream) RefreshCertificate(ctx context.Context, providerID string) (string, error) {
	lc, err := c.lifecycle(ctx)
	if err != nil {
		return "", err
	}
	return lc.RefreshCertificate(ctx, providerID)
}

func (c callerUpstream) TaskResult(ctx context.Context, taskID string) (*vcenter.TaskResult, error) {
	lc, err := c.lifecycle(ctx)
	if err != nil {
		return nil, err
	}
	return lc.TaskResult(ctx, taskID)
}
