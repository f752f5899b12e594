package vijson_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	"github.com/vasagw/vasagw/internal/vijson"
)

// env is the facade in front of the real gRPC services over a loopback
// connection, in front of the SMS simulator inside vcsim, over real SOAP.
type env struct {
	sim   *smssim.Server
	users *service.UserSessions
	h     *vijson.Handler
	http  http.Handler
	url   string
	now   *clock
}

// clock is a settable time for session expiry.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newEnv(t testing.TB) *env {
	t.Helper()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.AddReadOnlyUser()
	sim.Sim.SetSpeed(20)

	sess, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      sim.URL,
		Username: sim.Username,
		Password: func() (string, error) { return sim.Password, nil },
		CAFile:   sim.CAFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	users, err := service.NewUserSessions(service.UserSessionsOptions{
		Login: func(ctx context.Context, vcenterID, username, password string) (service.UserUpstream, error) {
			if vcenterID != "default" {
				return nil, service.ErrUnknownVCenter
			}
			u, err := sess.LoginUser(ctx, username, password)
			if err != nil {
				return nil, err
			}
			return u, nil
		},
		// Every connection of this test is the facade's own.
		Trusted: func(context.Context) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Options{
		VCenters:     map[string]service.Upstream{"default": sess},
		UserSessions: users,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	gs := grpc.NewServer()
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	c := &clock{t: time.Now()}
	h, err := vijson.New(vijson.Options{Conn: conn, Sessions: users, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &env{sim: sim, users: users, h: h, http: mux, url: hs.URL, now: c}
}

// answer is one HTTP answer of the facade.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

// post sends a VI/JSON call over the loopback HTTP server.
func (e *env) post(t testing.TB, path, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: b}
}

// decode reads an answer with govmomi's VI/JSON decoder (with the facade's
// type lookup, which knows SMS types by their plain names).
func decode[T any](t testing.TB, a answer) T {
	t.Helper()
	var v T
	if err := vijson.NewDecoder(bytes.NewReader(a.body)).Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, a.body, err)
	}
	return v
}

const sms = "/sdk/vim25/8.0.1.0/sms/"
