package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/vasagw/vasagw/internal/vcenter"
)

// UserSessionMetadataKey is the gRPC metadata key by which a call asks to
// run in a user's own vCenter session instead of the gateway's shared
// one. Its value is a handle that [UserSessions.Open] returned. It is
// honoured only on the in-process connection (see
// [UserSessionsOptions.Trusted]); on any other it is ignored.
const UserSessionMetadataKey = "x-vasagw-vcenter-session"

// ErrUnknownVCenter is what [UserSessionsOptions.Login] returns for a
// vCenter id that is not configured (NOT_FOUND VCENTER_NOT_FOUND).
var ErrUnknownVCenter = errors.New("no vCenter with this id is configured")

// UserUpstream is a user's own session with one vCenter: an [Upstream]
// that vCenter authorizes as that user, and that ends with Logout.
// *vcenter.UserSession satisfies it.
type UserUpstream interface {
	Upstream
	Info() vcenter.UserInfo
	Logout(ctx context.Context) error
}

// UserSessionsOptions configure [UserSessions].
type UserSessionsOptions struct {
	// Login logs in to the vCenter vcenterID as a user. It must fail with
	// the upstream's error (an InvalidLogin fault, say) so that the caller
	// gets the fault vCenter sent.
	Login func(ctx context.Context, vcenterID, username, password string) (UserUpstream, error)
	// Trusted reports whether a call came over the in-process connection,
	// the only one whose [UserSessionMetadataKey] is read.
	Trusted func(ctx context.Context) bool
}

// UserSessions holds the vCenter sessions that users opened as
// themselves (through the VI/JSON facade's Login), so that their calls run
// in their own session and vCenter applies their own privileges, while
// they still pass the gateway's interceptors, limits, audit and metrics.
//
// Why a handle in metadata: the facade calls the gRPC services over a real
// in-process connection, so nothing but metadata crosses it, and the
// service must pick the upstream per call. The handle is random (256 bits,
// crypto/rand), known only to this process (the facade gives its callers
// an id of its own), never logged, and read only from calls that
// [UserSessionsOptions.Trusted] accepts; a network caller that sends the
// key is served by the shared session as if it had not.
type UserSessions struct {
	opts UserSessionsOptions

	mu       sync.Mutex
	sessions map[string]userSession // handle -> session
}

type userSession struct {
	vcenter string
	up      UserUpstream
}

// NewUserSessions returns an empty UserSessions.
func NewUserSessions(opts UserSessionsOptions) (*UserSessions, error) {
	if opts.Login == nil || opts.Trusted == nil {
		return nil, errors.New("user sessions: Login and Trusted are required")
	}
	return &UserSessions{opts: opts, sessions: make(map[string]userSession)}, nil
}

// UserSessionInfo is what a login answered, for the caller to render.
type UserSessionInfo = vcenter.UserInfo

// Open logs in to the vCenter vcenterID as username and returns the handle
// that selects the session (in [UserSessionMetadataKey]) and what vCenter
// answered. Its error is a gRPC status, mapped like every upstream error.
func (u *UserSessions) Open(ctx context.Context, vcenterID, username, password string) (string, UserSessionInfo, error) {
	resource := vcenterName{VCenter: vcenterID}.String()
	up, err := u.opts.Login(ctx, vcenterID, username, password)
	if errors.Is(err, ErrUnknownVCenter) {
		return "", UserSessionInfo{}, unknownVCenter(vcenterID, resource)
	}
	if err != nil {
		return "", UserSessionInfo{}, statusOf(err, vcenterID, resource).Err()
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		_ = up.Logout(context.WithoutCancel(ctx))
		return "", UserSessionInfo{}, statusOf(err, vcenterID, resource).Err()
	}
	handle := hex.EncodeToString(b[:])
	u.mu.Lock()
	u.sessions[handle] = userSession{vcenter: vcenterID, up: up}
	u.mu.Unlock()
	return handle, up.Info(), nil
}

// Close logs the session out of vCenter and forgets it. An unknown handle
// is not an error.
func (u *UserSessions) Close(ctx context.Context, handle string) error {
	u.mu.Lock()
	s, ok := u.sessions[handle]
	delete(u.sessions, handle)
	u.mu.Unlock()
	if !ok {
		return nil
	}
	return s.up.Logout(ctx)
}

// Len returns how many user sessions are open, for metrics and tests.
func (u *UserSessions) Len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.sessions)
}

// errUserSessionGone is what a call in a session that was closed meanwhile
// gets: vCenter's own fault for a session that no longer exists.
var errUserSessionGone = &vcenter.Fault{
	TypeName:   "NotAuthenticated",
	Supertypes: []string{"NoPermission", "SecurityError", "RuntimeFault", "MethodFault"},
	Message:    "The session is not authenticated.",
}

// handle returns the user-session handle of a trusted call, or "".
func (u *UserSessions) handle(ctx context.Context) string {
	if u == nil {
		return ""
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	v := md.Get(UserSessionMetadataKey)
	if len(v) != 1 || v[0] == "" || !u.opts.Trusted(ctx) {
		return ""
	}
	return v[0]
}

// pick returns the upstream a call on vcenterID runs on: the caller's own
// session when the call names one, else shared.
func (u *UserSessions) pick(ctx context.Context, vcenterID string, shared Upstream) (Upstream, error) {
	h := u.handle(ctx)
	if h == "" {
		return shared, nil
	}
	u.mu.Lock()
	s, ok := u.sessions[h]
	u.mu.Unlock()
	if !ok || s.vcenter != vcenterID {
		return nil, errUserSessionGone
	}
	return s.up, nil
}

// dedupKey is what reconnect de-duplication adds to a provider's key for
// a call in a user's own session: such a call must reach vCenter with the
// user's privileges, never join a task another caller's session started.
func (u *UserSessions) dedupKey(ctx context.Context) string {
	if h := u.handle(ctx); h != "" {
		return "\x00user:" + h
	}
	return ""
}

// callerUpstream sends each call to the upstream [UserSessions.pick]
// chooses for it.
type callerUpstream struct {
	vcenter string
	shared  Upstream
	users   *UserSessions
}

func (c callerUpstream) Providers(ctx context.Context) ([]string, error) {
	up, err := c.users.pick(ctx, c.vcenter, c.shared)
	if err != nil {
		return nil, err
	}
	return up.Providers(ctx)
}

func (c callerUpstream) Provider(ctx context.Context, id string) (*vcenter.Provider, error) {
	up, err := c.users.pick(ctx, c.vcenter, c.shared)
	if err != nil {
		return nil, err
	}
	return up.Provider(ctx, id)
}

func (c callerUpstream) Reconnect(ctx context.Context, providerID string) (string, error) {
	up, err := c.users.pick(ctx, c.vcenter, c.shared)
	if err != nil {
		return "", err
	}
	return up.Reconnect(ctx, providerID)
}

func (c callerUpstream) Task(ctx context.Context, taskID string) (*vcenter.TaskInfo, error) {
	up, err := c.users.pick(ctx, c.vcenter, c.shared)
	if err != nil {
		return nil, err
	}
	return up.Task(ctx, taskID)
}

// A user's own session serves every call the shared one does.
var (
	_ UserUpstream      = (*vcenter.UserSession)(nil)
	_ LifecycleUpstream = (*vcenter.UserSession)(nil)
)
