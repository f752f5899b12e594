package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// ErrHelp is what [Load] returns when the arguments ask for help (-h,
// -help, --help): the caller prints [Usage] and exits 0.
var ErrHelp = errors.New("help requested")

// Usage writes how to run command: every flag, its environment twin, what
// it does and its default. It lists the flags [Load] reads, so it cannot
// fall behind them.
func Usage(w io.Writer, command string) {
	cfg := Default()
	fs := newFlagSet(&cfg)
	fmt.Fprintf(w, "Usage: %s [flags]\n       %s healthcheck [flags]\n\n", command, command)
	fmt.Fprintf(w, "With no --vcenter-url the gateway serves an embedded SMS simulator.\n")
	fmt.Fprintf(w, "Every flag can also be set by its environment variable; a flag on the\ncommand line wins.\n\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if kind != "" {
			head += " " + kind
		}
		fmt.Fprintf(w, "%s  (%s)\n    \t%s", head, EnvName(f.Name), strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// singleDashFlag finds the flag package's single-dash spelling of a flag
// name in its parse errors ("flag provided but not defined: -grpc-port").
var singleDashFlag = regexp.MustCompile(`(^|[ :]) ?-([a-zA-Z][a-zA-Z0-9._-]*)`)

// parseError rewrites an error of flag.FlagSet.Parse the way the README and
// --help spell flags: with two dashes.
func parseError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown flag --%s (run with --help for the flags)", strings.TrimPrefix(name, "-"))
	}
	msg = singleDashFlag.ReplaceAllStringFunc(msg, func(m string) string {
		i := strings.Index(m, "-")
		return m[:i] + "-" + m[i:]
	})
	return fmt.Errorf("%s (run with --help for the flags)", msg)
}

// envSourced names, in each validation error that names a flag whose value
// came from its environment twin, that variable too: an operator who set
// VASAGW_LOG_LEVEL must not have to guess where --log-level came from.
func envSourced(err error, fromEnv map[string]bool) error {
	if err == nil || len(fromEnv) == 0 {
		return err
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		msg := e.Error()
		name, ok := strings.CutPrefix(msg, "--")
		if i := strings.IndexAny(name, " :("); ok && i > 0 {
			name = name[:i]
		}
		if ok && fromEnv[name] {
			e = fmt.Errorf("--%s (from %s)%s", name, EnvName(name), strings.TrimPrefix(msg, "--"+name))
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
