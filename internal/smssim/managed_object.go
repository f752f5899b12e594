package smssim

import (
	"fmt"
	"slices"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// The managed objects below are thin views on the Simulator: vcsim finds
// their SOAP methods by reflection, and each method reads or changes the
// Simulator's state under its lock. They implement sync.Locker with no-ops
// so that vcsim neither serialises calls on them nor keeps a lock per task.

type nopLocker struct{}

func (nopLocker) Lock()   {}
func (nopLocker) Unlock() {}

// serviceInstance is SmsServiceInstance:ServiceInstance.
type serviceInstance struct {
	vimtypes.ManagedObjectReference
	nopLocker
	sim *Simulator
}

func (o *serviceInstance) QueryStorageManager(ctx *simulator.Context, req *smstypes.QueryStorageManager) soap.HasFault {
	body := new(methods.QueryStorageManagerBody)
	if f := o.sim.precheck(ctx, "QueryStorageManager", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	body.Res = &smstypes.QueryStorageManagerResponse{Returnval: StorageManager}
	return body
}

// storageManager is SmsStorageManager:StorageManager.
type storageManager struct {
	vimtypes.ManagedObjectReference
	nopLocker
	sim *Simulator
}

func (o *storageManager) QueryProvider(ctx *simulator.Context, req *smstypes.QueryProvider) soap.HasFault {
	body := new(methods.QueryProviderBody)
	if f := o.sim.precheck(ctx, "QueryProvider", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	refs := make([]vimtypes.ManagedObjectReference, 0, len(o.sim.order))
	for _, id := range o.sim.order {
		refs = append(refs, vimtypes.ManagedObjectReference{Type: typeVasaProvider, Value: id})
	}
	body.Res = &smstypes.QueryProviderResponse{Returnval: refs}
	return body
}

// vasaProvider is a VasaProvider.
type vasaProvider struct {
	vimtypes.ManagedObjectReference
	nopLocker
	sim *Simulator
}

func (o *vasaProvider) QueryProviderInfo(ctx *simulator.Context, req *smstypes.QueryProviderInfo) soap.HasFault {
	body := new(methods.QueryProviderInfoBody)
	if f := o.sim.precheck(ctx, "QueryProviderInfo", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	o.sim.settle()
	info := cloneInfo(o.sim.providers[o.Value].Info)
	body.Res = &smstypes.QueryProviderInfoResponse{Returnval: &info}
	return body
}

// VasaProviderReconnectTask answers VasaProviderReconnect_Task. A provider
// with a ReconnectFault faults at once; otherwise a task starts, and it
// connects the provider when it succeeds if the provider was disconnected.
func (o *vasaProvider) VasaProviderReconnectTask(ctx *simulator.Context, req *smstypes.VasaProviderReconnect_Task) soap.HasFault {
	body := new(methods.VasaProviderReconnect_TaskBody)
	if f := o.sim.precheck(ctx, "VasaProviderReconnect_Task", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	p := o.sim.providers[o.Value]
	if p.ReconnectFault != nil {
		body.Fault_ = simulator.Fault(faultString(p.ReconnectFault), p.ReconnectFault)
		return body
	}
	id := o.Value
	connects := p.Info.Status == StatusDisconnected
	ref := o.sim.newTask(taskSpec{
		method: "VasaProviderReconnect_Task", provider: id, object: o.ManagedObjectReference, kind: taskReconnect,
		duration: p.ReconnectDuration, fault: p.TaskFault,
		effect: func(done string) {
			if p := o.sim.providers[id]; p != nil && connects {
				p.Info.Status = StatusConnected
				p.Info.StatusFault = nil
				p.Info.LastSyncTime = done
			}
		},
	})
	body.Res = &smstypes.VasaProviderReconnect_TaskResponse{Returnval: ref}
	return body
}

// VasaProviderSyncTask answers VasaProviderSync_Task. A second sync while
// one runs faults SyncInProgress; a sync of a provider that is not
// connected or online fails half-way with ProviderUnavailable.
func (o *vasaProvider) VasaProviderSyncTask(ctx *simulator.Context, req *smstypes.VasaProviderSync_Task) soap.HasFault {
	body := new(methods.VasaProviderSync_TaskBody)
	if f := o.sim.precheck(ctx, "VasaProviderSync_Task", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	o.sim.settle()
	for _, t := range o.sim.pending {
		if t.kind == taskSync && t.provider == o.Value {
			msg := fmt.Sprintf("A sync operation is already in progress for VASA provider %s.", o.sim.providers[o.Value].Info.Name)
			body.Fault_ = simulator.Fault(msg, &smstypes.SyncInProgress{ProviderSyncFailed: smstypes.ProviderSyncFailed{
				MethodFault: methodFault("com.vmware.vim.sms.provider.sync.inProgress", msg),
			}})
			return body
		}
	}
	p := o.sim.providers[o.Value]
	var fault *vimtypes.LocalizedMethodFault
	if !slices.Contains([]string{StatusConnected, string(smstypes.VasaProviderStatusOnline)}, p.Info.Status) {
		msg := fmt.Sprintf("VASA provider %s is not available.", p.Info.Name)
		fault = localized(&smstypes.ProviderUnavailable{
			MethodFault: methodFault("com.vmware.vim.sms.provider.unavailable", msg),
		}, msg)
	}
	id := o.Value
	ref := o.sim.newTask(taskSpec{
		method: "VasaProviderSync_Task", provider: id, object: o.ManagedObjectReference, kind: taskSync,
		duration: p.SyncDuration, fault: fault,
		effect: func(done string) {
			if p := o.sim.providers[id]; p != nil {
				p.Info.LastSyncTime = done
			}
		},
	})
	body.Res = &smstypes.VasaProviderSync_TaskResponse{Returnval: ref}
	return body
}

// smsTask is an SmsTask.
type smsTask struct {
	vimtypes.ManagedObjectReference
	nopLocker
	sim *Simulator
}

func (o *smsTask) QuerySmsTaskInfo(ctx *simulator.Context, req *smstypes.QuerySmsTaskInfo) soap.HasFault {
	body := new(methods.QuerySmsTaskInfoBody)
	if f := o.sim.precheck(ctx, "QuerySmsTaskInfo", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	o.sim.settle()
	c := o.sim.clock
	info := o.sim.tasks[o.Value].info(c, c.virtual(c.now()))
	body.Res = &smstypes.QuerySmsTaskInfoResponse{Returnval: info}
	return body
}

// QuerySmsTaskResult answers the task's result: none for reconnect and sync
// tasks that succeeded, the task's fault for one that failed, and
// InvalidState for a task that has not ended yet.
func (o *smsTask) QuerySmsTaskResult(ctx *simulator.Context, req *smstypes.QuerySmsTaskResult) soap.HasFault {
	body := new(methods.QuerySmsTaskResultBody)
	if f := o.sim.precheck(ctx, "QuerySmsTaskResult", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	o.sim.mu.Lock()
	defer o.sim.mu.Unlock()
	o.sim.settle()
	c := o.sim.clock
	info := o.sim.tasks[o.Value].info(c, c.virtual(c.now()))
	switch info.State {
	case string(smstypes.SmsTaskStateSuccess):
		body.Res = &smstypes.QuerySmsTaskResultResponse{Returnval: info.Result}
	case string(smstypes.SmsTaskStateError):
		body.Fault_ = simulator.Fault(info.Error.LocalizedMessage, info.Error.Fault)
	default:
		body.Fault_ = simulator.Fault(fmt.Sprintf("Task %s has not completed.", o.Value), &vimtypes.InvalidState{})
	}
	return body
}
