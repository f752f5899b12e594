// Command server runs vasagw, the gRPC and REST gateway to vCenter's Storage
// Monitoring Service. With no --vcenter-url it serves an embedded SMS
// simulator, so that it runs on a fresh machine. `server healthcheck` (same
// flags and VASAGW_* variables) probes a running gateway's /healthz.
//
// Everything but the process lives in internal/: the configuration in
// internal/config, the gateway in internal/server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// realMain runs the command line args and returns the exit code: 0 (also
// after --help), 1 when the gateway fails, 2 for a bad configuration.
func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return server.Healthcheck(ctx, args[1:], os.LookupEnv, stdout, stderr)
	}
	cfg, err := config.Load(args, os.LookupEnv)
	if errors.Is(err, config.ErrHelp) {
		config.Usage(stdout, "vasagw")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "vasagw:", err)
		return 2
	}
	// SIGHUP re-reads the --config file (without a handler it would end
	// the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := server.Run(ctx, cfg, server.ReloadOn(hup)); err != nil {
		fmt.Fprintln(stderr, "vasagw:", err)
		return 1
	}
	return 0
}
