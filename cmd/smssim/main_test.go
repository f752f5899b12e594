package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
)

func TestRunPrintsConnectionDetails(t *testing.T) {
	cfg, err := parseFlags([]string{"--listen", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, cfg, pw)
		pw.CloseWithError(err)
		done <- err
	}()

	var lines []string
	sc := bufio.NewScanner(pr)
	for len(lines) < 7 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 7 {
		t.Fatalf("run printed %q, err %v", lines, sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // lines added later must not block run
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := strings.Join(lines, "\n")
	for _, want := range []string{"SDK URL:    https://127.0.0.1:", "/sdk", "Username:   user", "Password:   pass", "CA file:    ", "Thumbprint: ", "Controls:   curl -k -u user:pass -X POST https://127.0.0.1:", "/smssim/providers/vp-3/renew-certificate"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
