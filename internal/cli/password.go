package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
	b, err := a.env.ReadPassword(ctx, fmt.Sprintf("Password of %s: ", user))
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

// passwordResult is what a password read returns.
type passwordResult struct {
	b   []byte
	err error
}

// readPasswordFD reads a line from the terminal fd with echo off, writing
// prompt to stderr only once echo is off, so that even a password typed
// ahead of the prompt is not shown. Ctrl-C (ctx done) gives the terminal
// its echo back before returning.
func readPasswordFD(ctx context.Context, fd int, prompt string) ([]byte, error) {
	restore, err := echoOff(fd)
	if err != nil {
		return nil, err
	}
	defer restore()
	fmt.Fprint(os.Stderr, prompt)
	defer fmt.Fprintln(os.Stderr)
	ch := make(chan passwordResult, 1)
	go func() {
		b, err := readLineFD(fd)
		ch <- passwordResult{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readLineFD reads up to a newline from fd, one byte at a time so that
// nothing after the line is consumed.
func readLineFD(fd int) ([]byte, error) {
	f := os.NewFile(uintptr(fd), "/dev/stdin")
	var (
		buf [1]byte
		out []byte
	)
	for {
		n, err := f.Read(buf[:])
		if n > 0 {
			switch buf[0] {
			case '\n', '\r':
				return out, nil
			case 0x03: // Ctrl-C where the terminal is raw (not on Linux)
				return nil, errors.New("interrupted")
			default:
				out = append(out, buf[0])
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
	}
}
