package service

import (
	"context"
	"sync"
	"time"

	"github.com/vasagw/vasagw/internal/auth"
)

// This file holds the request_id memory (README.md, "Idempotency"): a
// request_id is remembered per caller identity, so the same caller resending
// it gets the same task, another caller with the same id starts its own,
// and the same caller reusing an id for another operation or target gets
// INVALID_ARGUMENT REQUEST_ID_REUSED. No answer ever depends on another
// caller's use of an id.

// RequestKey names one caller's request_id.
type RequestKey struct {
	// Caller is the caller's identity as [auth.Caller.String] spells it;
	// every anonymous caller shares the identity "anonymous".
	Caller string
	// RequestID is the id in its canonical (lower-case) form.
	RequestID string
}

// RequestRecord is what a request_id started.
type RequestRecord struct {
	// Operation names the RPC ("reconnect", ...), so that an id sent to
	// two different RPCs is a reuse even for the same target.
	Operation string
	// Target is the full resource name the operation acted on.
	Target string
	// Task is the id of the SMS task the operation started.
	Task string
}

// RequestStore remembers request_ids. The service declares it so that
// replicas can share one (a Redis implementation) while a single gateway
// uses [NewMemoryRequestStore]. Both methods must be safe for concurrent
// use.
type RequestStore interface {
	// Get returns the record stored under key, if one has not expired.
	Get(ctx context.Context, key RequestKey) (RequestRecord, bool, error)
	// PutIfAbsent stores rec under key for ttl unless a record that has
	// not expired is there already, and returns the record that key holds
	// afterwards: rec, or the earlier one. The first record wins, so a
	// retry racing its original cannot re-point the id.
	PutIfAbsent(ctx context.Context, key RequestKey, rec RequestRecord, ttl time.Duration) (RequestRecord, error)
}

// Operation names recorded in a [RequestRecord].
const (
	opReconnect = "reconnect"
)

// maxRequestIDs bounds the in-memory request_id store; when it is full the
// oldest record goes first. At the default reconnect rate (10 a minute per
// caller) it holds the last hour of about 160 busy callers.
const maxRequestIDs = 100_000

// MemoryRequestStore is a [RequestStore] in this process's memory, bounded
// to the newest 100,000 records.
type MemoryRequestStore struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	records map[RequestKey]memoryRecord
	order   []orderedKey // insertion order, oldest first
}

type memoryRecord struct {
	rec     RequestRecord
	expires time.Time
}

type orderedKey struct {
	key     RequestKey
	expires time.Time // of the record this entry was queued for
}

// NewMemoryRequestStore returns an empty in-memory store.
func NewMemoryRequestStore() *MemoryRequestStore {
	return newMemoryRequestStore(maxRequestIDs, time.Now)
}

func newMemoryRequestStore(max int, now func() time.Time) *MemoryRequestStore {
	return &MemoryRequestStore{max: max, now: now, records: make(map[RequestKey]memoryRecord)}
}

// Get implements [RequestStore].
func (m *MemoryRequestStore) Get(_ context.Context, key RequestKey) (RequestRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[key]
	if !ok || !m.now().Before(r.expires) {
		return RequestRecord{}, false, nil
	}
	return r.rec, true, nil
}

// PutIfAbsent implements [RequestStore].
func (m *MemoryRequestStore) PutIfAbsent(_ context.Context, key RequestKey, rec RequestRecord, ttl time.Duration) (RequestRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if r, ok := m.records[key]; ok && now.Before(r.expires) {
		return r.rec, nil
	}
	for len(m.order) > 0 && (len(m.records) >= m.max || !now.Before(m.order[0].expires)) {
		m.evictOldest()
	}
	expires := now.Add(ttl)
	m.records[key] = memoryRecord{rec: rec, expires: expires}
	m.order = append(m.order, orderedKey{key: key, expires: expires})
	return rec, nil
}

// evictOldest drops the oldest queued record, unless its key has since been
// stored again (then only the stale queue entry goes).
func (m *MemoryRequestStore) evictOldest() {
	head := m.order[0]
	m.order[0] = orderedKey{}
	m.order = m.order[1:]
	if r, ok := m.records[head.key]; ok && r.expires.Equal(head.expires) {
		delete(m.records, head.key)
	}
}

// Len reports how many records the store holds, expired ones not yet
// dropped included (tests and metrics).
func (m *MemoryRequestStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}

// requestIDs applies the idempotency rules of the task-starting RPCs over a
// [RequestStore]. Each RPC passes its operation name.
type requestIDs struct {
	store RequestStore
	ttl   time.Duration
}

// requestKey is the key of a request_id sent by the caller of ctx.
func requestKey(ctx context.Context, requestID string) RequestKey {
	caller, _ := auth.CallerFrom(ctx) // nil: anonymous
	return RequestKey{Caller: caller.String(), RequestID: requestID}
}

// prior returns the task this caller's earlier call with requestID started
// for the same operation and target. A record for another operation or
// target is REQUEST_ID_REUSED. An empty requestID has no prior call.
func (r requestIDs) prior(ctx context.Context, op, vcenterID, target, requestID string) (task string, ok bool, err error) {
	if requestID == "" {
		return "", false, nil
	}
	rec, ok, err := r.store.Get(ctx, requestKey(ctx, requestID))
	if err != nil || !ok {
		return "", false, err
	}
	if rec.Operation != op || rec.Target != target {
		return "", false, requestIDReused(vcenterID, target)
	}
	return rec.Task, true, nil
}

// remember records that requestID started task, and returns the task the id
// stands for: task, or the one a concurrent call with the same id recorded
// first. That earlier call having been for another operation or target is
// REQUEST_ID_REUSED.
func (r requestIDs) remember(ctx context.Context, op, vcenterID, target, requestID, task string) (string, error) {
	if requestID == "" {
		return task, nil
	}
	rec, err := r.store.PutIfAbsent(ctx, requestKey(ctx, requestID), RequestRecord{Operation: op, Target: target, Task: task}, r.ttl)
	if err != nil {
		return "", err
	}
	if rec.Operation != op || rec.Target != target {
		return "", requestIDReused(vcenterID, target)
	}
	return rec.Task, nil
}
