package service

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vasagw/vasagw/internal/vcenter"
)

// VCenter is one vCenter the service serves: the `{vcenter}` of resource
// names and what calls naming it go to.
type VCenter struct {
	// ID is the `{vcenter}` segment of resource names: [a-z0-9-]{1,63}.
	ID string
	// URL is the vCenter's SDK URL as VCenterService shows it; it must
	// hold no credentials.
	URL string
	// Upstream serves the calls that name this vCenter.
	Upstream Upstream
	// Session reports the state of the gateway's login to the vCenter for
	// VCenterService; nil reports STATE_CONNECTING. *vcenter.Session
	// satisfies it.
	Session VCenterSession
	// AutoReconnect asks the fleet loop to reconnect this vCenter's
	// providers that it sees disconnected.
	AutoReconnect bool
}

// VCenterSession is what VCenterService reports of a vCenter beyond its
// calls. *vcenter.Session satisfies it.
type VCenterSession interface {
	// Status is the session's state from its latest login or call; it
	// makes no call.
	Status() vcenter.Status
	// AboutInfo asks vCenter's SMS about itself (QueryAboutInfo).
	AboutInfo(ctx context.Context) (*vcenter.AboutInfo, error)
}

// VCenterHooks follow the set of vCenters (for loops that run per
// vCenter). Added is called for every vCenter present when following
// starts and for each one added later; Removed for each one removed. A
// vCenter replaced by one with the same id is Removed, then Added. Calls are
// made one at a time, in the order of the changes, while the change is
// being made: a hook must return soon and must not change the set itself.
type VCenterHooks struct {
	Added   func(VCenter)
	Removed func(VCenter)
}

// registry is the set of vCenters. Reads (every call) load an immutable
// map; changes copy it, one at a time.
type registry struct {
	cur atomic.Pointer[map[string]VCenter]

	mu    sync.Mutex // serialises changes and the hooks they call
	hooks map[*VCenterHooks]struct{}

	versions smsVersions
}

func newRegistry() *registry {
	r := &registry{hooks: make(map[*VCenterHooks]struct{}), versions: smsVersions{m: make(map[VCenterSession]smsVersion)}}
	r.cur.Store(&map[string]VCenter{})
	return r
}

func (r *registry) get(id string) (VCenter, bool) {
	vc, ok := (*r.cur.Load())[id]
	return vc, ok
}

func (r *registry) list() []VCenter {
	m := *r.cur.Load()
	out := make([]VCenter, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// validVCenterID reports whether id fits [a-z0-9-]{1,63}.
func validVCenterID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// SetVCenter adds a vCenter, or replaces the one with the same id. Calls
// already under way on a replaced vCenter finish on its old upstream (the
// caller closes it when it wants); new calls and the polls of open task
// watches go to the new one, so watches carry on.
func (s *Service) SetVCenter(vc VCenter) error {
	if !validVCenterID(vc.ID) {
		return fmt.Errorf("vcenter id %q: want [a-z0-9-]{1,63}", vc.ID)
	}
	if vc.Upstream == nil {
		return fmt.Errorf("vcenter %s: no upstream", vc.ID)
	}
	if u, err := url.Parse(vc.URL); err == nil && u.User != nil {
		u.User = nil // never shown
		vc.URL = u.String()
	}
	r := s.vcenters
	r.mu.Lock()
	defer r.mu.Unlock()
	next := maps.Clone(*r.cur.Load())
	old, replaced := next[vc.ID]
	next[vc.ID] = vc
	r.cur.Store(&next)
	if replaced {
		r.versions.forget(old.Session)
		s.log.Info("vCenter replaced", "vcenter", vc.ID, "url", vc.URL)
		r.notify(func(h *VCenterHooks) { call(h.Removed, old) })
	} else {
		s.log.Info("vCenter added", "vcenter", vc.ID, "url", vc.URL)
	}
	r.notify(func(h *VCenterHooks) { call(h.Added, vc) })
	return nil
}

// RemoveVCenter removes a vCenter: calls naming it are NOT_FOUND
// VCENTER_NOT_FOUND from now on, and its open task watches end with that
// error. It returns the removed vCenter, so the caller can close its
// upstream.
func (s *Service) RemoveVCenter(id string) (VCenter, bool) {
	r := s.vcenters
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := (*r.cur.Load())[id]
	if !ok {
		return VCenter{}, false
	}
	next := maps.Clone(*r.cur.Load())
	delete(next, id)
	r.cur.Store(&next)
	// After the store: a watch that subscribes from now on finds the
	// vCenter gone, and every poller that subscribed before is ended here.
	s.hub.endVCenter(id)
	r.versions.forget(old.Session)
	s.log.Info("vCenter removed", "vcenter", id)
	r.notify(func(h *VCenterHooks) { call(h.Removed, old) })
	return old, true
}

// VCenters returns the vCenters served now, ordered by id.
func (s *Service) VCenters() []VCenter {
	return s.vcenters.list()
}

// FollowVCenters calls h.Added for every vCenter served now, then follows
// every change until stop is called. After stop returns, h is not called
// again.
func (s *Service) FollowVCenters(h VCenterHooks) (stop func()) {
	r := s.vcenters
	hp := &h
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, vc := range r.list() {
		call(h.Added, vc)
	}
	r.hooks[hp] = struct{}{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.hooks, hp)
	}
}

// notify runs fn for each follower; r.mu is held.
func (r *registry) notify(fn func(*VCenterHooks)) {
	for h := range r.hooks {
		fn(h)
	}
}

func call(fn func(VCenter), vc VCenter) {
	if fn != nil {
		fn(vc)
	}
}

// upstream returns the upstream for a vCenter id from a parsed name.
func (s *Service) upstream(vcenterID, resource string) (Upstream, error) {
	vc, ok := s.vcenters.get(vcenterID)
	if !ok {
		return nil, unknownVCenter(vcenterID, resource)
	}
	if s.opts.UserSessions != nil {
		return callerUpstream{vcenter: vcenterID, shared: vc.Upstream, users: s.opts.UserSessions}, nil
	}
	return vc.Upstream, nil
}

// resolve is the watch hub's view of the registry: the upstream a poll of
// a task of this vCenter goes to now.
func (s *Service) resolve(vcenterID string) (Upstream, bool) {
	vc, ok := s.vcenters.get(vcenterID)
	return vc.Upstream, ok
}
