package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/console"
	"github.com/vasagw/vasagw/internal/rest"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/telemetry"
	"github.com/vasagw/vasagw/internal/vijson"
)

// restHandler is everything the REST listener serves, from the outside
// in: metrics and spans per request; /readyz and /openapi.json, outside
// caller authentication so that probes and scrapes of refused calls still
// work; caller authentication, whose outcome the in-process gRPC call
// carries to the interceptors; CORS, the refusal of cross-origin writes
// and the body limit; /healthz; and the facades over conn: the REST facade
// at /, the VI/JSON facade on its own routes; and the operator console's
// page (exactly /) and assets.
//
// A sibling is one more line in the inner mux, as vi.Register(mux) is: it
// then shares the limits, CORS, authentication, metrics and spans, and
// reaches the service, like the others, only over conn. The console
// reaches it not even that way: its page calls the REST API from the
// browser, with the browser's own credentials.
//
// simControls, when not nil, are the embedded simulators' test controls
// (the demo only), served at their own routes.
func restHandler(ctx context.Context, cfg config.Config, o options, log *slog.Logger, conn *inProcess, tel *telemetry.Telemetry, rd *readiness, sec *security, users *service.UserSessions, simControls http.Handler) (http.Handler, error) {
	api, err := rest.NewHandler(ctx, conn, rest.Options{Logger: log, SSEKeepalive: o.sseKeepalive})
	if err != nil {
		return nil, err
	}
	vi, err := vijson.New(vijson.Options{Conn: conn, Sessions: users, SessionCaller: vsphereCaller, Logger: log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("/", api)
	vi.Register(mux)
	if simControls != nil {
		mux.Handle("POST "+smssim.ControlPrefix, simControls)
		mux.Handle("POST /vcenters/{vcenter}"+smssim.ControlPrefix, simControls)
	}
	console.New().Register(mux)

	outer := http.NewServeMux()
	outer.HandleFunc("GET /readyz", rd.readyz)
	outer.HandleFunc("GET /openapi.json", rest.ServeOpenAPI)
	inner, err := rest.CrossOrigin(cfg.CORSAllowedOrigins, rest.LimitBody(mux))
	if err != nil {
		return nil, fmt.Errorf("--cors-allowed-origins: %w", err)
	}
	outer.Handle("/", withClientAddr(sec.authenticateREST(rest.CORS(cfg.CORSAllowedOrigins, inner))))
	return tel.HTTPHandler(outer), nil
}
