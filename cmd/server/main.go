// Command server runs vasagw, the gRPC and REST gateway to vCenter's Storage
// Monitoring Service. With no --vcenter-url it serves an embedded SMS
// simulator, so that it runs on a fresh machine.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(ctx, os.Args[2:], os.LookupEnv, os.Stderr))
	}
	cfg, err := loadConfig(os.Args[1:], os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vasagw:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "vasagw:", err)
		os.Exit(1)
	}
}
