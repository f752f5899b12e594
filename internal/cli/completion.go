package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// completionTimeout bounds the gateway call behind a Tab press.
const completionTimeout = 3 * time.Second

// completeProviders completes a provider's short id from the gateway's
// list (cobra's shell completion calls it; the shell scripts come from
// `vasactl completion`).
func (a *app) completeProviders(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.flags.resolve(func(name string) bool { return cmd.Flags().Changed(name) }, a.env.LookupEnv)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	a.conn = c
	providers, err := a.providers()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	ctx, cancel := context.WithTimeout(ctxOf(cmd), completionTimeout)
	defer cancel()
	resp, err := providers.ListVasaProviders(ctx, &vasagwv1.ListVasaProvidersRequest{Parent: a.parentName()})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var out []string
	for _, p := range resp.GetVasaProviders() {
		id := shortID(p.GetName())
		if strings.HasPrefix(id, toComplete) {
			out = append(out, id+"\t"+oneLine(p.GetDisplayName()))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
