package vcenter_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// TestProviderPaths walks every seeded provider through Provider, Reconnect
// and Task, with the simulator's clock moved by hand.
func TestProviderPaths(t *testing.T) {
	t.Parallel()
	type step struct {
		advance  time.Duration
		state    string
		progress bool // progress reported
	}
	tests := []struct {
		name        string
		id          string
		wantName    string
		status      string
		certStatus  string
		vasaVersion string
		statusFault string
		reconnect   string // fault type of the reconnect call itself, "" for a task
		steps       []step
		taskFault   string
		after       string // status after the task ended
	}{
		{
			name: "connected", id: "vp-1", wantName: "array-a", status: "connected", certStatus: "valid", vasaVersion: "3.0",
			steps: []step{{advance: 2 * time.Second, state: vcenter.TaskSuccess}},
			after: "connected",
		},
		{
			name: "disconnected reconnectable", id: "vp-2", wantName: "array-b", status: "disconnected", certStatus: "valid", vasaVersion: "3.0",
			steps: []step{
				{advance: 0, state: vcenter.TaskQueued},
				{advance: 2 * time.Second, state: vcenter.TaskRunning, progress: true},
				{advance: 3 * time.Second, state: vcenter.TaskSuccess},
			},
			after: "connected",
		},
		{
			name: "expired certificate", id: "vp-3", wantName: "array-c", status: "disconnected", certStatus: "expired", vasaVersion: "3.0",
			statusFault: "InvalidCertificate", reconnect: "InvalidCertificate", after: "disconnected",
		},
		{
			name: "unreachable provider", id: "vp-4", wantName: "array-d", status: "disconnected", certStatus: "valid", vasaVersion: "3.0",
			statusFault: "ProviderConnectionFailed", reconnect: "ProviderConnectionFailed", after: "disconnected",
		},
		{
			name: "task fails part-way", id: "vp-5", wantName: "array-e", status: "disconnected", certStatus: "valid", vasaVersion: "3.0",
			statusFault: "ProviderConnectionFailed",
			steps: []step{
				{advance: time.Second, state: vcenter.TaskRunning, progress: true},
				{advance: 2 * time.Second, state: vcenter.TaskError},
			},
			taskFault: "ProviderConnectionFailed", after: "disconnected",
		},
		{
			name: "legacy VASA 1.0", id: "vp-6", wantName: "legacy-f", status: "connected", certStatus: "valid", vasaVersion: "1.0",
			steps: []step{{advance: 2 * time.Second, state: vcenter.TaskSuccess}},
			after: "connected",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			srv := startServer(t, smssim.Options{Now: clock.Now})
			s := newSession(t, sessionConfig(srv))
			ctx := testContext(t)

			p, err := s.Provider(ctx, tt.id)
			if err != nil {
				t.Fatalf("Provider: %v", err)
			}
			got := struct{ ID, Name, Status, CertStatus, VasaVersion string }{p.ID, p.Name, p.Status, p.CertificateStatus, p.VasaVersion}
			want := struct{ ID, Name, Status, CertStatus, VasaVersion string }{tt.id, tt.wantName, tt.status, tt.certStatus, tt.vasaVersion}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Provider (-want +got):\n%s", diff)
			}
			if p.UID == "" || p.URL == "" || p.Version == "" || p.ProviderID == "" || p.Namespace == "" || p.Certificate == "" {
				t.Errorf("Provider lacks identity fields: %+v", p)
			}
			if p.CertificateExpiry.IsZero() || p.LastSyncTime.IsZero() {
				t.Errorf("Provider dates not parsed: expiry %v, last sync %v", p.CertificateExpiry, p.LastSyncTime)
			}
			if (tt.certStatus == "expired") != p.CertificateExpiry.Before(time.Now()) {
				t.Errorf("certificate status %q but expiry %v", p.CertificateStatus, p.CertificateExpiry)
			}
			if p.NeedsExplicitActivation == nil || p.RetainCertificate == nil {
				t.Errorf("Provider optional bools missing")
			}
			switch {
			case tt.statusFault == "" && p.StatusFault != nil:
				t.Errorf("StatusFault = %v, want none", p.StatusFault)
			case tt.statusFault != "" && (p.StatusFault == nil || p.StatusFault.TypeName != tt.statusFault):
				t.Errorf("StatusFault = %v, want %s", p.StatusFault, tt.statusFault)
			case tt.statusFault != "" && p.StatusFault.Message == "":
				t.Errorf("StatusFault has no localized message")
			}

			taskID, err := s.Reconnect(ctx, tt.id)
			if tt.reconnect != "" {
				var f *vcenter.Fault
				if !errors.As(err, &f) || f.TypeName != tt.reconnect {
					t.Fatalf("Reconnect: err %v, want %s fault", err, tt.reconnect)
				}
				if len(f.Messages) == 0 || f.Messages[0].Key == "" || f.Messages[0].Text == "" || len(f.Messages[0].Args) == 0 {
					t.Errorf("Reconnect fault messages = %+v", f.Messages)
				}
			} else if err != nil {
				t.Fatalf("Reconnect: %v", err)
			}

			for i, st := range tt.steps {
				clock.Advance(st.advance)
				ti, err := s.Task(ctx, taskID)
				if err != nil {
					t.Fatalf("step %d: Task: %v", i, err)
				}
				if ti.ID != taskID || ti.Target != tt.id || ti.TargetType != vcenter.TypeVasaProvider {
					t.Errorf("step %d: task identity %q target %s:%s", i, ti.ID, ti.TargetType, ti.Target)
				}
				if ti.State != st.state {
					t.Errorf("step %d: state %q, want %q", i, ti.State, st.state)
				}
				if st.progress != (ti.Progress != nil) {
					t.Errorf("step %d: progress %v, want reported=%v", i, ti.Progress, st.progress)
				}
				if ti.Progress != nil && (*ti.Progress <= 0 || *ti.Progress > 100) {
					t.Errorf("step %d: progress %d out of range", i, *ti.Progress)
				}
				if st.state != vcenter.TaskQueued && ti.StartTime.IsZero() {
					t.Errorf("step %d: no start time", i)
				}
				if ti.Done() != ti.CompletionTime.After(time.Time{}) {
					t.Errorf("step %d: done %v but completion time %v", i, ti.Done(), ti.CompletionTime)
				}
				if st.state == vcenter.TaskError {
					if ti.Error == nil || ti.Error.TypeName != tt.taskFault || ti.Error.Message == "" {
						t.Errorf("step %d: task error %+v, want %s with a message", i, ti.Error, tt.taskFault)
					}
				} else if ti.Error != nil {
					t.Errorf("step %d: task error %v", i, ti.Error)
				}
			}

			p, err = s.Provider(ctx, tt.id)
			if err != nil {
				t.Fatalf("Provider after reconnect: %v", err)
			}
			if p.Status != tt.after {
				t.Errorf("status after reconnect = %q, want %q", p.Status, tt.after)
			}
		})
	}
}

func TestProviders(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	srv.Sim.AddProvider(smssim.Provider{ID: "vp:odd-id.7"})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	ids, err := s.Providers(ctx)
	if err != nil {
		t.Fatalf("Providers: %v", err)
	}
	if diff := cmp.Diff([]string{"vp-1", "vp-2", "vp-3", "vp-4", "vp-5", "vp-6", "vp:odd-id.7"}, ids); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
	p, err := s.Provider(ctx, "vp:odd-id.7")
	if err != nil {
		t.Fatalf("Provider with ':' in its moId: %v", err)
	}
	if p.ID != "vp:odd-id.7" || p.StatusFault != nil || !p.CertificateExpiry.IsZero() {
		t.Errorf("sparse provider = %+v", p)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	sync, err := s.Sync(ctx, "vp-1")
	if err != nil || !strings.HasPrefix(sync, "SmsTask") {
		t.Errorf("Sync = %q, %v", sync, err)
	}
	_, err = s.Sync(ctx, "vp-1")
	if !errors.Is(err, &vcenter.Fault{TypeName: "SyncInProgress"}) {
		t.Errorf("second Sync: %v, want SyncInProgress", err)
	}
}
