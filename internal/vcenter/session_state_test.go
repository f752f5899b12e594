package vcenter_test

import (
	"errors"
	"testing"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// TestSessionStatusFollowsOutcomes walks one session through every state
// a real simulator can put it in: connecting before the first login, ready
// after it, unreachable while the simulator is down, ready again after it
// returns, and a new generation after a re-login.
func TestSessionStatusFollowsOutcomes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	s := newSession(t, sessionConfig(srv))
	ctx := testContext(t)

	if st := s.Status(); st.State != vcenter.StateConnecting || st.Err != nil || !st.LastReady.IsZero() || st.Generation != 0 {
		t.Fatalf("before any call: %+v, want connecting, no error, never ready, generation 0", st)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ready := s.Status()
	if ready.State != vcenter.StateReady || ready.Err != nil || ready.LastReady.IsZero() || ready.Generation != 1 {
		t.Fatalf("after a call: %+v, want ready, no error, a ready time, generation 1", ready)
	}
	// A fault vCenter answers (no such provider) says vCenter is fine.
	if _, err := s.Provider(ctx, "vp-none"); err == nil {
		t.Fatal("Provider(vp-none) succeeded")
	}
	if st := s.Status(); st.State != vcenter.StateReady {
		t.Fatalf("after a fault vCenter answered: %v, want ready", st.State)
	}

	srv.Down()
	if err := s.Ping(ctx); !errors.Is(err, vcenter.ErrUnreachable) {
		t.Fatalf("Ping while down: %v, want ErrUnreachable", err)
	}
	down := s.Status()
	if down.State != vcenter.StateUnreachable || !errors.Is(down.Err, vcenter.ErrUnreachable) {
		t.Fatalf("while down: %+v, want unreachable with its error", down)
	}
	if down.LastReady.Before(ready.LastReady) {
		t.Errorf("last ready went back from %v to %v", ready.LastReady, down.LastReady)
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.State != vcenter.StateReady || st.Err != nil {
		t.Fatalf("after the simulator returned: %+v, want ready", st)
	}

	srv.DropSessions()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.State != vcenter.StateReady || st.Generation != 2 {
		t.Fatalf("after a re-login: %+v, want ready at generation 2", st)
	}
}

// TestSessionStatusOfRefusedLogins: refused credentials, an unreadable
// password and an untrusted certificate each have their own state.
func TestSessionStatusOfRefusedLogins(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	tests := []struct {
		name   string
		config func(*vcenter.SessionConfig)
		want   vcenter.State
	}{
		{
			name:   "wrong password",
			config: func(c *vcenter.SessionConfig) { c.Password = func() (string, error) { return "wrong", nil } },
			want:   vcenter.StateAuthFailed,
		},
		{
			name: "password unreadable",
			config: func(c *vcenter.SessionConfig) {
				c.Password = func() (string, error) { return "", errors.New("no such file") }
			},
			want: vcenter.StateAuthFailed,
		},
		{
			name: "certificate not trusted",
			config: func(c *vcenter.SessionConfig) {
				c.CAFile = ""
				c.Thumbprint = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
			},
			want: vcenter.StateCertificateUntrusted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sessionConfig(srv)
			tt.config(&cfg)
			s := newSession(t, cfg)
			err := s.Ping(testContext(t))
			if err == nil {
				t.Fatal("Ping succeeded")
			}
			st := s.Status()
			if st.State != tt.want || st.Err == nil || !st.LastReady.IsZero() {
				t.Fatalf("status %+v (state %v), want %v with the login error, never ready", st, st.State, tt.want)
			}
		})
	}
}
