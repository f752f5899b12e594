package service

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

const (
	// refreshTimeout bounds one full refresh of a vCenter's providers.
	refreshTimeout = 2 * time.Minute
	// fetchTimeout bounds one shared QueryProviderInfo.
	fetchTimeout = 30 * time.Second
	// keptGenerations is how many superseded provider lists stay around
	// for page walks that started on them.
	keptGenerations = 2
)

// fleetOptions configure every vCenter's fleet.
type fleetOptions struct {
	// interval is the refresh loop's period.
	interval time.Duration
	// maxAge is how old a snapshot (for List) or a provider's entry (for
	// Get) may be to be served without asking vCenter; 0 reads through
	// on every call (still coalesced).
	maxAge time.Duration
	// unreachableAfter ends watches still waiting for a first snapshot
	// when refreshes have failed for this long.
	unreachableAfter time.Duration
	now              func() time.Time
	logger           *slog.Logger
}

// fleet is one vCenter's view of its providers: one refresh loop, shared
// by every reader (List, Get, watchers, metrics, auto-reconnect), and the
// coalescing of every upstream read of providers.
//
// The snapshot is immutable once published; every change publishes a new
// one. Its generation counts changes of membership (the sorted list of
// provider ids), not of provider data, so that a page walk pinned to a
// generation sees a fixed list of providers with their latest data.
type fleet struct {
	s       *Service
	vcenter string
	opts    fleetOptions
	auto    *autoReconnector // nil when there is no loop

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the loop and the automatic reconnects
	flights sync.WaitGroup // shared upstream reads under way

	flight    singleflight.Group // "refresh", "info!/"+id (upstream), "info/"+id (stale readers)
	seq       atomic.Uint64      // orders fetches: a later fetch's data wins
	versions  atomic.Uint64      // entry content versions
	refreshes atomic.Int64       // full refreshes completed
	ready     chan struct{}      // closed at the first published full refresh

	mu           sync.Mutex
	up           Upstream // the vCenter's shared session
	autoOn       bool     // VCenter.AutoReconnect
	snap         *fleetSnapshot
	history      map[uint64][]string // superseded generation -> its ids
	failingSince time.Time           // zero while refreshes succeed
	lastErr      error
	watchers     map[*providerWatcher]struct{}
	closed       bool
	closeErr     error
}

// fleetSnapshot is one published view of a vCenter's providers.
type fleetSnapshot struct {
	generation uint64
	// refreshed is when the last full refresh that made it began (zero
	// before the first).
	refreshed time.Time
	// ids are the present providers, sorted.
	ids []string
	// entries hold the present providers and tombstones of removed ones.
	entries map[string]*providerEntry
}

// providerEntry is what the fleet knows of one provider.
type providerEntry struct {
	info    *vcenter.Provider
	msg     *vasagwv1.VasaProvider
	seq     uint64    // the fetch that produced it began at this sequence number
	fetched time.Time // ... and at this time
	gone    bool      // tombstone: vCenter no longer lists it
	// notFound is vCenter's fault for a tombstone a fetch produced, so
	// that Get reports it as it always has.
	notFound error
	version  uint64 // changes whenever what watchers see changes
	// What the automatic reconnect has to say about the provider.
	recoveryNeeded bool
	autoErr        *statusProto
}

func (e *providerEntry) present() bool { return e != nil && !e.gone }

func newFleet(s *Service, vcenterID string, up Upstream, opts fleetOptions, autoReconnect bool) *fleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{
		s:        s,
		vcenter:  vcenterID,
		up:       up,
		autoOn:   autoReconnect,
		opts:     opts,
		ctx:      ctx,
		cancel:   cancel,
		ready:    make(chan struct{}),
		snap:     &fleetSnapshot{generation: 1, entries: map[string]*providerEntry{}},
		history:  make(map[uint64][]string),
		watchers: make(map[*providerWatcher]struct{}),
	}
	if opts.interval <= 0 {
		return f // no loop: the snapshot holds only what reads fetched
	}
	f.auto = newAutoReconnector(f)
	f.wg.Add(1)
	go f.run()
	return f
}

