package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// globalFlags are the flags every command takes.
type globalFlags struct {
	config    string
	addr      string
	caFile    string
	certFile  string
	keyFile   string
	tokenFile string
	plaintext bool
	vcenter   string
	output    string
}

// app is one vasactl run: its environment, flags and (once dialled) the
// connection to the gateway.
type app struct {
	env   Env
	flags globalFlags
	root  *cobra.Command
	conn  connection
	cc    *grpc.ClientConn
	lines *bufio.Reader
}

func (a *app) close() {
	if a.cc != nil {
		a.cc.Close()
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "vasactl",
		Short: "vasactl talks to the vasagw gateway: vCenters, VASA providers and their tasks",
		Long: `vasactl is the command-line client of the vasagw gateway (gRPC).

It lists and watches vCenters, VASA providers and tasks, and starts
reconnects, syncs, certificate refreshes, registrations and recoveries of
providers; --wait follows the task with a progress bar.

Connection settings come from flags, then VASACTL_ADDR, then the config file
($XDG_CONFIG_HOME/vasactl/config.yaml, or --config / VASACTL_CONFIG), then
the defaults. Against the gateway's embedded simulator on this machine:

  vasactl --plaintext providers list
`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch a.flags.output {
			case "table", "json", "yaml":
			default:
				return usagef("-o %q: want table, json or yaml", a.flags.output)
			}
			c, err := a.flags.resolve(func(name string) bool { return cmd.Flags().Changed(name) }, a.env.LookupEnv)
			if err != nil {
				return err
			}
			a.conn = c
			return nil
		},
	}
	a.root = root
	root.SetIn(a.env.Stdin)
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitStatusHelp)

	f := root.PersistentFlags()
	f.StringVar(&a.flags.config, "config", "", "config file (default $XDG_CONFIG_HOME/vasactl/config.yaml; env VASACTL_CONFIG)")
	f.StringVar(&a.flags.addr, "addr", defaultAddr, "gateway gRPC address host:port (env VASACTL_ADDR)")
	f.StringVar(&a.flags.caFile, "ca-file", "", "PEM bundle that verifies the gateway's certificate (default: system roots)")
	f.StringVar(&a.flags.certFile, "cert-file", "", "client certificate (PEM) for mutual TLS")
	f.StringVar(&a.flags.keyFile, "key-file", "", "private key (PEM) of --cert-file")
	f.StringVar(&a.flags.tokenFile, "token-file", "", "file holding a bearer token (never printed)")
	f.BoolVar(&a.flags.plaintext, "plaintext", false, "no TLS (the gateway's embedded default listens in plaintext)")
	f.StringVar(&a.flags.vcenter, "vcenter", "default", "vCenter id for short names (vp-1 means vcenters/ID/vasaProviders/vp-1)")
	f.StringVarP(&a.flags.output, "output", "o", "table", "output format: table, json (protojson) or yaml")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(a.vcentersCommand(), a.providersCommand(), a.tasksCommand())
	return root
}

// client returns the connection to the gateway, dialling it on first use.
func (a *app) client() (*grpc.ClientConn, error) {
	if a.cc != nil {
		return a.cc, nil
	}
	cc, err := dial(a.conn)
	if err != nil {
		return nil, err
	}
	a.cc = cc
	return cc, nil
}

func (a *app) providers() (vasagwv1.VasaProviderServiceClient, error) {
	cc, err := a.client()
	if err != nil {
		return nil, err
	}
	return vasagwv1.NewVasaProviderServiceClient(cc), nil
}

func (a *app) tasks() (vasagwv1.TaskServiceClient, error) {
	cc, err := a.client()
	if err != nil {
		return nil, err
	}
	return vasagwv1.NewTaskServiceClient(cc), nil
}

func (a *app) vcenters() (vasagwv1.VCenterServiceClient, error) {
	cc, err := a.client()
	if err != nil {
		return nil, err
	}
	return vasagwv1.NewVCenterServiceClient(cc), nil
}

// hints is what error rendering needs to write commands the user can paste.
func (a *app) hints() hints {
	return hints{vcenter: a.conn.vcenter}
}

// parentName is the vCenter resource name short names are resolved in.
func (a *app) parentName() string { return "vcenters/" + a.conn.vcenter }

// resolveName turns a short id ("vp-1") into a full resource name under
// collection ("vasaProviders", "tasks") of the --vcenter vCenter, and
// accepts a full name ("vcenters/east/vasaProviders/vp-1") as it is.
func (a *app) resolveName(collection, arg string) (string, error) {
	if strings.HasPrefix(arg, "vcenters/") {
		parts := strings.Split(arg, "/")
		if len(parts) != 4 || parts[2] != collection || parts[1] == "" || parts[3] == "" {
			return "", usagef("%q: want vcenters/{vcenter}/%s/{id} or a short id", arg, collection)
		}
		return arg, nil
	}
	if arg == "" || strings.Contains(arg, "/") {
		return "", usagef("%q: want a short id such as vp-1 or a full name vcenters/{vcenter}/%s/{id}", arg, collection)
	}
	return a.parentName() + "/" + collection + "/" + arg, nil
}

// resolveVCenter accepts "east" or "vcenters/east".
func resolveVCenter(arg string) (string, error) {
	id := strings.TrimPrefix(arg, "vcenters/")
	if !validID(id) {
		return "", usagef("%q: want a vCenter id such as default or a name vcenters/{id}", arg)
	}
	return "vcenters/" + id, nil
}

// shortID is the last segment of a resource name.
func shortID(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// vcenterOf is the vCenter id of a resource name ("" when it has none).
func vcenterOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) >= 2 && parts[0] == "vcenters" {
		return parts[1]
	}
	return ""
}

// shortRef is how vasactl refers to name in a command it suggests: the short
// id, with --vcenter when the vCenter is not "default".
func shortRef(name string) string {
	vc := vcenterOf(name)
	if vc == "" || vc == "default" {
		return shortID(name)
	}
	return fmt.Sprintf("%s --vcenter %s", shortID(name), vc)
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// groupRun makes a command that only groups others fail on an unknown
// subcommand (cobra would print help and exit 0) and print help otherwise.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}
