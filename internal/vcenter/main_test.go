package vcenter_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests: every Session is
// closed in cleanup, so its keep-alive and logins must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
