package vcenter

import (
	"context"
	"errors"
	"sync"
	"time"
)

// State is what a [Session] last learnt about its vCenter.
type State int

// States of a [Session], from the outcome of its last login or call.
const (
	// StateConnecting: no login has finished yet, or one is under way.
	StateConnecting State = iota
	// StateReady: the last login or call was answered by vCenter.
	StateReady
	// StateUnreachable: vCenter could not be reached or did not answer.
	StateUnreachable
	// StateAuthFailed: vCenter refused the credentials (or the password
	// could not be read): an operator must fix them.
	StateAuthFailed
	// StateCertificateUntrusted: vCenter presented a certificate the
	// session does not trust: an operator must trust it.
	StateCertificateUntrusted
)

var stateNames = [...]string{"connecting", "ready", "unreachable", "auth_failed", "certificate_untrusted"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "unknown"
	}
	return stateNames[s]
}

// Status is a snapshot of a [Session]'s state, for health reporting.
type Status struct {
	State State
	// Err is the error behind the last failed login or call that decided
	// State; nil once vCenter answered again. While a login is under way
	// (StateConnecting) it still holds the failure before it.
	Err error
	// LastReady is when vCenter last answered; zero if it never has.
	LastReady time.Time
	// Generation counts successful logins: it changes whenever the session
	// logged in again (a vCenter restart, say), so a caller can tell when
	// facts it cached about the vCenter may have changed.
	Generation uint64
}

// Status reports the state of the session from the outcome of its latest
// login or call. It makes no call itself.
func (s *Session) Status() Status {
	s.mu.Lock()
	gen, loggingIn := s.gen, s.flight != nil
	s.mu.Unlock()
	st := s.state.snapshot()
	st.Generation = gen
	if loggingIn {
		st.State = StateConnecting
	}
	return st
}

// stateTracker records the outcomes that decide a Session's [State].
type stateTracker struct {
	mu        sync.Mutex
	state     State
	err       error
	lastReady time.Time
}

func (t *stateTracker) snapshot() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Status{State: t.state, Err: t.err, LastReady: t.lastReady}
}

// ready records that vCenter answered.
func (t *stateTracker) ready() {
	now := time.Now()
	t.mu.Lock()
	t.state, t.err, t.lastReady = StateReady, nil, now
	t.mu.Unlock()
}

// loginFailed records the failure of a login: every login failure leaves
// the session without a usable vCenter session.
func (t *stateTracker) loginFailed(err error) {
	if errors.Is(err, ErrClosed) {
		return
	}
	state, known := classify(err)
	if !known || state == StateReady {
		// vCenter answered, but with a fault that is not about the
		// credentials (SMS missing, say), or with something unreadable:
		// the session is still unusable.
		state = StateUnreachable
	}
	t.set(state, err)
}

// observe records the outcome of a call. A call that vCenter answered with
// a fault of its own (a provider not found, say) shows vCenter ready. The
// caller's own cancellation, a closed session, a session that expired (a
// login follows, and decides) and an error this package does not know say
// nothing about it.
func (t *stateTracker) observe(ctx context.Context, err error) {
	switch {
	case err == nil:
		t.ready()
	case ctx.Err() != nil, errors.Is(err, ErrClosed), isSessionGone(err):
	default:
		state, known := classify(err)
		switch {
		case !known:
		case state == StateReady:
			t.ready()
		default:
			t.set(state, err)
		}
	}
}

func (t *stateTracker) set(state State, err error) {
	t.mu.Lock()
	t.state, t.err = state, err
	t.mu.Unlock()
}

// classify tells what an error says about the vCenter behind it:
// StateReady when vCenter itself answered with a fault that is not about
// the session; known is false for an error it cannot place.
func classify(err error) (state State, known bool) {
	var (
		untrusted *UntrustedCertificateError
		f         *Fault
	)
	switch {
	case errors.As(err, &untrusted):
		return StateCertificateUntrusted, true
	case errors.Is(err, ErrUnreachable):
		return StateUnreachable, true
	case errors.Is(err, errPassword):
		return StateAuthFailed, true
	case errors.As(err, &f):
		for _, name := range []string{"InvalidLogin", "SmsInvalidLogin", "NotAuthenticated", "InvalidSession"} {
			if f.HasType(name) {
				return StateAuthFailed, true
			}
		}
		return StateReady, true
	}
	return StateConnecting, false
}

// errPassword marks a failure to read the vCenter password.
var errPassword = errors.New("read vcenter password")
