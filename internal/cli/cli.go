// Package cli owns vasactl, the gateway's command-line client: the cobra
// command tree, the connection settings (flags, VASACTL_ADDR, the config
// file), the output formats, the progress display of task watches, and the
// rendering of gateway errors with their exit status. It is a gRPC client of
// the gateway and nothing else: it imports gen/ and grpc, never the
// gateway's own packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Env is what a vasactl run reads and writes besides its arguments. The
// binary passes [OSEnv]; tests pass buffers and a map lookup, so they never
// change the process environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads an environment variable. vasactl reads VASACTL_ADDR,
	// VASACTL_CONFIG, XDG_CONFIG_HOME and HOME, never a secret.
	LookupEnv func(string) (string, bool)
	// StdoutTerminal is true when stdout is a terminal: progress bars and
	// the live provider table are drawn only then.
	StdoutTerminal bool
	// StdinTerminal is true when stdin is a terminal: vasactl prompts (a
	// password with no echo, a yes/no) only then.
	StdinTerminal bool
	// ReadPassword shows prompt and reads one line from the terminal with
	// echo off. It is used only when StdinTerminal is true.
	ReadPassword func(ctx context.Context, prompt string) ([]byte, error)
	// Width is the terminal's width in columns (0 when unknown).
	Width func() int
}

// OSEnv is the [Env] of the process: its standard streams, environment and
// terminal.
func OSEnv() Env {
	stdinFD := int(os.Stdin.Fd())
	stdoutFD := int(os.Stdout.Fd())
	return Env{
		Stdin:          os.Stdin,
		Stdout:         os.Stdout,
		Stderr:         os.Stderr,
		LookupEnv:      os.LookupEnv,
		StdoutTerminal: term.IsTerminal(stdoutFD),
		StdinTerminal:  term.IsTerminal(stdinFD),
		ReadPassword: func(ctx context.Context, prompt string) ([]byte, error) {
			return readPasswordFD(ctx, stdinFD, prompt)
		},
		Width: func() int {
			w, _, err := term.GetSize(stdoutFD)
			if err != nil {
				return 0
			}
			return w
		},
	}
}

// Exit statuses that do not come from a gRPC code. A gRPC error exits with
// [ExitCodeBase] plus its code (see exitStatusHelp).
const (
	ExitOK = 0
	// ExitLocal: vasactl failed before or without talking to the gateway
	// (a file it could not read, a prompt that failed, a bad config file).
	ExitLocal = 1
	// ExitUsage: unknown command or flag, wrong arguments.
	ExitUsage = 2
	// ExitCodeBase is added to the gRPC code of a failed call or task.
	ExitCodeBase = 10
	// ExitInterrupted: Ctrl-C stopped a wait (the task goes on).
	ExitInterrupted = 130
)

// exitStatusHelp is the documented table of exit statuses, shown by
// `vasactl --help` and repeated in the README.
const exitStatusHelp = `Exit status:
  0    success (a waited-for task succeeded)
  1    local failure: a file could not be read, a prompt failed, bad config
  2    usage: unknown command or flag, wrong arguments
  10+  the gRPC code of the failed call, or of the task's error with --wait:
       11 CANCELLED           17 PERMISSION_DENIED    23 INTERNAL
       12 UNKNOWN             18 RESOURCE_EXHAUSTED   24 UNAVAILABLE
       13 INVALID_ARGUMENT    19 FAILED_PRECONDITION  25 DATA_LOSS
       14 DEADLINE_EXCEEDED   20 ABORTED              26 UNAUTHENTICATED
       15 NOT_FOUND           21 OUT_OF_RANGE
       16 ALREADY_EXISTS      22 UNIMPLEMENTED
  130  interrupted (Ctrl-C): vasactl stopped waiting; the task goes on
`

// ExitStatus is the exit status of a failed gRPC call or task with code c.
func ExitStatus(c codes.Code) int {
	if c == codes.OK {
		return ExitOK
	}
	return ExitCodeBase + int(c)
}

// localError is a failure of vasactl itself (ExitLocal).
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

func localf(format string, args ...any) error { return localError{fmt.Errorf(format, args...)} }

// usageError is a command line vasactl cannot run (ExitUsage).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// interruptedError ends a wait that Ctrl-C stopped; its message has been
// printed already.
type interruptedError struct{}

func (interruptedError) Error() string { return "interrupted" }

// taskFailedError is a waited-for task that ended STATE_FAILED; the
// failure has been printed already.
type taskFailedError struct{ code codes.Code }

func (e taskFailedError) Error() string { return "task failed: " + e.code.String() }

// Run runs vasactl with args (without the program name) and returns its exit
// status. ctx ends on Ctrl-C: a wait stops, the task goes on.
func Run(ctx context.Context, args []string, env Env) int {
	if env.LookupEnv == nil {
		env.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if env.Stdin == nil {
		env.Stdin = eofReader{}
	}
	if env.Width == nil {
		env.Width = func() int { return 0 }
	}
	a := &app{env: env}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if st, ok := status.FromError(err); ok && err != nil && st.Code() == codes.Canceled && ctx.Err() != nil {
		// Ctrl-C during a call (not a wait): nothing to resume.
		fmt.Fprintln(env.Stderr, "Interrupted.")
		return ExitInterrupted
	}
	return a.report(err)
}

// report prints err on stderr (unless it was printed already) and returns
// the exit status for it.
func (a *app) report(err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		local  localError
		usage  usageError
		failed taskFailedError
	)
	switch {
	case errors.As(err, &failed):
		return ExitStatus(failed.code)
	case errors.As(err, &interruptedError{}):
		return ExitInterrupted
	case errors.As(err, &local):
		fmt.Fprintf(a.env.Stderr, "Error: %v\n", err)
		return ExitLocal
	case errors.As(err, &usage):
		fmt.Fprintf(a.env.Stderr, "Error: %v\nRun 'vasactl --help' for usage.\n", err)
		return ExitUsage
	}
	if st, ok := status.FromError(err); ok {
		writeStatus(a.env.Stderr, st, a.hints())
		return ExitStatus(st.Code())
	}
	// cobra's own errors (unknown command, bad flag value) end up here.
	fmt.Fprintf(a.env.Stderr, "Error: %v\nRun 'vasactl --help' for usage.\n", err)
	return ExitUsage
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// cobraArgs wraps a cobra argument validator so that its error is a usage
// error.
func cobraArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
