package service

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/vasagw/vasagw/internal/vcenter"
)

// This file makes a vCenter's provider refresh loop one loop across the
// replicas that share a store: at each turn the replica holding the
// vCenter's fleet lease refreshes from vCenter (and runs the automatic
// reconnects) and publishes the providers it read; the other replicas'
// loops take that list from the store instead of asking vCenter, so their
// List, Get and watchers serve the same providers. When the holder dies
// its lease runs out and another replica's next turn takes it. When the
// store is unreachable every replica refreshes for itself.

// fleetLeaseIntervals is the fleet lease's length in loop intervals: the
// holder renews it at each turn, before and after its refresh.
const fleetLeaseIntervals = 3

// sharedFleet is a published refresh: when it began and what vCenter said
// of each provider it lists.
type sharedFleet struct {
	Refreshed time.Time           `json:"refreshed"`
	Providers []*vcenter.Provider `json:"providers"`
}

func (f *fleet) leaseName() string { return "fleet/" + f.vcenter }

// feedKey names the vCenter's published refresh in the shared store.
func (f *fleet) feedKey() string { return "fleet/" + f.vcenter }

// turn is one tick of the loop. It reports whether this replica asked
// vCenter (it holds the lease, or there is no reachable shared store).
func (f *fleet) turn(ctx context.Context) (polled bool, err error) {
	sh := f.s.opts.Shared
	if sh == nil {
		return true, f.refresh(ctx)
	}
	ttl := fleetLeaseIntervals * f.opts.interval
	lctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	held, lerr := sh.Lease(lctx, f.leaseName(), ttl)
	cancel()
	if lerr == nil && !held {
		f.follow(ctx)
		return false, nil
	}
	if err := f.refresh(ctx); err != nil {
		return true, err
	}
	if lerr == nil {
		f.share(ctx, ttl)
	}
	return true, nil
}

// share publishes the current snapshot's providers and renews the lease.
func (f *fleet) share(ctx context.Context, ttl time.Duration) {
	sh := f.s.opts.Shared
	snap := f.current()
	out := sharedFleet{Refreshed: snap.refreshed, Providers: make([]*vcenter.Provider, 0, len(snap.ids))}
	for _, id := range snap.ids {
		if e := snap.entries[id]; e.present() && e.info != nil {
			out.Providers = append(out.Providers, e.info)
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	_, _ = sh.Lease(sctx, f.leaseName(), ttl)
	// The refresh's start orders publications across holders.
	seq := max(snap.refreshed.UnixMilli(), 1)
	if err := sh.PublishTask(sctx, TaskUpdate{Key: f.feedKey(), Seq: seq, Data: data}, f.s.opts.RequestIDTTL); err != nil {
		f.opts.logger.Debug("provider refresh: publish failed", "vcenter", f.vcenter, "error", err)
	}
}

// follow takes the holder's latest published refresh, if it is newer than
// what this replica has.
func (f *fleet) follow(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	u, ok, err := f.s.opts.Shared.LatestTask(sctx, f.feedKey())
	cancel()
	if err != nil || !ok {
		return
	}
	var in sharedFleet
	if err := json.Unmarshal(u.Data, &in); err != nil {
		f.opts.logger.Warn("provider refresh: undecodable shared list", "vcenter", f.vcenter, "error", err)
		return
	}
	if cur := f.current(); !in.Refreshed.After(cur.refreshed) {
		return
	}
	slices.SortFunc(in.Providers, func(a, b *vcenter.Provider) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	listSeq := f.seq.Add(1)
	ids := make([]string, len(in.Providers))
	cands := make([]*providerEntry, len(in.Providers))
	for i, p := range in.Providers {
		ids[i] = p.ID
		cands[i] = &providerEntry{info: p, msg: toProvider(f.vcenter, p), seq: f.seq.Add(1), fetched: in.Refreshed}
	}
	f.applyList(ids, cands, listSeq, in.Refreshed)
}