// upstream returns the vCenter's shared session, and whether its
// disconnected providers are reconnected automatically.
func (f *fleet) upstream() (Upstream, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up, f.autoOn
}

// setUpstream follows a replaced vCenter: its new session, its new
// auto-reconnect setting.
func (f *fleet) setUpstream(up Upstream, autoReconnect bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up, f.autoOn = up, autoReconnect
}

// close stops the loop, the automatic reconnects and every watch (which
// ends with err), and waits for them.
func (f *fleet) close(err error) {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		f.closeErr = err
		for w := range f.watchers {
			w.wake()
		}
	}
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
	f.flights.Wait()
}

// current returns the published snapshot.
func (f *fleet) current() *fleetSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

// run refreshes the snapshot every interval until the fleet closes.
func (f *fleet) run() {
	defer f.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-timer.C:
		}
		polled, err := f.turn(f.ctx) // fleet_shared.go: one loop per vCenter across replicas
		if err != nil && f.ctx.Err() == nil {
			f.opts.logger.Warn("provider refresh failed", "vcenter", f.vcenter, "error", err)
		}
		if _, on := f.upstream(); on && f.auto != nil && polled {
			f.auto.tick(f.current())
		}
		timer.Reset(jitter(f.opts.interval))
	}
}

// refresh lists the providers and fetches every one's info, once for all
// concurrent callers (the loop and stale Lists).
func (f *fleet) refresh(ctx context.Context) error {
	ch := f.flight.DoChan("refresh", func() (any, error) {
		rctx, done, err := f.flightContext(ctx, refreshTimeout)
		if err != nil {
			return nil, err
		}
		defer done()
		return nil, f.refreshOnce(rctx)
	})
	select {
	case <-ctx.Done():
		return ctx.Err()
	case r := <-ch:
		return r.Err
	}
}

