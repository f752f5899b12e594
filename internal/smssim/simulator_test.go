package smssim_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

func TestQueryStorageManagerAndProviders(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	ctx := context.Background()

	sm, err := methods.QueryStorageManager(ctx, c.sms, &smstypes.QueryStorageManager{This: smssim.ServiceInstance})
	if err != nil {
		t.Fatalf("QueryStorageManager: %v", err)
	}
	if sm.Returnval != smssim.StorageManager {
		t.Fatalf("QueryStorageManager = %v, want %v", sm.Returnval, smssim.StorageManager)
	}
	res, err := methods.QueryProvider(ctx, c.sms, &smstypes.QueryProvider{This: sm.Returnval})
	if err != nil {
		t.Fatalf("QueryProvider: %v", err)
	}
	var ids []string
	for _, ref := range res.Returnval {
		if ref.Type != "VasaProvider" {
			t.Errorf("provider ref type %q", ref.Type)
		}
		ids = append(ids, ref.Value)
	}
	if want := []string{"vp-1", "vp-2", "vp-3", "vp-4", "vp-5", "vp-6"}; !slices.Equal(ids, want) {
		t.Fatalf("QueryProvider = %v, want %v", ids, want)
	}
}

func TestQueryProviderInfoSeed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)

	tests := []struct {
		id, name, status, vasa, cert string
		statusFault                  bool
	}{
		{"vp-1", "array-a", "connected", "3.0", "valid", false},
		{"vp-2", "array-b", "disconnected", "3.0", "valid", false},
		{"vp-3", "array-c", "disconnected", "3.0", "expired", true},
		{"vp-4", "array-d", "disconnected", "3.0", "valid", true},
		{"vp-5", "array-e", "disconnected", "3.0", "valid", true},
		{"vp-6", "legacy-f", "connected", "1.0", "valid", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			info := c.info(t, tt.id)
			if info.Name != tt.name || info.Status != tt.status || info.VasaVersion != tt.vasa || info.CertificateStatus != tt.cert {
				t.Errorf("info = {%s %s %s %s}, want {%s %s %s %s}", info.Name, info.Status, info.VasaVersion, info.CertificateStatus,
					tt.name, tt.status, tt.vasa, tt.cert)
			}
			if got := info.StatusFault != nil; got != tt.statusFault {
				t.Errorf("statusFault set = %v, want %v", got, tt.statusFault)
			}
			if info.Uid == "" || info.Url == "" || info.ProviderId == "" || info.Namespace == "" || info.Version == "" {
				t.Errorf("missing identity fields: %+v", info)
			}
			for _, ts := range []string{info.CertificateExpiryDate, info.LastSyncTime} {
				if _, err := time.Parse(time.RFC3339, ts); err != nil {
					t.Errorf("timestamp %q: %v", ts, err)
				}
			}
			block, _ := pem.Decode([]byte(info.Certificate))
			if block == nil {
				t.Fatalf("certificate is not PEM: %q", info.Certificate)
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatalf("parse certificate: %v", err)
			}
			expiry, _ := time.Parse(time.RFC3339, info.CertificateExpiryDate)
			if !cert.NotAfter.Equal(expiry) {
				t.Errorf("certificate NotAfter %v, certificateExpiryDate %v", cert.NotAfter, expiry)
			}
			if expired := time.Now().After(cert.NotAfter); expired != (tt.cert == "expired") {
				t.Errorf("certificate expired = %v, status %s", expired, tt.cert)
			}
		})
	}
}

