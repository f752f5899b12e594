package smssim_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/smssim"
)

// python is Debian's interpreter, which python3-pyvmomi installs into (a
// pyenv python earlier on PATH would not see it).
const python = "/usr/bin/python3"

// minPyVmomiChecks is how many checks the script makes (it counts them):
// fewer means it stopped short without failing.
const minPyVmomiChecks = 139

// TestPyVmomiInterop drives the simulator with VMware's own Python SDK
// (pyVmomi 6.7.1, Debian's python3-pyvmomi), doing what its users do:
// testdata/pyvmomi_interop.py asserts the classes and values pyVmomi
// produces at every step. It is skipped when pyVmomi is absent, unless
// VASAGW_PYVMOMI_TESTS=required (as in CI).
func TestPyVmomiInterop(t *testing.T) {
	t.Parallel()
	if err := exec.Command(python, "-c", "import pyVmomi").Run(); err != nil {
		if os.Getenv("VASAGW_PYVMOMI_TESTS") == "required" {
			t.Fatalf("pyVmomi is required (VASAGW_PYVMOMI_TESTS=required) but %s cannot import it: %v", python, err)
		}
		t.Skipf("pyVmomi not installed for %s (apt-get install python3-pyvmomi): %v", python, err)
	}
	srv := startServer(t, smssim.Options{})
	srv.Sim.SetSpeed(20) // tasks of seconds end in tenths; the script polls, it never sleeps for a task

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/pyvmomi_interop.py",
		srv.URL.Hostname(), srv.URL.Port(), srv.Username, srv.Password, srv.CAFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pyvmomi_interop.py: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	fields := strings.Fields(stdout.String())
	if len(fields) != 2 || fields[0] != "ok" {
		t.Fatalf("pyvmomi_interop.py printed %q, want \"ok N\"", stdout.String())
	}
	if n, err := strconv.Atoi(fields[1]); err != nil || n < minPyVmomiChecks {
		t.Errorf("only %s checks ran, want at least %d", fields[1], minPyVmomiChecks)
	}
	t.Logf("pyVmomi: %s checks passed", fields[1])
}