func (f *fleet) refreshOnce(ctx context.Context) error {
	listSeq, started := f.seq.Add(1), f.opts.now()
	up, _ := f.upstream()
	ids, err := up.Providers(ctx)
	if err != nil {
		f.refreshFailed(err)
		return fmt.Errorf("list providers: %w", err)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	cands := make([]*providerEntry, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(providerFetches)
	for i, id := range ids {
		g.Go(func() error {
			e, err := f.fetchFresh(gctx, id)
			if err != nil {
				// One provider failing keeps its last known entry; the
				// refresh goes on for the others.
				f.opts.logger.Warn("provider refresh failed", "vcenter", f.vcenter, "provider", id, "error", err)
				return nil
			}
			cands[i] = e
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		f.refreshFailed(ctx.Err())
		return ctx.Err()
	}
	f.applyList(ids, cands, listSeq, started)
	return nil
}

// applyList publishes a full refresh: ids are every provider vCenter
// listed (sorted), cands their fetched entries (nil where a fetch failed:
// the last known entry stays), listSeq and started the list's sequence
// number and start.
func (f *fleet) applyList(ids []string, cands []*providerEntry, listSeq uint64, started time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.snap
	next := make(map[string]*providerEntry, len(cur.entries)+len(ids))
	for id, e := range cur.entries {
		next[id] = e
	}
	listed := make(map[string]bool, len(ids))
	for i, id := range ids {
		listed[id] = true
		if cands[i] != nil {
			f.putLocked(next, id, cands[i])
		}
	}
	for id, e := range cur.entries {
		if listed[id] {
			continue
		}
		if !e.gone {
			f.putLocked(next, id, &providerEntry{gone: true, seq: listSeq, fetched: started})
		}
		// A tombstone older than this list says nothing the list does not.
		if e := next[id]; e.gone && e.seq <= listSeq {
			delete(next, id)
		}
	}
	f.publishLocked(next, started)
	f.failingSince, f.lastErr = time.Time{}, nil
	f.refreshes.Add(1)
	select {
	case <-f.ready:
	default:
		close(f.ready)
	}
}

func (f *fleet) refreshFailed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failingSince.IsZero() {
		f.failingSince = f.opts.now()
	}
	f.lastErr = err
	for w := range f.watchers {
		w.wake()
	}
}

// fetchFresh reads one provider's info from vCenter, shared with every
// concurrent reader of the same provider: it is the one place the fleet
// calls QueryProviderInfo. A provider vCenter does not know is a
// tombstone.
func (f *fleet) fetchFresh(ctx context.Context, id string) (*providerEntry, error) {
	return f.shared(ctx, "info!/"+id, func(fctx context.Context) (*providerEntry, error) {
		seq, started := f.seq.Add(1), f.opts.now()
		up, _ := f.upstream()
		info, err := up.Provider(fctx, id)
		if isNotFound(err) {
			return &providerEntry{gone: true, seq: seq, fetched: started, notFound: err}, nil
		}
		if err != nil {
			return nil, err
		}
		return &providerEntry{info: info, msg: toProvider(f.vcenter, info), seq: seq, fetched: started}, nil
	})
}

// fetch is [fleet.fetchFresh] for a reader that found the provider's entry
// stale: a reader that arrives just after another's read has been
// published is served that read, not a new one.
func (f *fleet) fetch(ctx context.Context, id string) (*providerEntry, error) {
	return f.shared(ctx, "info/"+id, func(fctx context.Context) (*providerEntry, error) {
		if e, ok := f.current().entries[id]; ok && f.fresh(e.fetched) {
			return e, nil
		}
		return f.fetchFresh(fctx, id)
	})
}

// flightContext is the context of a shared upstream read: it keeps the
// first caller's values (request id, trace) but not its cancellation, so
// that one caller giving up does not fail the others; it ends with the
// fleet, which waits for it. done must be called when the read ends.
func (f *fleet) flightContext(ctx context.Context, timeout time.Duration) (context.Context, func(), error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, nil, f.closeErr
	}
	f.flights.Add(1)
	f.mu.Unlock()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	stop := context.AfterFunc(f.ctx, cancel)
	return fctx, func() {
		stop()
		cancel()
		f.flights.Done()
	}, nil
}

// shared runs fn once for all concurrent callers with the same key,
// detached from any one caller's cancellation (so that one caller giving
// up does not fail the others), and waits for it or for ctx.
func (f *fleet) shared(ctx context.Context, key string, fn func(context.Context) (*providerEntry, error)) (*providerEntry, error) {
	ch := f.flight.DoChan(key, func() (any, error) {
		fctx, done, err := f.flightContext(ctx, fetchTimeout)
		if err != nil {
			return nil, err
		}
		defer done()
		return fn(fctx)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*providerEntry), nil
	}
}

// refreshProvider fetches one provider afresh (never joining a read that
// began earlier) and publishes what it learnt. It returns the entry; a
// tombstone when vCenter does not know the provider.
func (f *fleet) refreshProvider(ctx context.Context, id string) (*providerEntry, error) {
	f.flight.Forget("info!/" + id)
	e, err := f.fetchFresh(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.apply(id, e), nil
}

// readProvider fetches one provider, coalesced with concurrent readers,
// and publishes what it learnt.
func (f *fleet) readProvider(ctx context.Context, id string) (*providerEntry, error) {
	e, err := f.fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.apply(id, e), nil
}

// apply publishes one provider's fetched entry and returns what the
// snapshot now holds for it.
func (f *fleet) apply(id string, e *providerEntry) *providerEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.snap
	old, known := cur.entries[id]
	if e.gone && !known {
		// Never listed: nothing to remember (a caller's guess at an id
		// must not grow the snapshot).
		return e
	}
	next := make(map[string]*providerEntry, len(cur.entries)+1)
	for k, v := range cur.entries {
		next[k] = v
	}
	f.putLocked(next, id, e)
	if got := next[id]; got != old {
		f.publishLocked(next, cur.refreshed)
	}
	return next[id]
}

// putLocked stores cand for id unless what is there came from a later
// fetch. It keeps the entry's version when what watchers see is the same,
// and the automatic reconnect's notes.
func (f *fleet) putLocked(entries map[string]*providerEntry, id string, cand *providerEntry) {
	old := entries[id]
	if old != nil && old.seq > cand.seq {
		return
	}
	// A fetched entry may reach here twice (a coalesced read hands the same
	// one to the loop and to a reader), and once stored it belongs to a
	// published snapshot that watchers read without the lock: store a copy.
	c := *cand
	cand = &c
	if old != nil {
		cand.recoveryNeeded, cand.autoErr = old.recoveryNeeded, old.autoErr
		// Compare what vCenter said, not the messages: a status_fault's
		// details are Any values whose bytes need not repeat.
		if old.gone == cand.gone && (cand.gone || reflect.DeepEqual(old.info, cand.info)) {
			cand.version = old.version
			entries[id] = cand
			return
		}
	}
	cand.version = f.versions.Add(1)
	entries[id] = cand
}

// publishLocked makes entries the current snapshot, with a new generation
// when the set of providers changed, and tells the watchers which
// providers changed.
func (f *fleet) publishLocked(entries map[string]*providerEntry, refreshed time.Time) {
	cur := f.snap
	ids := make([]string, 0, len(entries))
	for id, e := range entries {
		if e.present() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	next := &fleetSnapshot{generation: cur.generation, refreshed: refreshed, ids: ids, entries: entries}
	if !slices.Equal(ids, cur.ids) {
		f.history[cur.generation] = cur.ids
		delete(f.history, cur.generation-keptGenerations)
		next.generation = cur.generation + 1
	}
	var changed []string
	for id, e := range entries {
		if old := cur.entries[id]; old.present() != e.present() || (e.present() && old.version != e.version) {
			changed = append(changed, id)
		}
	}
	for id, old := range cur.entries {
		if _, ok := entries[id]; !ok && old.present() {
			changed = append(changed, id)
		}
	}
	f.snap = next
	if len(changed) == 0 {
		return
	}
	for w := range f.watchers {
		w.mark(changed)
	}
}

// setAutoState records what the automatic reconnect says about a provider
// and tells the watchers when that changes what they see.
func (f *fleet) setAutoState(id string, recoveryNeeded bool, autoErr *statusProto) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.snap
	old := cur.entries[id]
	if !old.present() || (old.recoveryNeeded == recoveryNeeded && proto.Equal(old.autoErr, autoErr)) {
		return
	}
	e := *old
	e.recoveryNeeded, e.autoErr = recoveryNeeded, autoErr
	e.version = f.versions.Add(1)
	next := make(map[string]*providerEntry, len(cur.entries))
	for k, v := range cur.entries {
		next[k] = v
	}
	next[id] = &e
	f.publishLocked(next, cur.refreshed)
}

// ids returns the provider list of generation gen (or of the current
// snapshot when gen is 0 or no longer kept), and the generation returned.
func (f *fleet) ids(snap *fleetSnapshot, gen uint64) ([]string, uint64) {
	if gen == 0 || gen == snap.generation {
		return snap.ids, snap.generation
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ids, ok := f.history[gen]; ok {
		return ids, gen
	}
	return snap.ids, snap.generation
}

// listSnapshot returns a snapshot no older than maxAge, refreshing it
// (once for all concurrent callers) when it is older.
func (f *fleet) listSnapshot(ctx context.Context) (*fleetSnapshot, error) {
	snap := f.current()
	if f.fresh(snap.refreshed) {
		return snap, nil
	}
	if err := f.refresh(ctx); err != nil {
		return nil, err
	}
	return f.current(), nil
}

// provider returns one provider's entry no older than maxAge, asking
// vCenter (coalesced) when the snapshot has none or an older one. A
// tombstone means vCenter does not know it.
func (f *fleet) provider(ctx context.Context, id string) (*providerEntry, error) {
	if e, ok := f.current().entries[id]; ok && f.fresh(e.fetched) {
		return e, nil
	}
	return f.readProvider(ctx, id)
}

func (f *fleet) fresh(t time.Time) bool {
	return !t.IsZero() && f.opts.maxAge > 0 && f.opts.now().Sub(t) <= f.opts.maxAge
}

// fleets holds one fleet per vCenter. It follows the service's set of
// vCenters: a fleet starts when its vCenter is added, takes the new
// upstream when it is replaced, and stops (its watches ending with
// VCENTER_NOT_FOUND) when it is removed.
type fleets struct {
	s             *Service
	opts          fleetOptions
	stop          func()
	taskProviders taskProviders

	mu   sync.Mutex
	m    map[string]*fleet
	done bool
}

func newFleets(s *Service, opts fleetOptions) *fleets {
	fs := &fleets{s: s, opts: opts, m: make(map[string]*fleet)}
	fs.stop = s.FollowVCenters(VCenterHooks{Added: fs.added, Removed: fs.removed})
	return fs
}

func (fs *fleets) added(vc VCenter) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.done {
		return
	}
	if f, ok := fs.m[vc.ID]; ok {
		f.setUpstream(vc.Upstream, vc.AutoReconnect)
		return
	}
	fs.m[vc.ID] = newFleet(fs.s, vc.ID, vc.Upstream, fs.opts, vc.AutoReconnect)
}

func (fs *fleets) removed(vc VCenter) {
	if _, replaced := fs.s.vcenters.get(vc.ID); replaced {
		return // Added follows with the new upstream; watches carry on
	}
	fs.mu.Lock()
	f := fs.m[vc.ID]
	delete(fs.m, vc.ID)
	fs.mu.Unlock()
	if f != nil {
		f.close(unknownVCenter(vc.ID, vcenterName{VCenter: vc.ID}.String()))
	}
}

// fleet returns the fleet of a vCenter id from a parsed name.
func (s *Service) fleet(vcenterID, resource string) (*fleet, error) {
	fs := s.fleets
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.done {
		return nil, shuttingDown(vcenterID, resource)
	}
	if f, ok := fs.m[vcenterID]; ok {
		return f, nil
	}
	// Not followed yet (a vCenter being added right now): start it here;
	// the hook then finds it.
	vc, ok := s.vcenters.get(vcenterID)
	if !ok {
		return nil, unknownVCenter(vcenterID, resource)
	}
	f := newFleet(s, vc.ID, vc.Upstream, fs.opts, vc.AutoReconnect)
	fs.m[vcenterID] = f
	return f, nil
}

// closeFleets ends every fleet with UNAVAILABLE.
func (s *Service) closeFleets() {
	fs := s.fleets
	fs.stop()
	fs.mu.Lock()
	fs.done = true
	all := fs.m
	fs.m = nil
	fs.mu.Unlock()
	var wg sync.WaitGroup
	for id, f := range all {
		wg.Go(func() { f.close(shuttingDown(id, vcenterName{VCenter: id}.String())) })
	}
	wg.Wait()
}

// providerChanged refreshes one provider in its vCenter's snapshot, so
// that a caller who made a change (a reconnect, sync, register,
// unregister, ...) reads it at once. Every write calls it when its task
// ends; it never fails the caller, only logs.
func (s *Service) providerChanged(ctx context.Context, vcenterID, providerID string) {
	f, err := s.fleet(vcenterID, providerName{VCenter: vcenterID, Provider: providerID}.String())
	if err != nil {
		return
	}
	if _, err := f.refreshProvider(ctx, providerID); err != nil {
		s.log.WarnContext(ctx, "provider refresh after a change failed", "vcenter", vcenterID, "provider", providerID, "error", err)
	}
}

// onTaskTerminal is called once a task is first seen finished, before
// anyone is told: it refreshes the provider the task acted on (its target,
// or the provider it was started for when SMS names none, as for an
// unregister) and the one it produced, so that the task's end and the
// provider's new state are seen in that order.
func (s *Service) onTaskTerminal(vcenterID string, t *vasagwv1.Task) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	names := []string{t.GetTarget(), t.GetResult()}
	if tn, err := parseTaskName("name", t.GetName()); err == nil {
		if p, ok := s.fleets.taskProviders.get(hubKey{vcenter: vcenterID, task: tn.Task}); ok {
			names = append(names, p.String())
		}
	}
	done := make(map[string]bool, len(names))
	for _, name := range names {
		if p, err := parseProviderName("target", name); err == nil && p.VCenter == vcenterID && !done[p.Provider] {
			done[p.Provider] = true
			s.providerChanged(ctx, vcenterID, p.Provider)
		}
	}
}

// noteTaskProvider remembers which provider a task the gateway started
// acts on, for [Service.onTaskTerminal].
func (s *Service) noteTaskProvider(key hubKey, provider providerName) {
	s.fleets.taskProviders.set(key, provider)
}

// taskProviders is a bounded memory of task -> provider; the oldest go
// first.
type taskProviders struct {
	mu    sync.Mutex
	m     map[hubKey]providerName
	order []hubKey
}

func (k *taskProviders) set(key hubKey, p providerName) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[hubKey]providerName)
	}
	if _, ok := k.m[key]; !ok {
		for len(k.order) >= maxTaskKinds {
			delete(k.m, k.order[0])
			k.order[0] = hubKey{}
			k.order = k.order[1:]
		}
		k.order = append(k.order, key)
	}
	k.m[key] = p
}

