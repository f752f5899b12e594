package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

const (
	defaultPageSize = 50
	maxPageSize     = 1000
	// providerFetches bounds the concurrent QueryProviderInfo calls of one
	// List page, so a large page does not flood vCenter.
	providerFetches = 8
)

// providerServer implements vasagwv1.VasaProviderServiceServer.
type providerServer struct {
	vasagwv1.UnimplementedVasaProviderServiceServer
	s *Service
}

// ListVasaProviders lists a vCenter's providers ordered by moId. The page
// token is the last moId of the previous page, so a provider registered or
// removed between pages neither repeats nor shifts the others.
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
	after, err := decodePageToken(req.GetPageToken(), resource)
	if err != nil {
		return nil, err
	}
	up, err := p.s.upstream(parent.VCenter, resource)
	if err != nil {
		return nil, err
	}
	ids, err := up.Providers(ctx)
	if err != nil {
		return nil, p.s.fail(ctx, err, parent.VCenter, resource, "list providers")
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	start := 0
	if after != "" {
		start, _ = slices.BinarySearch(ids, after)
		if start < len(ids) && ids[start] == after {
			start++
		}
	}
	end := min(start+size, len(ids))
	page := ids[start:end]

	infos := make([]*vcenter.Provider, len(page))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(providerFetches)
	for i, id := range page {
		g.Go(func() error {
			info, err := up.Provider(gctx, id)
			if isNotFound(err) {
				return nil // unregistered since QueryProvider: not on the page
			}
			if err != nil {
				return fmt.Errorf("provider %s: %w", id, err)
			}
			infos[i] = info
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, p.s.fail(ctx, err, parent.VCenter, resource, "list providers")
	}
	resp := &vasagwv1.ListVasaProvidersResponse{VasaProviders: make([]*vasagwv1.VasaProvider, 0, len(infos))}
	for _, info := range infos {
		if info == nil {
			continue
		}
		p.s.providers.remember(parent.VCenter, info)
		resp.VasaProviders = append(resp.VasaProviders, toProvider(parent.VCenter, info))
	}
	if end < len(ids) && len(page) > 0 {
		resp.NextPageToken = encodePageToken(resource, page[len(page)-1])
	}
	return resp, nil
}

// GetVasaProvider returns one provider.
func (p *providerServer) GetVasaProvider(ctx context.Context, req *vasagwv1.GetVasaProviderRequest) (*vasagwv1.VasaProvider, error) {
	name, err := parseProviderName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	info, err := p.s.provider(ctx, name)
	if err != nil {
		return nil, err
	}
	return toProvider(name.VCenter, info), nil
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

// provider fetches one provider's info and remembers the facts that
// pre-checks use.
func (s *Service) provider(ctx context.Context, name providerName) (*vcenter.Provider, error) {
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
	return info, nil
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

// Page tokens are opaque to callers: base64url of "v1|parent|lastID". The
// parent is checked so a token is not reused across vCenters.
const pageTokenVersion = "v1"

func encodePageToken(parent, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenVersion + "|" + parent + "|" + last))
}

func decodePageToken(token, parent string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", invalidRequest("page_token", "page_token is not a token this gateway issued")
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 || parts[0] != pageTokenVersion || parts[2] == "" {
		return "", invalidRequest("page_token", "page_token is not a token this gateway issued")
	}
	if parts[1] != parent {
		return "", invalidRequest("page_token", "page_token belongs to another parent")
	}
	return parts[2], nil
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
