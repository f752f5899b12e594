package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/vcenter"
)

func TestTracingConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		enabled bool
		wantErr string
	}{
		{name: "nothing set", env: nil},
		{name: "none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}},
		{name: "disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, enabled: true},
		{name: "traces endpoint grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, enabled: true},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, enabled: true},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, wantErr: "PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := newTracing(context.Background(), tc.env, nil, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = tr.shutdown(ctx)
			}()
			if tr.enabled != tc.enabled {
				t.Errorf("enabled = %v, want %v", tr.enabled, tc.enabled)
			}
		})
	}
}

func TestUpstreamOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{name: "ok", err: nil, want: "ok"},
		{name: "fault", err: fmt.Errorf("query: %w", &vcenter.Fault{TypeName: "InvalidCertificate"}), want: "InvalidCertificate"},
		{name: "odd fault name", err: &vcenter.Fault{TypeName: "not a type/name"}, want: "MethodFault"},
		{name: "unreachable", err: fmt.Errorf("dial: %w", vcenter.ErrUnreachable), want: "unreachable"},
		{name: "untrusted", err: &vcenter.UntrustedCertificateError{Err: errors.New("x509")}, want: "untrusted_certificate"},
		{name: "closed", err: vcenter.ErrClosed, want: "closed"},
		{name: "canceled", err: context.Canceled, want: "canceled"},
		{name: "deadline", err: context.DeadlineExceeded, want: "deadline_exceeded"},
		{name: "other", err: errors.New("boom"), want: "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstreamOutcome(tc.err); got != tc.want {
				t.Errorf("upstreamOutcome(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