// TestReconnectTasks follows each reconnect path with a controlled clock.
func TestReconnectTasks(t *testing.T) {
	t.Parallel()
	type step struct {
		advance  time.Duration
		state    string
		progress int32 // -1: any value in (0, 100)
	}
	tests := []struct {
		name       string
		id         string
		steps      []step
		wantStatus string
		wantFault  vimtypes.BaseMethodFault // of the finished task
	}{
		{
			name: "connected provider: no-op task succeeds",
			id:   "vp-1",
			steps: []step{
				{0, "queued", 0},
				{500 * time.Millisecond, "running", -1},
				{time.Second, "success", 0},
			},
			wantStatus: "connected",
		},
		{
			name: "disconnected provider reconnects",
			id:   "vp-2",
			steps: []step{
				{0, "queued", 0},
				{time.Second, "running", 16},
				{2 * time.Second, "running", 72},
				{time.Second, "success", 0},
			},
			wantStatus: "connected",
		},
		{
			name: "task fails half-way",
			id:   "vp-5",
			steps: []step{
				{0, "queued", 0},
				{time.Second, "running", 16},
				{time.Second, "error", 0},
			},
			wantStatus: "disconnected",
			wantFault:  new(smstypes.ProviderConnectionFailed),
		},
		{
			name: "legacy provider",
			id:   "vp-6",
			steps: []step{
				{0, "queued", 0},
				{2 * time.Second, "success", 0},
			},
			wantStatus: "connected",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			srv := startServer(t, smssim.Options{Now: clk.Now})
			c := login(t, srv)

			created := clk.Now()
			task, err := c.reconnect(tt.id)
			if err != nil {
				t.Fatalf("reconnect: %v", err)
			}
			if task.Type != "SmsTask" {
				t.Fatalf("task ref %v", task)
			}
			var info smstypes.SmsTaskInfo
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				info = c.taskInfo(t, task)
				if info.State != s.state {
					t.Fatalf("step %d: state %q, want %q", i, info.State, s.state)
				}
				switch {
				case s.progress == -1 && (info.Progress <= 0 || info.Progress >= 100):
					t.Errorf("step %d: progress %d, want in (0, 100)", i, info.Progress)
				case s.progress >= 0 && info.Progress != s.progress:
					t.Errorf("step %d: progress %d, want %d", i, info.Progress, s.progress)
				}
				if info.Task != task || info.Object == nil || info.Object.Value != tt.id {
					t.Errorf("step %d: task %v object %v", i, info.Task, info.Object)
				}
				if (info.State == "queued") != (info.StartTime == nil) {
					t.Errorf("step %d: state %s with startTime %v", i, info.State, info.StartTime)
				}
			}
			if info.CompletionTime == nil || info.StartTime == nil {
				t.Fatalf("finished task without times: %+v", info)
			}
			if !info.StartTime.After(created) || info.CompletionTime.Before(*info.StartTime) || info.CompletionTime.After(clk.Now()) {
				t.Errorf("times: created %v start %v completion %v now %v", created, info.StartTime, info.CompletionTime, clk.Now())
			}

			res, err := c.taskResult(task)
			if tt.wantFault == nil {
				if err != nil || res != nil || info.Error != nil {
					t.Errorf("result %v, %v, task error %v", res, err, info.Error)
				}
			} else {
				if info.Error == nil || info.Error.LocalizedMessage == "" {
					t.Fatalf("task error %+v, want a localized fault", info.Error)
				}
				if !fault.Is(info.Error, tt.wantFault) {
					t.Errorf("task error %T, want %T", info.Error.Fault, tt.wantFault)
				}
				if !fault.Is(err, tt.wantFault) {
					t.Errorf("QuerySmsTaskResult error %v, want %T", err, tt.wantFault)
				}
			}
			if got := c.info(t, tt.id).Status; got != tt.wantStatus {
				t.Errorf("status after task %q, want %q", got, tt.wantStatus)
			}
			if got, _ := srv.Sim.Provider(tt.id); got.Status != tt.wantStatus {
				t.Errorf("Sim.Provider status %q, want %q", got.Status, tt.wantStatus)
			}
		})
	}
}

func TestReconnectSynchronousFaults(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)

	t.Run("vp-3 InvalidCertificate", func(t *testing.T) {
		t.Parallel()
		_, err := c.reconnect("vp-3")
		var ic *smstypes.InvalidCertificate
		if _, ok := fault.As(err, &ic); !ok {
			t.Fatalf("reconnect vp-3: %v, want InvalidCertificate", err)
		}
		block, _ := pem.Decode([]byte(ic.Certificate))
		if block == nil {
			t.Fatalf("certificate not PEM: %q", ic.Certificate)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !cert.NotAfter.Before(time.Now()) {
			t.Errorf("certificate %v (err %v), want an expired one", cert.NotAfter, err)
		}
		if len(ic.FaultMessage) != 1 {
			t.Fatalf("faultMessage %+v", ic.FaultMessage)
		}
		m := ic.FaultMessage[0]
		if m.Key == "" || m.Message == "" || len(m.Arg) != 2 || m.Arg[0].Key != "providerName" || m.Arg[0].Value != "array-c" {
			t.Errorf("faultMessage %+v", m)
		}
	})
	t.Run("vp-4 ProviderConnectionFailed", func(t *testing.T) {
		t.Parallel()
		_, err := c.reconnect("vp-4")
		var pcf *smstypes.ProviderConnectionFailed
		if _, ok := fault.As(err, &pcf); !ok {
			t.Fatalf("reconnect vp-4: %v, want ProviderConnectionFailed", err)
		}
		if len(pcf.FaultMessage) != 1 || pcf.FaultMessage[0].Message == "" {
			t.Errorf("faultMessage %+v", pcf.FaultMessage)
		}
		if pcf.FaultCause == nil || pcf.FaultCause.LocalizedMessage == "" {
			t.Fatalf("faultCause %+v", pcf.FaultCause)
		}
		if se, ok := pcf.FaultCause.Fault.(*vimtypes.SystemError); !ok || se.Reason == "" {
			t.Errorf("faultCause fault %#v, want SystemError with a reason", pcf.FaultCause.Fault)
		}
	})
	// Parallel subtests run after this function returns: count in cleanup.
	t.Cleanup(func() {
		if n := srv.Sim.CallsOn("VasaProviderReconnect_Task", "vp-3"); n != 1 {
			t.Errorf("CallsOn(reconnect, vp-3) = %d, want 1", n)
		}
	})
}

