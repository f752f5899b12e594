// Command smssim serves the SMS simulator inside vcsim until interrupted, for
// trying the gateway or govc against a vCenter with VASA providers.
//
//	go run ./cmd/smssim [--listen 127.0.0.1:0]
//
// It prints the SDK URL, the credentials, the CA file and the certificate
// thumbprint, then serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vasagw/vasagw/internal/smssim"
)

type config struct {
	listen string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	if err := run(ctx, cfg, os.Stdout); err != nil {
		slog.Error("smssim", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("smssim", flag.ContinueOnError)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "address to serve the simulated vCenter on")
	err := fs.Parse(args)
	return cfg, err
}

// run starts the simulator, prints how to reach it and serves until ctx ends.
func run(ctx context.Context, cfg config, out io.Writer) error {
	srv, err := smssim.Start(smssim.Options{Listen: cfg.listen})
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer srv.Close()

	fmt.Fprintf(out, "SDK URL:    %s\n", srv.URL)
	fmt.Fprintf(out, "SMS URL:    https://%s%s\n", srv.URL.Host, smssim.Path)
	fmt.Fprintf(out, "Username:   %s\n", srv.Username)
	fmt.Fprintf(out, "Password:   %s\n", srv.Password)
	fmt.Fprintf(out, "CA file:    %s\n", srv.CAFile)
	fmt.Fprintf(out, "Thumbprint: %s\n", srv.Thumbprint)
	fmt.Fprintf(out, "Controls:   curl -k -u %s:%s -X POST https://%s%sproviders/vp-3/renew-certificate\n",
		srv.Username, srv.Password, srv.URL.Host, smssim.ControlPrefix)

	<-ctx.Done()
	return nil
}
