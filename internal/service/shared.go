package service

import (
	"context"
	"time"
)

// This file declares the state that replicas share (README.md, "Scaling
// out"): the interfaces the service needs of a shared store, in plain Go
// types, so that the Redis implementation (internal/store/redisstore)
// depends on nothing of the service and a single gateway runs with none.
// Every method may fail (the store is unreachable): the service then goes
// on with this process's own state and never fails a caller for it.

// Shared is a store the replicas of a gateway share. A nil Shared in
// [Options] keeps everything in this process.
type Shared interface {
	RequestStore
	ActiveTasks
	Leases
	TaskFeed
}

// ActiveTasks remembers the one running task per de-duplication key (a
// provider's reconnect), so a reconnect on any replica joins it.
type ActiveTasks interface {
	// ActiveTask returns the task stored under key.
	ActiveTask(ctx context.Context, key string) (task string, ok bool, err error)
	// SetActiveTask stores task under key for ttl.
	SetActiveTask(ctx context.Context, key, task string, ttl time.Duration) error
}

// Leases are cluster-wide exclusive holds with a time to live: the holder
// renews its lease before it runs out; when the holder dies the lease
// expires and another replica takes it.
type Leases interface {
	// Lease takes the lease name for ttl when it is free, or extends it
	// when this replica holds it, and reports whether this replica holds
	// it now.
	Lease(ctx context.Context, name string, ttl time.Duration) (bool, error)
	// Release gives the lease up if this replica holds it.
	Release(ctx context.Context, name string) error
}

// TaskUpdate is one state of a watched task as a replica published it.
type TaskUpdate struct {
	// Key names the task: "<vcenter>/<task id>".
	Key string
	// Seq orders a task's updates; a later state has a larger Seq, across
	// lease holders.
	Seq int64
	// Data is the task, as protobuf wire bytes.
	Data []byte
	// Resume is what another replica needs to resume a task the gateway
	// runs itself (a recovery's plan and progress; never a secret), stored
	// beside the state and not pushed to subscribers; nil for an SmsTask.
	Resume []byte
}

// TaskFeed carries task states from the replica that polls a task (the
// lease holder) to the replicas whose watchers follow it.
type TaskFeed interface {
	// PublishTask stores u as its task's latest state for ttl, unless a
	// state with a larger Seq is stored already, and tells every
	// replica's subscriber when it stored it.
	PublishTask(ctx context.Context, u TaskUpdate, ttl time.Duration) error
	// LatestTask returns the latest stored state of the task key.
	LatestTask(ctx context.Context, key string) (TaskUpdate, bool, error)
	// SubscribeTasks calls fn with each update any replica publishes,
	// from its own goroutine, until ctx ends; it subscribes again after a
	// failure. Updates may be lost while the store is unreachable (a
	// follower reads LatestTask on its own schedule too).
	SubscribeTasks(ctx context.Context, fn func(TaskUpdate))
}

// sharedTimeout bounds one call to the shared store made on a caller's
// behalf: past it the service goes on with its local state.
const sharedTimeout = 500 * time.Millisecond

// fallbackRequestStore is the request_id store of a replica with a shared
// store: the shared one first, this process's own when that fails or has
// no record. Every record stored in the shared store is kept locally too,
// so that while the shared store is unreachable a retry on this replica
// still finds it, and a record kept locally during an outage still answers
// a retry on this replica afterwards.
type fallbackRequestStore struct {
	shared RequestStore
	local  RequestStore
}

// Get implements [RequestStore].
func (f fallbackRequestStore) Get(ctx context.Context, key RequestKey) (RequestRecord, bool, error) {
	sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	rec, ok, err := f.shared.Get(sctx, key)
	if err == nil && ok {
		return rec, true, nil
	}
	// Unreachable, or not there: a record this replica kept while the
	// shared store was away still stands for its task.
	return f.local.Get(ctx, key)
}

// PutIfAbsent implements [RequestStore].
func (f fallbackRequestStore) PutIfAbsent(ctx context.Context, key RequestKey, rec RequestRecord, ttl time.Duration) (RequestRecord, error) {
	sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	got, err := f.shared.PutIfAbsent(sctx, key, rec, ttl)
	if err != nil {
		return f.local.PutIfAbsent(ctx, key, rec, ttl)
	}
	// The local copy holds what the shared store holds; a local record
	// left from an outage does not override it.
	_, _ = f.local.PutIfAbsent(ctx, key, got, ttl)
	return got, nil
}
