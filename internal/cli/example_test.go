package cli_test

import (
	"context"
	"fmt"
	"os"

	"google.golang.org/grpc/codes"

	"github.com/vasagw/vasagw/internal/cli"
)

// Run is what cmd/vasactl's main calls; a test or a tool embedding vasactl
// passes its own streams and environment. A command line that cannot run
// exits 2 before anything is dialled.
func ExampleRun() {
	code := cli.Run(context.Background(), []string{"--plaintext", "providers", "get", "a/b"}, cli.Env{Stdout: os.Stdout, Stderr: os.Stdout})
	fmt.Println("exit status", code)
	// Output:
	// Error: "a/b": want a short id such as vp-1 or a full name vcenters/{vcenter}/vasaProviders/{id}
	// Run 'vasactl --help' for usage.
	// exit status 2
}

// A failed call or task exits with 10 plus its gRPC code, so a script can
// tell a provider that needs recovery from one that is unreachable.
func ExampleExitStatus() {
	fmt.Println(cli.ExitStatus(codes.FailedPrecondition), cli.ExitStatus(codes.Unavailable), cli.ExitStatus(codes.NotFound))
	// Output: 19 24 15
}