func TestQuerySmsTaskResultBeforeEnd(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)
	task, err := c.reconnect("vp-2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.taskResult(task); !fault.Is(err, new(vimtypes.InvalidState)) {
		t.Errorf("QuerySmsTaskResult on a running task: %v, want InvalidState", err)
	}
}

func TestSync(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)
	before := c.info(t, "vp-1").LastSyncTime

	task, err := c.sync("vp-1")
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if _, err := c.sync("vp-1"); !fault.Is(err, new(smstypes.SyncInProgress)) {
		t.Errorf("second sync: %v, want SyncInProgress", err)
	}
	clk.Advance(2 * time.Second)
	if info := c.taskInfo(t, task); info.State != "success" {
		t.Fatalf("sync task state %q", info.State)
	}
	after := c.info(t, "vp-1").LastSyncTime
	if after == before || after != clk.Now().UTC().Format(time.RFC3339) {
		t.Errorf("lastSyncTime %q -> %q, want %q", before, after, clk.Now().UTC().Format(time.RFC3339))
	}

	failed, err := c.sync("vp-2")
	if err != nil {
		t.Fatalf("sync vp-2: %v", err)
	}
	clk.Advance(2 * time.Second)
	info := c.taskInfo(t, failed)
	if info.State != "error" || !fault.Is(info.Error, new(smstypes.ProviderUnavailable)) {
		t.Errorf("sync of a disconnected provider: %s %+v", info.State, info.Error)
	}
}

func TestSetSpeed(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := login(t, srv)

	srv.Sim.SetSpeed(2)
	task, err := c.reconnect("vp-2")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // 2 s simulated
	if info := c.taskInfo(t, task); info.State != "running" || info.Progress != 44 {
		t.Fatalf("at 2x after 1s: %s %d%%, want running 44%%", info.State, info.Progress)
	}
	srv.Sim.SetSpeed(0.5)
	if info := c.taskInfo(t, task); info.Progress != 44 {
		t.Errorf("progress jumped to %d%% on SetSpeed", info.Progress)
	}
	clk.Advance(2 * time.Second) // 1 s simulated
	if info := c.taskInfo(t, task); info.State != "running" || info.Progress != 72 {
		t.Errorf("at 0.5x after 2s more: %s %d%%, want running 72%%", info.State, info.Progress)
	}
	clk.Advance(2 * time.Second) // 1 s simulated: done
	info := c.taskInfo(t, task)
	if info.State != "success" {
		t.Fatalf("state %q, want success", info.State)
	}
	if want := clk.Now(); !info.CompletionTime.Equal(want) {
		t.Errorf("completionTime %v, want %v", info.CompletionTime, want)
	}
}

func TestUnknownObjects(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := login(t, srv)
	ctx := context.Background()

	unknownProvider := providerRef("vp-404")
	unknownTask := vimtypes.ManagedObjectReference{Type: "SmsTask", Value: "SmsTask-404"}
	tests := []struct {
		name string
		ref  vimtypes.ManagedObjectReference
		call func() error
	}{
		{"QueryProviderInfo", unknownProvider, func() error {
			_, err := methods.QueryProviderInfo(ctx, c.sms, &smstypes.QueryProviderInfo{This: unknownProvider})
			return err
		}},
		{"VasaProviderReconnect_Task", unknownProvider, func() error { _, err := c.reconnect("vp-404"); return err }},
		{"VasaProviderSync_Task", unknownProvider, func() error { _, err := c.sync("vp-404"); return err }},
		{"QuerySmsTaskInfo", unknownTask, func() error {
			_, err := methods.QuerySmsTaskInfo(ctx, c.sms, &smstypes.QuerySmsTaskInfo{This: unknownTask})
			return err
		}},
		{"QuerySmsTaskResult", unknownTask, func() error { _, err := c.taskResult(unknownTask); return err }},
		{"provider moId with a task type", vimtypes.ManagedObjectReference{Type: "SmsTask", Value: "vp-1"}, func() error {
			_, err := methods.QuerySmsTaskInfo(ctx, c.sms, &smstypes.QuerySmsTaskInfo{This: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: "vp-1"}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			var nf *vimtypes.ManagedObjectNotFound
			if _, ok := fault.As(err, &nf); !ok {
				t.Fatalf("%v, want ManagedObjectNotFound", err)
			}
			if nf.Obj != tt.ref {
				t.Errorf("obj %v, want %v", nf.Obj, tt.ref)
			}
		})
	}
}