func (k *taskProviders) get(key hubKey) (providerName, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.m[key]
	return p, ok
}

// FleetProvider is one provider as its vCenter's refresh loop last saw it,
// for metrics.
type FleetProvider struct {
	VCenter  string
	Provider string // the provider's moId
	// Status is vCenter's status value (connected, disconnected, online,
	// ...).
	Status string
	// CertificateExpiry is zero when vCenter reports none.
	CertificateExpiry time.Time
}

// FleetStats describes one vCenter's refresh loop, for metrics.
type FleetStats struct {
	VCenter string
	// Age is how long ago the last successful full refresh began; negative
	// before the first.
	Age        time.Duration
	Generation uint64
	Refreshes  int64
	Watchers   int
	// AutoReconnects counts finished automatic reconnects by outcome
	// (succeeded, failed, recovery_needed, unsupported).
	AutoReconnects map[string]int64
}

// FleetProviders returns every provider of every running fleet, ordered by
// vCenter and moId.
func (s *Service) FleetProviders() []FleetProvider {
	var out []FleetProvider
	for _, f := range s.allFleets() {
		snap := f.current()
		for _, id := range snap.ids {
			e := snap.entries[id]
			out = append(out, FleetProvider{
				VCenter:           f.vcenter,
				Provider:          id,
				Status:            e.info.Status,
				CertificateExpiry: e.info.CertificateExpiry,
			})
		}
	}
	return out
}

// FleetStats describes every running fleet, ordered by vCenter.
func (s *Service) FleetStats() []FleetStats {
	var out []FleetStats
	for _, f := range s.allFleets() {
		f.mu.Lock()
		snap, watchers := f.snap, len(f.watchers)
		f.mu.Unlock()
		st := FleetStats{VCenter: f.vcenter, Age: -1, Generation: snap.generation, Refreshes: f.refreshes.Load(), Watchers: watchers}
		if !snap.refreshed.IsZero() {
			st.Age = f.opts.now().Sub(snap.refreshed)
		}
		if f.auto != nil {
			st.AutoReconnects = f.auto.counts()
		}
		out = append(out, st)
	}
	return out
}

func (s *Service) allFleets() []*fleet {
	s.fleets.mu.Lock()
	defer s.fleets.mu.Unlock()
	out := make([]*fleet, 0, len(s.fleets.m))
	for _, f := range s.fleets.m {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *fleet) int {
		switch {
		case a.vcenter < b.vcenter:
			return -1
		case a.vcenter > b.vcenter:
			return 1
		}
		return 0
	})
	return out
}
