package service

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// TestUserSessionsPick: a call names a user's session by its handle only
// on a trusted (in-process) connection; elsewhere the handle is ignored
// and the shared session serves it. A closed handle, or one of another
// vCenter, is vCenter's NotAuthenticated.
func TestUserSessionsPick(t *testing.T) {
	t.Parallel()
	sim, err := smssim.Start(smssim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.AddReadOnlyUser()
	pw := sim.Password
	shared, err := vcenter.NewSession(vcenter.SessionConfig{URL: sim.URL, Username: sim.Username, Password: func() (string, error) { return pw, nil }, CAFile: sim.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shared.Close(context.Background()) })
	type trustKey struct{}
	users, err := NewUserSessions(UserSessionsOptions{
		Login: func(ctx context.Context, vcenterID, username, password string) (UserUpstream, error) {
			u, err := shared.LoginUser(ctx, username, password)
			if err != nil {
				return nil, err
			}
			return u, nil
		},
		Trusted: func(ctx context.Context) bool { return ctx.Value(trustKey{}) != nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	handle, info, err := users.Open(ctx, "default", smssim.ReadOnlyUsername, smssim.ReadOnlyPassword)
	if err != nil || info.UserName != smssim.ReadOnlyUsername || len(handle) != 64 {
		t.Fatalf("Open: %q %+v %v", handle, info, err)
	}
	call := metadata.NewIncomingContext(ctx, metadata.Pairs(UserSessionMetadataKey, handle))
	trusted := context.WithValue(call, trustKey{}, true)

	if up, err := users.pick(call, "default", shared); err != nil || up != Upstream(shared) {
		t.Errorf("untrusted call: %v, %v; want the shared session", up, err)
	}
	up, err := users.pick(trusted, "default", shared)
	if _, ok := up.(*vcenter.UserSession); err != nil || !ok {
		t.Fatalf("trusted call: %T, %v; want the user's session", up, err)
	}
	// The user's own session: vCenter refuses the reconnect.
	if _, err := up.Reconnect(ctx, "vp-2"); !errors.Is(err, &vcenter.Fault{TypeName: "NoPermission"}) {
		t.Errorf("reconnect in the read-only user's session: %v", err)
	}
	if _, err := users.pick(trusted, "east", shared); !errors.Is(err, errUserSessionGone) {
		t.Errorf("a handle of another vCenter: %v", err)
	}
	if users.dedupKey(trusted) == "" || users.dedupKey(call) != "" {
		t.Error("de-duplication key: want one for the trusted call only")
	}
	if err := users.Close(ctx, handle); err != nil {
		t.Fatal(err)
	}
	if _, err := users.pick(trusted, "default", shared); !errors.Is(err, errUserSessionGone) {
		t.Errorf("a closed handle: %v", err)
	}
	if _, _, err := users.Open(ctx, "default", smssim.ReadOnlyUsername, "wrong"); err == nil || reasonIn(err) != "VCENTER_AUTH_FAILED" {
		t.Errorf("a wrong password: %v", err)
	}
	if users.Len() != 0 {
		t.Errorf("%d sessions left", users.Len())
	}
}

func reasonIn(err error) string {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}
