// Package vijson is the gateway's VI/JSON facade: vSphere's own JSON API
// (`POST /sdk/vim25/{release}/sms/{moType}/{moId}/{method}`) for the SMS
// calls the gateway serves, so that a client written against the vSphere
// API reference works unchanged against the gateway. It owns the routes,
// the VI/JSON encoding of answers and faults (govmomi's vim25/types codec
// over sms/types values), and the vSphere sessions callers open with
// SessionManager Login.
//
// It calls the gateway's gRPC services over the in-process connection
// (like the REST facade), so every call passes the same interceptors:
// authentication and roles, limits, audit, metrics, tracing. It never
// talks to vCenter itself.
package vijson

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/telemetry"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// SessionHeader is the header that carries a vSphere API session id, in
// Login's answer and in the calls that use the session.
const SessionHeader = "vmware-api-session-id"

// maxBodyBytes bounds a request body; the SMS methods' parameters are
// small (a provider spec with a certificate at most).
const maxBodyBytes = 1 << 20

// minRelease is the oldest vSphere release whose VI/JSON the facade
// serves: VI/JSON appeared in vSphere 8.0 U1.
var minRelease = [4]int{8, 0, 1, 0}

// Sessions opens and closes users' own vCenter sessions;
// *service.UserSessions satisfies it.
type Sessions interface {
	Open(ctx context.Context, vcenterID, username, password string) (handle string, info service.UserSessionInfo, err error)
	Close(ctx context.Context, handle string) error
}

// Options configure a [Handler].
type Options struct {
	// Conn is the in-process connection to the gateway's gRPC services.
	Conn grpc.ClientConnInterface
	// Sessions, when set, serves SessionManager Login and Logout; without
	// it they fault NotSupported.
	Sessions Sessions
	// SessionCaller, when set, returns the context of a call made in the
	// session of vSphere user userName on vcenterID, for the gateway's
	// caller authentication (the user is the caller; vCenter applies the
	// user's privileges).
	SessionCaller func(ctx context.Context, vcenterID, userName string) context.Context
	// IdleTimeout ends a session unused this long; default 30 minutes, as
	// vCenter's own default.
	IdleTimeout time.Duration
	// Now is the clock of session expiry; default time.Now.
	Now func() time.Time
	// Logger receives failures (never session ids or passwords).
	Logger *slog.Logger
}

// Handler serves the VI/JSON facade.
type Handler struct {
	opts      Options
	providers vasagwv1.VasaProviderServiceClient
	tasks     vasagwv1.TaskServiceClient
	vcenters  vasagwv1.VCenterServiceClient
	sessions  *sessionTable
	log       *slog.Logger
}

// New returns the facade's handler. Mount it at "/sdk/" and
// "/vcenters/{vcenter}/sdk/" (see [Handler.Register]).
func New(opts Options) (*Handler, error) {
	if opts.Conn == nil {
		return nil, errors.New("vijson: no gRPC connection")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		opts:      opts,
		providers: vasagwv1.NewVasaProviderServiceClient(opts.Conn),
		tasks:     vasagwv1.NewTaskServiceClient(opts.Conn),
		vcenters:  vasagwv1.NewVCenterServiceClient(opts.Conn),
		sessions:  newSessionTable(opts.IdleTimeout, opts.Now),
		log:       opts.Logger,
	}, nil
}

// Register mounts the facade's routes on mux, and its OpenAPI document at
// GET /sdk/openapi.json.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /sdk/openapi.json", serveOpenAPI)
	mux.Handle("/sdk/", h)
	mux.Handle("/vcenters/{vcenter}/sdk/", h)
}

// request is a parsed facade path.
type request struct {
	vcenter string
	this    vimtypes.ManagedObjectReference
	method  string
	sms     bool // under .../sms/, else a vim25 SessionManager call
	// prefixed is true for a path under /vcenters/{vcenter}/.
	prefixed bool
}

// parsePath splits /[vcenters/{vcenter}/]sdk/vim25/{release}/[sms/]{moType}/{moId}/{method}.
// ok is false for a path that is not the facade's at all (404).
func parsePath(p string) (request, bool) {
	r := request{vcenter: "default"}
	rest, found := strings.CutPrefix(p, "/vcenters/")
	if found {
		id, after, ok := strings.Cut(rest, "/")
		if !ok || id == "" {
			return r, false
		}
		r.vcenter, rest, r.prefixed = id, "/"+after, true
	}
	rest, found = strings.CutPrefix(rest, "/sdk/vim25/")
	if !found {
		return r, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 1 && parts[1] == "sms" {
		if len(parts) != 5 {
			return r, false
		}
		r.sms = true
		parts = append(parts[:1], parts[2:]...)
	}
	if len(parts) != 4 || !validRelease(parts[0]) {
		return r, false
	}
	for i, s := range parts[1:] {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" || strings.Contains(u, "/") || !utf8.ValidString(u) {
			return r, false
		}
		parts[i+1] = u
	}
	r.this = vimtypes.ManagedObjectReference{Type: parts[1], Value: parts[2]}
	r.method = parts[3]
	return r, true
}

