package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"golang.org/x/term"
)

// readPassword returns the provider's password: the content of file (one
// trailing newline dropped), or, with no file, what the user types at a
// prompt with echo off. vasactl takes a password from nowhere else: a flag
// value shows in `ps` and shell history, an environment variable in
// /proc/PID/environ of every child.
func (a *app) readPassword(ctx context.Context, file, user string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", localf("--password-file: %w", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return "", localf("--password-file %s is empty", file)
		}
		return string(b), nil
	}
	if !a.env.StdinTerminal || a.env.ReadPassword == nil {
		return "", usagef("--password-file is required when stdin is not a terminal (vasactl takes no password from a flag or the environment)")
	}
	fmt.Fprintf(a.env.Stderr, "Password of %s: ", user)
	b, err := a.env.ReadPassword(ctx)
	fmt.Fprintln(a.env.Stderr)
	if err != nil {
		if ctx.Err() != nil {
			return "", interruptedError{}
		}
		return "", localf("read the password: %w", err)
	}
	if len(b) == 0 {
		return "", localf("empty password")
	}
	return string(b), nil
}

// readPasswordFD reads a line from the terminal fd with echo off. Ctrl-C
// (ctx done) gives the terminal its echo back before returning.
func readPasswordFD(ctx context.Context, fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		return nil, ctx.Err()
	}
}
