package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// Upstream is a session to one vCenter as the gateway uses it: what the
// service needs (the provider life cycle included), and the health check's
// Ping.
type Upstream interface {
	service.Upstream
	service.LifecycleUpstream
	Ping(ctx context.Context) error
}

// instrumentedUpstream measures and traces each call the service makes to
// one vCenter session: a client span per call, and the call counted and
// timed by method and outcome. Methods it does not override pass through
// the embedded upstream unmeasured.
type instrumentedUpstream struct {
	Upstream
	vcenter  string
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tracer   trace.Tracer
}

// instrumentUpstream wraps up for the vCenter with the given id.
func instrumentUpstream(up Upstream, vcenterID string, m *metrics, tracer trace.Tracer) Upstream {
	return &instrumentedUpstream{
		Upstream: up,
		vcenter:  vcenterID,
		requests: m.upstreamRequests,
		duration: m.upstreamDuration,
		tracer:   tracer,
	}
}

// call starts the span of one upstream call and returns the function that
// ends it and records the call's metrics.
func (u *instrumentedUpstream) call(ctx context.Context, method string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	start := time.Now()
	ctx, span := u.tracer.Start(ctx, "vcenter.sms/"+method,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(attrs, attribute.String("vasagw.vcenter", u.vcenter))...),
	)
	return ctx, func(err error) {
		outcome := upstreamOutcome(err)
		u.requests.WithLabelValues(u.vcenter, method, outcome).Inc()
		u.duration.WithLabelValues(u.vcenter, method).Observe(time.Since(start).Seconds())
		if err != nil {
			span.SetAttributes(attribute.String("vasagw.upstream.outcome", outcome))
			span.RecordError(err)
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}
}

// Providers lists the provider ids, measured.
func (u *instrumentedUpstream) Providers(ctx context.Context) ([]string, error) {
	ctx, done := u.call(ctx, "Providers")
	ids, err := u.Upstream.Providers(ctx)
	done(err)
	return ids, err
}

// Provider reads one provider, measured.
func (u *instrumentedUpstream) Provider(ctx context.Context, id string) (*vcenter.Provider, error) {
	ctx, done := u.call(ctx, "Provider", attribute.String("vasagw.provider", id))
	p, err := u.Upstream.Provider(ctx, id)
	done(err)
	return p, err
}

// Reconnect starts a provider reconnect task, measured.
func (u *instrumentedUpstream) Reconnect(ctx context.Context, providerID string) (string, error) {
	ctx, done := u.call(ctx, "Reconnect", attribute.String("vasagw.provider", providerID))
	id, err := u.Upstream.Reconnect(ctx, providerID)
	done(err)
	return id, err
}

// Task reads a task's info, measured.
func (u *instrumentedUpstream) Task(ctx context.Context, taskID string) (*vcenter.TaskInfo, error) {
	ctx, done := u.call(ctx, "Task", attribute.String("vasagw.task", taskID))
	info, err := u.Upstream.Task(ctx, taskID)
	done(err)
	return info, err
}

// RegisterProvider starts a provider registration, measured. The span
// names no part of the spec: its password is a secret.
func (u *instrumentedUpstream) RegisterProvider(ctx context.Context, spec vcenter.ProviderSpec) (string, error) {
	ctx, done := u.call(ctx, "RegisterProvider")
	id, err := u.Upstream.RegisterProvider(ctx, spec)
	done(err)
	return id, err
}

// UnregisterProvider starts a provider's unregistration, measured.
func (u *instrumentedUpstream) UnregisterProvider(ctx context.Context, providerUID string) (string, error) {
	ctx, done := u.call(ctx, "UnregisterProvider", attribute.String("vasagw.provider_uid", providerUID))
	id, err := u.Upstream.UnregisterProvider(ctx, providerUID)
	done(err)
	return id, err
}

// Sync starts a provider sync, measured.
func (u *instrumentedUpstream) Sync(ctx context.Context, providerID string) (string, error) {
	ctx, done := u.call(ctx, "Sync", attribute.String("vasagw.provider", providerID))
	id, err := u.Upstream.Sync(ctx, providerID)
	done(err)
	return id, err
}

// RefreshCertificate starts a provider certificate refresh, measured.
func (u *instrumentedUpstream) RefreshCertificate(ctx context.Context, providerID string) (string, error) {
	ctx, done := u.call(ctx, "RefreshCertificate", attribute.String("vasagw.provider", providerID))
	id, err := u.Upstream.RefreshCertificate(ctx, providerID)
	done(err)
	return id, err
}

// TaskResult reads a finished task's result, measured.
func (u *instrumentedUpstream) TaskResult(ctx context.Context, taskID string) (*vcenter.TaskResult, error) {
	ctx, done := u.call(ctx, "TaskResult", attribute.String("vasagw.task", taskID))
	res, err := u.Upstream.TaskResult(ctx, taskID)
	done(err)
	return res, err
}

// Ping checks the session (the health check's call), measured.
func (u *instrumentedUpstream) Ping(ctx context.Context) error {
	ctx, done := u.call(ctx, "Ping")
	err := u.Upstream.Ping(ctx)
	done(err)
	return err
}

// upstreamOutcome names the outcome of an upstream call for the outcome
// label: "ok", the vSphere fault type (e.g. "InvalidCertificate"),
// "unreachable", "untrusted_certificate", "closed", "canceled",
// "deadline_exceeded" or "error". The set is bounded: fault type names that
// do not look like vSphere type names are reported as "MethodFault".
func upstreamOutcome(err error) string {
	var fault *vcenter.Fault
	var untrusted *vcenter.UntrustedCertificateError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &untrusted):
		return "untrusted_certificate"
	case errors.As(err, &fault):
		if !isTypeName(fault.TypeName) {
			return "MethodFault"
		}
		return fault.TypeName
	case errors.Is(err, vcenter.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, vcenter.ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	default:
		return "error"
	}
}

// isTypeName reports whether s looks like a vSphere type name: a short
// ASCII identifier.
func isTypeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
