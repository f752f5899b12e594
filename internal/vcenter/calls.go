package vcenter

import (
	"context"

	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// The SMS calls that both a [Session] and a [UserSession] make, written
// once: each session passes its own runner, [Session.call] (which logs in
// again and resends queries) or [UserSession.call] (which never does).

// runner runs fn with a session's SMS client; op tells whether fn may be
// sent twice.
type runner func(ctx context.Context, op kind, fn func(context.Context, *Client) error) error

// queryProviders returns the moIds of the registered VASA providers.
func queryProviders(ctx context.Context, run runner) ([]string, error) {
	var ids []string
	err := run(ctx, readOnly, func(ctx context.Context, c *Client) error {
		refs, err := c.QueryProvider(ctx)
		if err != nil {
			return err
		}
		ids = make([]string, 0, len(refs))
		for _, r := range refs {
			ids = append(ids, r.Value)
		}
		return nil
	})
	return ids, err
}

// queryProvider returns what the provider with moId id reports.
func queryProvider(ctx context.Context, run runner, id string) (*Provider, error) {
	var p *Provider
	err := run(ctx, readOnly, func(ctx context.Context, c *Client) error {
		info, err := c.QueryProviderInfo(ctx, ProviderRef(id))
		if err != nil {
			return err
		}
		p = ProviderFromInfo(id, info)
		return nil
	})
	return p, err
}

// queryTask returns the state of the SmsTask with moId taskID.
func queryTask(ctx context.Context, run runner, taskID string) (*TaskInfo, error) {
	var t *TaskInfo
	err := run(ctx, readOnly, func(ctx context.Context, c *Client) error {
		info, err := c.QueryTaskInfo(ctx, TaskRef(taskID))
		if err != nil {
			return err
		}
		t = TaskInfoFromSMS(info)
		if t.ID == "" {
			t.ID = taskID
		}
		return nil
	})
	return t, err
}

// queryTaskResult returns the result of the finished SmsTask with moId
// taskID (see [Session.TaskResult]).
func queryTaskResult(ctx context.Context, run runner, taskID string) (*TaskResult, error) {
	var out *TaskResult
	err := run(ctx, readOnly, func(ctx context.Context, c *Client) error {
		res, err := c.QueryTaskResult(ctx, TaskRef(taskID))
		if err != nil {
			return err
		}
		out = taskResultOf(res)
		return nil
	})
	return out, err
}

// startTask runs start, a call that starts an SmsTask and so is never sent
// twice, and returns the task's moId.
func startTask(ctx context.Context, run runner, start func(context.Context, *Client) (vimtypes.ManagedObjectReference, error)) (string, error) {
	var id string
	err := run(ctx, mutating, func(ctx context.Context, c *Client) error {
		task, err := start(ctx, c)
		id = task.Value
		return err
	})
	return id, err
}

// onProvider is a call that starts an SmsTask on the provider with moId
// providerID, e.g. (*Client).SyncProvider, for [startTask].
func onProvider(call func(*Client, context.Context, vimtypes.ManagedObjectReference) (vimtypes.ManagedObjectReference, error), providerID string) func(context.Context, *Client) (vimtypes.ManagedObjectReference, error) {
	return func(ctx context.Context, c *Client) (vimtypes.ManagedObjectReference, error) {
		return call(c, ctx, ProviderRef(providerID))
	}
}