// route is the request's route pattern for metrics and spans, one per
// method the facade serves (so the label's values are bounded).
func (r request) route() string {
	p := "/sdk/vim25/{release}/"
	if r.vcenter != "default" || r.prefixed {
		p = "/vcenters/{vcenter}" + p
	}
	if r.sms {
		p += "sms/"
	}
	id := "{moId}"
	if mt, ok := managedTypes[r.this.Type]; ok && mt.fixedID != "" {
		id = mt.fixedID
	} else if r.this.Type == sessionManager.Type {
		id = sessionManager.Value
	}
	return p + r.this.Type + "/" + id + "/" + r.method
}

// validRelease reports whether a `{release}` segment is a vSphere release
// (four numbers) from 8.0.1.0 up.
func validRelease(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 9999 || strconv.Itoa(n) != p {
			return false
		}
		v[i] = n
	}
	for i := range v {
		if v[i] != minRelease[i] {
			return v[i] > minRelease[i]
		}
	}
	return true
}

// ServeHTTP answers one VI/JSON call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := parsePath(r.URL.EscapedPath())
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: VI/JSON methods are POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		msg := "The request body could not be read."
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			msg = "The request body is larger than the limit of " + strconv.FormatInt(tooLarge.Limit>>20, 10) + " MiB."
		}
		h.fault(w, withMessage(&vimtypes.InvalidRequest{}, "vmodl.fault.InvalidRequest", msg))
		return
	}
	ctx := r.Context()
	h.sweep(ctx)
	if !req.sms {
		h.sessionManager(ctx, w, r, req, body)
		return
	}
	m, fault := lookupMethod(req)
	if fault != nil {
		h.fault(w, fault)
		return
	}
	telemetry.SetRoute(ctx, req.route())
	params, fault := m.decode(body, req.this)
	if fault != nil {
		h.fault(w, fault)
		return
	}
	if id := r.Header.Get(SessionHeader); id != "" {
		s, ok := h.sessions.lookup(id, req.vcenter)
		if !ok {
			h.fault(w, notAuthenticated(req.this))
			return
		}
		if h.opts.SessionCaller != nil {
			ctx = h.opts.SessionCaller(ctx, req.vcenter, s.userName)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, service.UserSessionMetadataKey, s.handle)
	}
	// The caller's request id goes with the gRPC calls, and the id the
	// gateway logged the call under comes back, as on the REST facade.
	if id := r.Header.Get("X-Request-Id"); id != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, telemetry.RequestIDHeader, id)
	}
	var header metadata.MD
	result, err := m.call(ctx, h, call{vcenter: req.vcenter, this: req.this, params: params, opts: []grpc.CallOption{grpc.Header(&header)}})
	if v := header.Get(telemetry.RequestIDHeader); len(v) > 0 {
		w.Header().Set("X-Request-Id", v[0])
	}
	if err != nil {
		var fe faultError
		if errors.As(err, &fe) {
			h.fault(w, fe.fault)
			return
		}
		h.fault(w, faultOf(status.Convert(err), req.this))
		return
	}
	h.result(w, result)
}

// result writes a method's answer: 204 for a void method, else 200 with
// the value in VI/JSON.
func (h *Handler) result(w http.ResponseWriter, v any) {
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	b, err := encode(v)
	if err != nil {
		h.log.Error("encode a VI/JSON answer", "error", err)
		h.fault(w, withMessage(&vimtypes.SystemError{Reason: "answer could not be encoded"}, "vmodl.fault.SystemError", "A general system error occurred."))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// fault writes a MethodFault as vCenter does: HTTP 500, the fault object.
func (h *Handler) fault(w http.ResponseWriter, f vimtypes.BaseMethodFault) {
	b, err := encode(f)
	if err != nil {
		h.log.Error("encode a VI/JSON fault", "error", err)
		b = []byte(`{"_typeName":"SystemError","faultMessage":[],"reason":"fault could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(b)
}

// notAuthenticated is vCenter's fault for a call without a live session.
func notAuthenticated(this vimtypes.ManagedObjectReference) vimtypes.BaseMethodFault {
	return withMessage(&vimtypes.NotAuthenticated{NoPermission: vimtypes.NoPermission{Object: ref(this), PrivilegeId: "System.View"}},
		"vim.fault.NotAuthenticated", "The session is not authenticated.")
}
