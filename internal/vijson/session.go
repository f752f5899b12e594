package vijson

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"reflect"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/vasagw/vasagw/internal/telemetry"

	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// sessionManager is vim25's SessionManager object, whose Login and Logout
// the facade serves.
var sessionManager = vimtypes.ManagedObjectReference{Type: "SessionManager", Value: "SessionManager"}

// sweepEvery is how often, at most, expired sessions are looked for.
const sweepEvery = time.Minute

// maxSessions bounds the sessions the facade holds; a Login beyond it is
// refused until sessions end or expire.
const maxSessions = 10_000

// facadeSession is one caller's vSphere session: the id the caller holds
// (vmware-api-session-id), the service's handle of the user's own vCenter
// session, and when it was last used.
type facadeSession struct {
	vcenter  string
	handle   string
	userName string
	lastUsed time.Time
}

// sessionTable holds the facade's sessions in memory, by id. Ids are 160
// random bits (crypto/rand), as long as vCenter's own session ids, and
// appear in no log line, error or metric.
type sessionTable struct {
	idle time.Duration
	now  func() time.Time

	mu        sync.Mutex
	m         map[string]*facadeSession
	lastSweep time.Time
}

func newSessionTable(idle time.Duration, now func() time.Time) *sessionTable {
	return &sessionTable{idle: idle, now: now, m: make(map[string]*facadeSession), lastSweep: now()}
}

// add stores a new session and returns its id; ok is false when the table
// is full.
func (t *sessionTable) add(vcenterID, handle, userName string) (string, bool) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false
	}
	id := hex.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= maxSessions {
		return "", false
	}
	t.m[id] = &facadeSession{vcenter: vcenterID, handle: handle, userName: userName, lastUsed: t.now()}
	return id, true
}

// lookup returns the live session id of vCenter vcenterID and marks it
// used. An expired session is forgotten (its vCenter session is closed by
// the next sweep).
func (t *sessionTable) lookup(id, vcenterID string) (facadeSession, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	if !ok || s.vcenter != vcenterID {
		return facadeSession{}, false
	}
	now := t.now()
	if now.Sub(s.lastUsed) > t.idle {
		return facadeSession{}, false
	}
	s.lastUsed = now
	return *s, true
}

// remove forgets a session and returns it.
func (t *sessionTable) remove(id, vcenterID string) (facadeSession, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	if !ok || s.vcenter != vcenterID {
		return facadeSession{}, false
	}
	delete(t.m, id)
	return *s, true
}

// expired removes and returns the sessions idle longer than the timeout,
// at most once per [sweepEvery].
func (t *sessionTable) expired() []facadeSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if now.Sub(t.lastSweep) < sweepEvery {
		return nil
	}
	t.lastSweep = now
	var out []facadeSession
	for id, s := range t.m {
		if now.Sub(s.lastUsed) > t.idle {
			out = append(out, *s)
			delete(t.m, id)
		}
	}
	return out
}

// len returns how many sessions are held.
func (t *sessionTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// sweep ends the vCenter sessions of expired facade sessions.
func (h *Handler) sweep(ctx context.Context) {
	if h.opts.Sessions == nil {
		return
	}
	for _, s := range h.sessions.expired() {
		if err := h.opts.Sessions.Close(context.WithoutCancel(ctx), s.handle); err != nil {
			h.log.Debug("logout of an expired vSphere session failed", "vcenter", s.vcenter, "user", s.userName, "error", err)
		}
	}
}

// loginParams are SessionManager.Login's parameters.
type loginParams struct {
	This     vimtypes.ManagedObjectReference `json:"_this"`
	UserName string                          `json:"userName"`
	Password string                          `json:"password"`
	Locale   string                          `json:"locale,omitempty"`
}

// sessionManager serves vim25 SessionManager Login and Logout.
func (h *Handler) sessionManager(ctx context.Context, w http.ResponseWriter, r *http.Request, req request, body []byte) {
	if req.this.Type != sessionManager.Type {
		h.fault(w, managedObjectNotFound(req.this))
		return
	}
	if req.this != sessionManager {
		h.fault(w, managedObjectNotFound(req.this))
		return
	}
	if h.opts.Sessions == nil {
		h.fault(w, withMessage(&vimtypes.NotSupported{}, "vmodl.fault.NotSupported", "This gateway does not open vSphere sessions."))
		return
	}
	switch req.method {
	case "Login", "Logout":
		telemetry.SetRoute(ctx, req.route())
	}
	switch req.method {
	case "Login":
		v, fault := params[loginParams](body, req.this)
		if fault != nil {
			h.fault(w, fault)
			return
		}
		p := v.(*loginParams)
		if p.UserName == "" {
			h.fault(w, invalidArgument("userName"))
			return
		}
		h.login(ctx, w, req, p)
	case "Logout":
		if _, fault := params[struct {
			This vimtypes.ManagedObjectReference `json:"_this"`
		}](body, req.this); fault != nil {
			h.fault(w, fault)
			return
		}
		s, ok := h.sessions.remove(r.Header.Get(SessionHeader), req.vcenter)
		if !ok {
			h.fault(w, notAuthenticated(req.this))
			return
		}
		if err := h.opts.Sessions.Close(context.WithoutCancel(ctx), s.handle); err != nil {
			h.log.InfoContext(ctx, "vSphere logout failed upstream; the session is forgotten", "vcenter", s.vcenter, "user", s.userName, "error", err)
		}
		h.log.InfoContext(ctx, "audit: vsphere logout", "audit", true, "vcenter", s.vcenter, "user", s.userName)
		w.WriteHeader(http.StatusNoContent)
	default:
		h.fault(w, withMessage(&vimtypes.MethodNotFound{Receiver: req.this, Method: req.method},
			"vmodl.fault.MethodNotFound", "The method "+req.method+" of SessionManager is not served by this gateway."))
	}
}

// login opens the user's own vCenter session and answers with the
// session id and vCenter's UserSession.
func (h *Handler) login(ctx context.Context, w http.ResponseWriter, req request, p *loginParams) {
	handle, info, err := h.opts.Sessions.Open(ctx, req.vcenter, p.UserName, p.Password)
	if err != nil {
		f := faultOf(status.Convert(err), req.this)
		h.log.InfoContext(ctx, "audit: vsphere login", "audit", true, "vcenter", req.vcenter, "user", p.UserName, "outcome", "refused: "+faultName(f))
		h.fault(w, f)
		return
	}
	h.log.InfoContext(ctx, "audit: vsphere login", "audit", true, "vcenter", req.vcenter, "user", p.UserName, "outcome", "logged in")
	id, ok := h.sessions.add(req.vcenter, handle, p.UserName)
	if !ok {
		_ = h.opts.Sessions.Close(context.WithoutCancel(ctx), handle)
		h.fault(w, withMessage(&vimtypes.SystemError{Reason: "too many sessions"}, "vmodl.fault.SystemError", "A general system error occurred: too many sessions"))
		return
	}
	us := &vimtypes.UserSession{
		Key:            info.Key,
		UserName:       info.UserName,
		FullName:       info.FullName,
		LoginTime:      info.LoginTime,
		LastActiveTime: info.LastActiveTime,
		Locale:         info.Locale,
		MessageLocale:  info.MessageLocale,
	}
	if p.Locale != "" {
		us.Locale = p.Locale
	}
	w.Header().Set(SessionHeader, id)
	h.result(w, us)
}

// faultName is a fault's vSphere type name, for logs.
func faultName(f vimtypes.BaseMethodFault) string {
	t := reflect.TypeOf(f)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
