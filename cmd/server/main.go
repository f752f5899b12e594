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
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vasagw/vasagw/internal/config"
	"github.com/vasagw/vasagw/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// realMain runs the command line args and returns the exit code: 0, 1 when
// the gateway fails, 2 for a bad configuration.
func realMain(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return server.Healthcheck(ctx, args[1:], os.LookupEnv, os.Stderr)
	}
	cfg, err := config.Load(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vasagw:", err)
		return 2
	}
	if err := server.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "vasagw:", err)
		return 1
	}
	return 0
}
