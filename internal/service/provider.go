package service

import (
	"context"
	"encoding/base64"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

const (
	defaultPageSize = 50
	maxPageSize     = 1000
	// providerFetches bounds the concurrent QueryProviderInfo calls of one
	// refresh, so a large fleet does not flood vCenter.
	providerFetches = 8
)

// providerServer implements vasagwv1.VasaProviderServiceServer.
type providerServer struct {
	vasagwv1.UnimplementedVasaProviderServiceServer
	s *Service
}

// ListVasaProviders lists a vCenter's providers that match the filter,
// ordered by moId, from the vCenter's snapshot (refreshed first when it is
// older than the freshness bound). The page token pins the snapshot
// generation (the list of providers) it came from, so that a walk page by
// page reads one QueryProvider; see [pageToken].
func (p *providerServer) ListVasaProviders(ctx context.Context, req *vasagwv1.ListVasaProvidersRequest) (*vasagwv1.ListVasaProvidersResponse, error) {
	parent, err := parseVCenterName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	resource := parent.String()
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter, err := parseProviderFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	token, err := decodePageToken(req.GetPageToken(), resource, req.GetFilter())
	if err != nil {
		return nil, err
	}
	if p.s.ownSession(ctx) {
		return p.s.listDirect(ctx, parent, size, filter, req.GetFilter(), token)
	}
	f, err := p.s.fleet(parent.VCenter, resource)
	if err != nil {
		return nil, err
	}
	snap, err := f.listSnapshot(ctx)
	if err != nil {
		return nil, p.s.fail(ctx, err, parent.VCenter, resource, "list providers")
	}
	ids, generation := f.ids(snap, token.generation)
	start := 0
	if token.after != "" {
		start, _ = slices.BinarySearch(ids, token.after)
		if start < len(ids) && ids[start] == token.after {
			start++
		}
	}
	resp := &vasagwv1.ListVasaProvidersResponse{VasaProviders: make([]*vasagwv1.VasaProvider, 0, min(size, len(ids)-start))}
	last := ""
	for _, id := range ids[start:] {
		e := snap.entries[id]
		if !e.present() || !filter.matches(e.msg) {
			continue // unregistered since the walk began, or filtered out
		}
		if len(resp.VasaProviders) == size {
			resp.NextPageToken = encodePageToken(resource, req.GetFilter(), generation, last)
			break
		}
		p.s.providers.remember(parent.VCenter, e.info)
		resp.VasaProviders = append(resp.VasaProviders, e.msg)
		last = id
	}
	return resp, nil
}

// GetVasaProvider returns one provider.
func (p *providerServer) GetVasaProvider(ctx context.Context, req *vasagwv1.GetVasaProviderRequest) (*vasagwv1.VasaProvider, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	e, err := p.s.providerEntry(ctx, name)
	if err != nil {
		return nil, err
	}
	return e.msg, nil
}

// ReconnectProvider starts (or joins) a reconnect of one provider.
func (p *providerServer) ReconnectProvider(ctx context.Context, req *vasagwv1.ReconnectProviderRequest) (*vasagwv1.Task, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	requestID, err := parseRequestID(req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return p.s.reconnect(ctx, name, requestID)
}

// provider returns one provider's info, from the fleet's snapshot when it
// is fresh, and remembers the facts that pre-checks use.
func (s *Service) provider(ctx context.Context, name providerName) (*vcenter.Provider, error) {
	e, err := s.providerEntry(ctx, name)
	if err != nil {
		return nil, err
	}
	return e.info, nil
}

// providerEntry returns one present provider's entry, from the snapshot
// when it holds a fresh one, else from vCenter (one call for all
// concurrent readers). A provider vCenter does not know is NOT_FOUND
// PROVIDER_NOT_FOUND.
func (s *Service) providerEntry(ctx context.Context, name providerName) (*providerEntry, error) {
	resource := name.String()
	if s.ownSession(ctx) {
		return s.providerDirect(ctx, name)
	}
	f, err := s.fleet(name.VCenter, resource)
	if err != nil {
		return nil, err
	}
	e, err := f.provider(ctx, name.Provider)
	if err != nil {
		return nil, s.fail(ctx, err, name.VCenter, resource, "get provider")
	}
	if !e.present() {
		if e.notFound != nil {
			return nil, s.fail(ctx, e.notFound, name.VCenter, resource, "get provider")
		}
		return nil, notFound(name.VCenter, resource)
	}
	s.providers.remember(name.VCenter, e.info)
	return e, nil
}

// ownSession reports whether a call runs in a user's own vCenter session
// (the VI/JSON facade's Login). Such a call never reads the fleet's
// snapshot, which the gateway's session fetched: vCenter must judge the
// user's own privileges on every read.
func (s *Service) ownSession(ctx context.Context) bool {
	return s.opts.UserSessions.handle(ctx) != ""
}

// providerDirect reads one provider through the call's own session.
func (s *Service) providerDirect(ctx context.Context, name providerName) (*providerEntry, error) {
	resource := name.String()
	up, err := s.upstream(name.VCenter, resource)
	if err != nil {
		return nil, err
	}
	info, err := up.Provider(ctx, name.Provider)
	if err != nil {
		return nil, s.fail(ctx, err, name.VCenter, resource, "get provider")
	}
	s.providers.remember(name.VCenter, info)
	return &providerEntry{info: info, msg: toProvider(name.VCenter, info)}, nil
}

// listDirect lists providers through the call's own session: QueryProvider,
// then QueryProviderInfo for each provider after the token until the page
// is full.
func (s *Service) listDirect(ctx context.Context, parent vcenterName, size int, filter *providerFilter, filterText string, token pageToken) (*vasagwv1.ListVasaProvidersResponse, error) {
	resource := parent.String()
	up, err := s.upstream(parent.VCenter, resource)
	if err != nil {
		return nil, err
	}
	ids, err := up.Providers(ctx)
	if err != nil {
		return nil, s.fail(ctx, err, parent.VCenter, resource, "list providers")
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	start, _ := slices.BinarySearch(ids, token.after)
	if start < len(ids) && ids[start] == token.after {
		start++
	}
	resp := &vasagwv1.ListVasaProvidersResponse{}
	for i, id := range ids[start:] {
		if len(resp.VasaProviders) == size {
			// More ids remain (whether they match is not read ahead: a
			// later page may come back empty).
			resp.NextPageToken = encodePageToken(resource, filterText, 0, ids[start+i-1])
			break
		}
		info, err := up.Provider(ctx, id)
		if isNotFound(err) {
			continue // unregistered since QueryProvider: not on the page
		}
		if err != nil {
			return nil, s.fail(ctx, err, parent.VCenter, resource, "list providers")
		}
		msg := toProvider(parent.VCenter, info)
		if !filter.matches(msg) {
			continue
		}
		s.providers.remember(parent.VCenter, info)
		resp.VasaProviders = append(resp.VasaProviders, msg)
	}
	return resp, nil
}

// fail logs an upstream failure with its full detail and returns the
// caller-safe status.
func (s *Service) fail(ctx context.Context, err error, vcenterID, resource, op string) error {
	st := statusOf(err, vcenterID, resource)
	s.log.WarnContext(ctx, op+" failed", "vcenter", vcenterID, "resource", resource, "code", st.Code().String(), "error", err)
	return st.Err()
}

// isNotFound reports whether err is an upstream "no such object" fault,
// as the one fault mapping classifies it.
func isNotFound(err error) bool {
	return err != nil && statusOf(err, "", "").Code() == codes.NotFound
}

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalidRequest("page_size", "page_size must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return int(n), nil
}

// pageToken is where a walk stands: after the moId `after`, in the
// provider list of snapshot generation `generation`.
//
// Tokens are opaque to callers: base64url of "v2|parent|filter hash|
// generation|lastID". The parent and filter are checked so that a token is
// not reused with another request. While the generation is kept (the
// current one and [keptGenerations] before it), the walk goes on over that
// same list of providers, with their latest data, and reads no new
// QueryProvider. When it is gone (the set of providers changed more often
// than that during the walk), the walk goes on after the last moId in the
// current list: nothing repeats, and providers registered or removed since
// simply appear or not, as with the v1 tokens (no generation) this still
// accepts.
type pageToken struct {
	generation uint64
	after      string
}

const pageTokenVersion = "v2"

func encodePageToken(parent, filter string, generation uint64, last string) string {
	raw := strings.Join([]string{pageTokenVersion, parent, filterHash(filter), strconv.FormatUint(generation, 10), last}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodePageToken(token, parent, filter string) (pageToken, error) {
	if token == "" {
		return pageToken{}, nil
	}
	bad := invalidRequest("page_token", "page_token is not a token this gateway issued")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return pageToken{}, bad
	}
	parts := strings.Split(string(raw), "|")
	switch {
	case len(parts) == 3 && parts[0] == "v1" && parts[2] != "":
		if parts[1] != parent {
			return pageToken{}, invalidRequest("page_token", "page_token belongs to another parent")
		}
		return pageToken{after: parts[2]}, nil
	case len(parts) == 5 && parts[0] == pageTokenVersion && parts[4] != "":
		if parts[1] != parent {
			return pageToken{}, invalidRequest("page_token", "page_token belongs to another parent")
		}
		if parts[2] != filterHash(filter) {
			return pageToken{}, invalidRequest("page_token", "page_token was issued for another filter")
		}
		gen, err := strconv.ParseUint(parts[3], 10, 64)
		if err != nil {
			return pageToken{}, bad
		}
		return pageToken{generation: gen, after: parts[4]}, nil
	}
	return pageToken{}, bad
}

// filterHash identifies a filter inside a page token.
func filterHash(filter string) string {
	h := fnv.New64a()
	h.Write([]byte(filter))
	return strconv.FormatUint(h.Sum64(), 36)
}

// parseRequestID accepts an empty id or a UUID in its canonical textual
// form (any case), and returns it lower-cased.
func parseRequestID(id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if len(id) != 36 {
		return "", invalidRequest("request_id", "request_id must be a UUID, such as 123e4567-e89b-12d3-a456-426614174000")
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return "", invalidRequest("request_id", "request_id must be a UUID, such as 123e4567-e89b-12d3-a456-426614174000")
			}
		default:
			if _, err := strconv.ParseUint(string(r), 16, 8); err != nil {
				return "", invalidRequest("request_id", "request_id must be a UUID, such as 123e4567-e89b-12d3-a456-426614174000")
			}
		}
	}
	return strings.ToLower(id), nil
}
