package service

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// taskServer implements vasagwv1.TaskServiceServer.
type taskServer struct {
	vasagwv1.UnimplementedTaskServiceServer
	s *Service
}

// GetTask returns a task's current state.
func (t *taskServer) GetTask(ctx context.Context, req *vasagwv1.GetTaskRequest) (*vasagwv1.Task, error) {
	name, err := parseTaskName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	up, err := t.s.upstream(name.VCenter, name.String())
	if err != nil {
		return nil, err
	}
	if isGatewayTaskID(name.Task) {
		return t.s.gatewayTaskSnapshot(ctx, name)
	}
	return t.s.taskSnapshot(ctx, up, name.VCenter, name.Task)
}

// WatchTask streams a task's snapshots from the shared poller: the current
// one at once, then each change, ending after the terminal state.
func (t *taskServer) WatchTask(req *vasagwv1.WatchTaskRequest, stream grpc.ServerStreamingServer[vasagwv1.Task]) error {
	ctx := stream.Context()
	name, err := parseTaskName("name", req.GetName())
	if err != nil {
		return err
	}
	resource := name.String()
	var sub *subscription
	if isGatewayTaskID(name.Task) {
		key := hubKey{vcenter: name.VCenter, task: name.Task}
		if gt, ok := t.s.gateway.get(name.VCenter, name.Task); ok {
			sub, err = t.s.hub.subscribeGateway(gt)
		} else if _, _, ok := t.s.sharedSnapshot(ctx, key); ok {
			// Run by another replica: followed from the shared store.
			sub, err = t.s.hub.subscribe(key)
		} else {
			return notFound(name.VCenter, resource)
		}
	} else {
		sub, err = t.s.hub.subscribe(hubKey{vcenter: name.VCenter, task: name.Task})
	}
	if err != nil {
		return err
	}
	defer sub.close()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-sub.notify:
		}
		for _, ev := range sub.drain() {
			if ev.err != nil {
				return t.s.fail(ctx, ev.err, name.VCenter, resource, "watch task")
			}
			if err := stream.Send(ev.task); err != nil {
				return err
			}
			if terminal(ev.task.GetState()) {
				return nil
			}
		}
	}
}
