package service

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"google.golang.org/protobuf/types/known/timestamppb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// vcenterStates maps a session's state to the API's enum.
var vcenterStates = map[vcenter.State]vasagwv1.VCenter_State{
	vcenter.StateConnecting:           vasagwv1.VCenter_STATE_CONNECTING,
	vcenter.StateReady:                vasagwv1.VCenter_STATE_READY,
	vcenter.StateUnreachable:          vasagwv1.VCenter_STATE_UNREACHABLE,
	vcenter.StateAuthFailed:           vasagwv1.VCenter_STATE_AUTH_FAILED,
	vcenter.StateCertificateUntrusted: vasagwv1.VCenter_STATE_CERTIFICATE_UNTRUSTED,
}

// vcenterServer implements vasagwv1.VCenterServiceServer. It reports what
// the sessions already know: listing a hundred vCenters, some of them
// down, waits for none of them.
type vcenterServer struct {
	vasagwv1.UnimplementedVCenterServiceServer
	s *Service
}

// ListVCenters lists the configured vCenters ordered by id. The page token
// is the last id of the previous page, so a vCenter added or removed
// between pages neither repeats nor shifts the others.
func (v *vcenterServer) ListVCenters(ctx context.Context, req *vasagwv1.ListVCentersRequest) (*vasagwv1.ListVCentersResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	token, err := decodePageToken(req.GetPageToken(), collectionVCenters, "")
	if err != nil {
		return nil, err
	}
	after := token.after
	all := v.s.vcenters.list() // ordered by id
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(all, after, func(vc VCenter, id string) int { return strings.Compare(vc.ID, id) })
		if start < len(all) && all[start].ID == after {
			start++
		}
	}
	end := min(start+size, len(all))
	page := all[start:end]
	resp := &vasagwv1.ListVCentersResponse{Vcenters: make([]*vasagwv1.VCenter, len(page))}
	var g errgroup.Group
	g.SetLimit(aboutFetches)
	for i, vc := range page {
		g.Go(func() error {
			resp.Vcenters[i] = v.s.describeVCenter(ctx, vc)
			return nil
		})
	}
	_ = g.Wait() // describeVCenter does not fail
	if end < len(all) && len(page) > 0 {
		resp.NextPageToken = encodePageToken(collectionVCenters, "", 0, page[len(page)-1].ID)
	}
	return resp, nil
}

// GetVCenter returns one configured vCenter.
func (v *vcenterServer) GetVCenter(ctx context.Context, req *vasagwv1.GetVCenterRequest) (*vasagwv1.VCenter, error) {
	name, err := parseVCenterName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	vc, ok := v.s.vcenters.get(name.VCenter)
	if !ok {
		return nil, unknownVCenter(name.VCenter, name.String())
	}
	return v.s.describeVCenter(ctx, vc), nil
}

// describeVCenter renders a vCenter with its session's state. The last
// error is mapped like any other error; it is unset while the vCenter is
// ready.
func (s *Service) describeVCenter(ctx context.Context, vc VCenter) *vasagwv1.VCenter {
	name := vcenterName{VCenter: vc.ID}.String()
	out := &vasagwv1.VCenter{Name: name, Url: vc.URL, State: vasagwv1.VCenter_STATE_CONNECTING}
	if vc.Session == nil {
		return out
	}
	st := vc.Session.Status()
	out.State = vcenterStates[st.State]
	if st.Err != nil && st.State != vcenter.StateReady {
		out.LastError = statusOf(st.Err, vc.ID, name).Proto()
	}
	if !st.LastReady.IsZero() {
		out.LastReadyTime = timestamppb.New(st.LastReady)
	}
	out.SmsVersion = s.vcenters.smsVersion(ctx, vc, st)
	return out
}

// aboutTimeout bounds the QueryAboutInfo of one GetVCenter or ListVCenters:
// the version is a nicety, and must not hold up the state.
const aboutTimeout = 3 * time.Second

// aboutFetches bounds the concurrent QueryAboutInfo calls of one
// ListVCenters page.
const aboutFetches = 8

// smsVersions remembers the SMS version of each session, per login
// generation: a vCenter is asked again only after the session logged in
// again (an upgrade restarts vCenter, which ends the session).
type smsVersions struct {
	mu sync.Mutex
	m  map[VCenterSession]smsVersion
}

type smsVersion struct {
	generation uint64
	version    string
}

// smsVersion returns the SMS version of vc's session: the one known for
// its login generation, else (when the session is ready) a fresh answer,
// else the last one known.
func (r *registry) smsVersion(ctx context.Context, vc VCenter, st vcenter.Status) string {
	v := &r.versions
	v.mu.Lock()
	known, ok := v.m[vc.Session]
	v.mu.Unlock()
	if (ok && known.generation == st.Generation) || st.State != vcenter.StateReady {
		return known.version
	}
	actx, cancel := context.WithTimeout(ctx, aboutTimeout)
	defer cancel()
	about, err := vc.Session.AboutInfo(actx)
	if err != nil || about == nil {
		return known.version
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// Only for a session that still serves: a removed one's was forgotten
	// (after the registry dropped it, under v.mu) and stays so.
	if cur, ok := r.get(vc.ID); ok && cur.Session == vc.Session {
		v.m[vc.Session] = smsVersion{generation: st.Generation, version: about.APIVersion}
	}
	return about.APIVersion
}

// forget drops a session that no longer serves a vCenter.
func (v *smsVersions) forget(s VCenterSession) {
	if s == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, s)
}
