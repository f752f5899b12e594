// Command vasactl is the gateway's command-line client: it lists and
// watches vCenters, VASA providers and tasks, and starts reconnects, syncs,
// certificate refreshes, registrations and recoveries over gRPC. The
// commands live in internal/cli; run `vasactl --help` for them and for the
// exit status table.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vasagw/vasagw/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
