package vcenter_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

func TestClientMethods(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	srv := startServer(t, smssim.Options{Now: clock.Now})
	c := newClient(t, srv)
	ctx := testContext(t)

	sm, err := c.QueryStorageManager(ctx)
	if err != nil {
		t.Fatalf("QueryStorageManager: %v", err)
	}
	if sm.Type != "SmsStorageManager" || sm != c.StorageManager {
		t.Errorf("QueryStorageManager = %v, NewClient found %v", sm, c.StorageManager)
	}

	refs, err := c.QueryProvider(ctx)
	if err != nil {
		t.Fatalf("QueryProvider: %v", err)
	}
	var ids []string
	for _, r := range refs {
		if r.Type != vcenter.TypeVasaProvider {
			t.Errorf("provider ref type %q", r.Type)
		}
		ids = append(ids, r.Value)
	}
	if diff := cmp.Diff([]string{"vp-1", "vp-2", "vp-3", "vp-4", "vp-5", "vp-6"}, ids); diff != "" {
		t.Errorf("QueryProvider (-want +got):\n%s", diff)
	}

	info, err := c.QueryProviderInfo(ctx, vcenter.ProviderRef("vp-2"))
	if err != nil {
		t.Fatalf("QueryProviderInfo: %v", err)
	}
	if info.Name != "array-b" || info.Status != "disconnected" {
		t.Errorf("QueryProviderInfo(vp-2) = name %q status %q", info.Name, info.Status)
	}

	task, err := c.ReconnectProvider(ctx, vcenter.ProviderRef("vp-2"))
	if err != nil {
		t.Fatalf("ReconnectProvider: %v", err)
	}
	if task.Type != vcenter.TypeSmsTask || task.Value == "" {
		t.Fatalf("ReconnectProvider task = %v", task)
	}
	ti, err := c.QueryTaskInfo(ctx, task)
	if err != nil {
		t.Fatalf("QueryTaskInfo: %v", err)
	}
	if ti.State != vcenter.TaskQueued || ti.Object == nil || ti.Object.Value != "vp-2" {
		t.Errorf("QueryTaskInfo at start = state %q object %v", ti.State, ti.Object)
	}
	_, err = c.QueryTaskResult(ctx, task)
	var f *vcenter.Fault
	if !errors.As(err, &f) || f.TypeName != "InvalidState" {
		t.Errorf("QueryTaskResult of an unfinished task: err %v, want InvalidState fault", err)
	}

	clock.Advance(10 * time.Second)
	ti, err = c.QueryTaskInfo(ctx, task)
	if err != nil {
		t.Fatalf("QueryTaskInfo: %v", err)
	}
	if ti.State != vcenter.TaskSuccess {
		t.Errorf("QueryTaskInfo after the task's duration: state %q", ti.State)
	}
	res, err := c.QueryTaskResult(ctx, task)
	if err != nil || res != nil {
		t.Errorf("QueryTaskResult = %v, %v; want nil, nil", res, err)
	}

	sync, err := c.SyncProvider(ctx, vcenter.ProviderRef("vp-1"))
	if err != nil {
		t.Fatalf("SyncProvider: %v", err)
	}
	if sync.Type != vcenter.TypeSmsTask || sync == task {
		t.Errorf("SyncProvider task = %v", sync)
	}
	_, err = c.SyncProvider(ctx, vcenter.ProviderRef("vp-1"))
	if !errors.As(err, &f) || f.TypeName != "SyncInProgress" || !slices.Contains(f.Supertypes, "ProviderSyncFailed") {
		t.Errorf("second SyncProvider: err %v, want SyncInProgress fault (a ProviderSyncFailed)", err)
	}
	if f != nil && f.Find("ProviderSyncFailed") != f {
		t.Errorf("Find(ProviderSyncFailed) did not find the SyncInProgress fault")
	}

	_, err = c.QueryProviderInfo(ctx, vimtypes.ManagedObjectReference{Type: vcenter.TypeVasaProvider, Value: "vp-missing"})
	if !errors.Is(err, &vcenter.Fault{TypeName: "ManagedObjectNotFound"}) {
		t.Errorf("QueryProviderInfo of a missing provider: %v, want ManagedObjectNotFound", err)
	}
}
