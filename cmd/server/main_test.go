package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/vasagw/vasagw/internal/config"
)

// TestHelp checks that every way of asking for help prints every flag with
// its environment twin and exits 0, for the server and its healthcheck.
func TestHelp(t *testing.T) {
	t.Parallel()
	// Usage lists the flags of the flag set Load parses; read their names
	// back, then check that every way of asking prints each with its twin.
	var names []string
	var ref bytes.Buffer
	config.Usage(&ref, "vasagw")
	for _, line := range strings.Split(ref.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "  --"); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	if len(names) < 20 {
		t.Fatalf("usage lists %d flags:\n%s", len(names), ref.String())
	}
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}, {"healthcheck", "-h"}, {"healthcheck", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := realMain(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			for _, n := range names {
				if !strings.Contains(stdout.String(), "--"+n) || !strings.Contains(stdout.String(), config.EnvName(n)) {
					t.Errorf("help lacks --%s or %s", n, config.EnvName(n))
				}
			}
		})
	}
}

// TestBadArguments checks the exit status and wording of refused command
// lines: flags spelled with two dashes, the variable named when the value
// came from the environment.
func TestBadArguments(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--grpc-port=1"}, "unknown flag --grpc-port"},
		{[]string{"--task-poll-interval=soon"}, "--task-poll-interval"},
		{[]string{"surplus"}, `unexpected argument "surplus"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := realMain(context.Background(), tt.args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", tt.args, code)
		}
		if !strings.Contains(stderr.String(), tt.want) || strings.Contains(stderr.String(), " -grpc-port") {
			t.Errorf("%q: stderr %q, want %q", tt.args, stderr.String(), tt.want)
		}
	}
}
