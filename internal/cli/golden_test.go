package cli_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestWaitOutputGolden pins what --wait writes when stdout is not a
// terminal (a log, a pipe, CI): the progress lines of a reconnect that
// succeeds, of a failed task, its error and the exit statuses. The
// lines hold no timestamps and do not depend on when the gateway's polls
// saw the task (progress is reported in steps of 10 %), so the file is
// byte-stable. Run `go test ./internal/cli -run Golden -update` after an
// intended change.
func TestWaitOutputGolden(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)
	var got strings.Builder
	for _, args := range [][]string{
		{"providers", "reconnect", "vp-2", "--wait"},
		{"tasks", "watch", "SmsTask-1"},
		// How far vp-5's task got before it failed depends on when it was
		// polled: its wait is not pinned, the watch of the ended task is.
		{"providers", "reconnect", "vp-5", "--wait"},
		{"tasks", "watch", "SmsTask-2"},
	} {
		r := g.run(t, env, args...)
		if args[1] == "reconnect" && args[2] == "vp-5" {
			if r.code != 24 {
				t.Fatalf("reconnect vp-5 --wait: exit %d, want 24", r.code)
			}
			continue
		}
		fmt.Fprintf(&got, "$ vasactl %s\n%s", strings.Join(args, " "), r.stdout)
		if r.stderr != "" {
			fmt.Fprintf(&got, "[stderr]\n%s", r.stderr)
		}
		fmt.Fprintf(&got, "[exit %d]\n\n", r.code)
	}
	golden(t, "wait.golden", got.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update if intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
