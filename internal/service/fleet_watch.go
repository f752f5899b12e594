package service

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// providerWatcher is one WatchVasaProviders stream's queue: the set of
// providers that changed since it last looked. It holds names only, at
// most one per provider, and the stream reads each provider's current
// state when it sends: latest wins, and a watcher that falls behind costs
// at most one entry per provider, never a backlog.
type providerWatcher struct {
	notify chan struct{}

	mu      sync.Mutex
	pending map[string]struct{}
	order   []string
}

func newProviderWatcher() *providerWatcher {
	return &providerWatcher{notify: make(chan struct{}, 1), pending: make(map[string]struct{})}
}

// mark queues providers that changed.
func (w *providerWatcher) mark(ids []string) {
	w.mu.Lock()
	for _, id := range ids {
		if _, ok := w.pending[id]; !ok {
			w.pending[id] = struct{}{}
			w.order = append(w.order, id)
		}
	}
	w.mu.Unlock()
	w.wake()
}

func (w *providerWatcher) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// take returns the queued providers in the order they first changed.
func (w *providerWatcher) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.order
	w.order = nil
	clear(w.pending)
	return ids
}

// subscribe adds a watcher; changes published from now on are queued for
// it.
func (f *fleet) subscribe(w *providerWatcher) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.closeErr
	}
	f.watchers[w] = struct{}{}
	return nil
}

func (f *fleet) unsubscribe(w *providerWatcher) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watchers, w)
}

// watchState says whether a watch must end: the fleet closed, or it has no
// first snapshot and refreshes have failed for unreachableAfter.
func (f *fleet) watchState(haveSnapshot bool) (closeErr, refreshErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.closeErr, nil
	}
	if !haveSnapshot && f.lastErr != nil && f.opts.now().Sub(f.failingSince) >= f.opts.unreachableAfter {
		return nil, f.lastErr
	}
	return nil, nil
}

// WatchVasaProviders streams a vCenter's providers that match the filter
// from the vCenter's shared refresh loop: every match as UPSERTED, then
// SNAPSHOT_COMPLETE, then one event per change. A watcher makes no
// upstream call of its own.
func (p *providerServer) WatchVasaProviders(req *vasagwv1.WatchVasaProvidersRequest, stream grpc.ServerStreamingServer[vasagwv1.VasaProviderEvent]) error {
	ctx := stream.Context()
	parent, err := parseVCenterName("parent", req.GetParent())
	if err != nil {
		return err
	}
	resource := parent.String()
	filter, err := parseProviderFilter(req.GetFilter())
	if err != nil {
		return err
	}
	f, err := p.s.fleet(parent.VCenter, resource)
	if err != nil {
		return err
	}
	if f.opts.interval <= 0 {
		return watchDisabled(parent.VCenter, resource)
	}
	w := newProviderWatcher()
	if err := f.subscribe(w); err != nil {
		return err
	}
	defer f.unsubscribe(w)

	// Wait for the loop's first snapshot, so that SNAPSHOT_COMPLETE means
	// what it says.
	for ready := false; !ready; {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-f.ready:
			ready = true
		case <-w.notify:
		}
		if closeErr, refreshErr := f.watchState(ready); closeErr != nil {
			return closeErr
		} else if refreshErr != nil {
			return p.s.fail(ctx, refreshErr, parent.VCenter, resource, "watch providers")
		}
	}

	// Providers this watcher was told match, with the version it was sent.
	sent := make(map[string]uint64)
	snap := f.current()
	w.take() // what changed before this snapshot is in it
	for _, id := range snap.ids {
		e := snap.entries[id]
		if !filter.matches(e.msg) {
			continue
		}
		if err := stream.Send(upserted(e)); err != nil {
			return err
		}
		sent[id] = e.version
	}
	if err := stream.Send(&vasagwv1.VasaProviderEvent{Type: vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE}); err != nil {
		return err
	}

	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-w.notify:
		}
		if closeErr, _ := f.watchState(true); closeErr != nil {
			return closeErr
		}
		snap := f.current()
		for _, id := range w.take() {
			e := snap.entries[id]
			version, wasSent := sent[id]
			switch {
			case e.present() && filter.matches(e.msg):
				if wasSent && version == e.version {
					continue
				}
				if err := stream.Send(upserted(e)); err != nil {
					return err
				}
				sent[id] = e.version
			case wasSent:
				delete(sent, id)
				gone := &vasagwv1.VasaProviderEvent{
					Type:         vasagwv1.VasaProviderEvent_TYPE_DELETED,
					VasaProvider: &vasagwv1.VasaProvider{Name: providerName{VCenter: parent.VCenter, Provider: id}.String()},
				}
				if err := stream.Send(gone); err != nil {
					return err
				}
			}
		}
	}
}

func upserted(e *providerEntry) *vasagwv1.VasaProviderEvent {
	return &vasagwv1.VasaProviderEvent{
		Type:               vasagwv1.VasaProviderEvent_TYPE_UPSERTED,
		VasaProvider:       e.msg,
		RecoveryNeeded:     e.recoveryNeeded,
		AutoReconnectError: e.autoErr,
	}
}
