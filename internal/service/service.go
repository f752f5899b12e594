// Package service implements the vasagw.v1 gRPC services on top of vCenter's
// Storage Monitoring Service: it parses resource names, calls the upstream
// through the small [Upstream] interface (satisfied by *vcenter.Session),
// converts its answers to the API's messages, and maps every failure to one
// gRPC status with typed details.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// Upstream is what the service needs of one vCenter. *vcenter.Session
// satisfies it; the service never talks SOAP itself.
type Upstream interface {
	Providers(ctx context.Context) ([]string, error)
	Provider(ctx context.Context, id string) (*vcenter.Provider, error)
	Reconnect(ctx context.Context, providerID string) (taskID string, err error)
	Task(ctx context.Context, taskID string) (*vcenter.TaskInfo, error)
}

// Options configure a [Service].
type Options struct {
	// VCenters maps a vCenter id (the `{vcenter}` of resource names) to its
	// upstream, for the vCenters served from the start (an upstream that is
	// also a [VCenterSession] reports its state). The vCenter configured by
	// flags is "default". [Service.SetVCenter] adds and replaces vCenters
	// later, [Service.RemoveVCenter] removes them.
	VCenters map[string]Upstream
	// TaskPollInterval is how often a watched task is polled upstream.
	TaskPollInterval time.Duration
	// WatchLinger keeps a task's poller alive this long after its last
	// subscriber left, for late joiners.
	WatchLinger time.Duration
	// TerminalTTL is how long a finished task stays cached.
	TerminalTTL time.Duration
	// RequestIDTTL is how long a request_id is remembered; at least an
	// hour by default (README.md, "Idempotency").
	RequestIDTTL time.Duration
	// RequestStore remembers request_ids per caller; nil keeps them in
	// this process ([NewMemoryRequestStore]).
	RequestStore RequestStore
	// Shared, when set, is the store the gateway's replicas share
	// (request_ids, the active task per provider, one poller per task
	// cluster-wide); each replica keeps its own state too and goes on with
	// it while Shared is unreachable.
	Shared Shared
	// ProviderInfoTTL is how long provider facts used for pre-checks (the
	// VASA version) are trusted without asking vCenter again.
	ProviderInfoTTL time.Duration
	// UnreachableAfter ends a watch with UNAVAILABLE when polls have failed
	// for this long.
	UnreachableAfter time.Duration
	// UserSessions, when set, lets calls run in a user's own vCenter
	// session (see [UserSessions]).
	UserSessions *UserSessions
	// ProviderPollInterval is how often each vCenter's fleet loop lists
	// its providers and their info (the server's flag defaults to 30 s).
	// 0 runs no loop: List and Get still share their upstream reads, but
	// WatchVasaProviders is refused and auto-reconnect is off.
	ProviderPollInterval time.Duration
	// ProviderMaxAge is how old the fleet's snapshot may be for List and
	// Get to be served from it; an older one is refreshed first (one
	// upstream read for all concurrent callers). 0 reads through on every
	// call.
	ProviderMaxAge time.Duration
	// AutoReconnect lists the ids of VCenters whose disconnected providers
	// the gateway reconnects by itself (VCenter.AutoReconnect).
	AutoReconnect map[string]bool
	// Now is the clock the fleet's freshness and backoff use; nil means
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TaskPollInterval <= 0 {
		o.TaskPollInterval = time.Second
	}
	if o.WatchLinger <= 0 {
		o.WatchLinger = 5 * time.Second
	}
	if o.TerminalTTL <= 0 {
		o.TerminalTTL = 10 * time.Minute
	}
	if o.RequestIDTTL <= 0 {
		o.RequestIDTTL = time.Hour
	}
	if o.RequestStore == nil {
		o.RequestStore = NewMemoryRequestStore()
	}
	if o.Shared != nil {
		o.RequestStore = fallbackRequestStore{shared: o.Shared, local: o.RequestStore}
	}
	if o.ProviderInfoTTL <= 0 {
		o.ProviderInfoTTL = 5 * time.Minute
	}
	if o.UnreachableAfter <= 0 {
		o.UnreachableAfter = 30 * time.Second
	}
	if o.ProviderPollInterval < 0 {
		o.ProviderPollInterval = 0
	}
	if o.ProviderMaxAge < 0 {
		o.ProviderMaxAge = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service holds the state shared by the gRPC services: the upstreams, the
// watch hub, the reconnect de-duplication and the request_id memory.
type Service struct {
	opts       Options
	log        *slog.Logger
	hub        *hub
	reconnects *reconnects
	requestIDs requestIDs
	providers  *providerFacts
	vcenters   *registry
	gateway    *gatewayTasks // the tasks the gateway runs itself
	fleets     *fleets
}

// New returns a Service. Close it to end its watches.
func New(opts Options) (*Service, error) {
	opts.setDefaults()
	s := &Service{
		opts:       opts,
		log:        opts.Logger,
		reconnects: newReconnects(),
		requestIDs: requestIDs{store: opts.RequestStore, ttl: opts.RequestIDTTL},
		providers:  newProviderFacts(opts.ProviderInfoTTL),
		vcenters:   newRegistry(),
		gateway:    newGatewayTasks(opts.RequestIDTTL),
	}
	s.gateway.shared = opts.Shared
	s.hub = newHub(hubOptions{
		resolve:          s.resolve,
		interval:         opts.TaskPollInterval,
		linger:           opts.WatchLinger,
		terminalTTL:      opts.TerminalTTL,
		unreachableAfter: opts.UnreachableAfter,
		logger:           opts.Logger,
		shared:           opts.Shared,
		onTerminal:       s.onTaskTerminal,
	})
	s.gateway.onEnd = s.onTaskTerminal
	s.fleets = newFleets(s, fleetOptions{
		interval:         opts.ProviderPollInterval,
		maxAge:           opts.ProviderMaxAge,
		unreachableAfter: opts.UnreachableAfter,
		now:              opts.Now,
		logger:           opts.Logger,
	})
	for id, up := range opts.VCenters {
		vc := VCenter{ID: id, Upstream: up, AutoReconnect: opts.AutoReconnect[id]}
		vc.Session, _ = up.(VCenterSession)
		if err := s.SetVCenter(vc); err != nil {
			s.Close()
			return nil, fmt.Errorf("service: %w", err)
		}
	}
	return s, nil
}

// Register adds the VasaProviderService, the TaskService and the
// VCenterService to r.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	vasagwv1.RegisterVasaProviderServiceServer(r, &providerServer{s: s})
	vasagwv1.RegisterTaskServiceServer(r, &taskServer{s: s})
	vasagwv1.RegisterVCenterServiceServer(r, &vcenterServer{s: s})
}

// Close ends every open watch with UNAVAILABLE (so subscribers reconnect,
// possibly to another replica) and stops the pollers. It returns when they
// have stopped.
func (s *Service) Close() {
	s.gateway.close()
	s.closeFleets()
	s.hub.close()
}

// WatchStats reports the hub's current pollers and subscribers, for metrics
// and tests.
func (s *Service) WatchStats() (pollers, subscribers int) {
	return s.hub.stats()
}

// Polls reports how many task polls the watch hub has sent upstream, for
// metrics.
func (s *Service) Polls() int64 {
	return s.hub.polls.Load()
}
