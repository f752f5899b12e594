package cli

import (
	"fmt"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

func (a *app) providersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "providers",
		Aliases: []string{"provider", "vp"},
		Short:   "VASA providers of a vCenter: list, watch, reconnect, sync, recover, ...",
		Long: `VASA providers of a vCenter.

A provider is named by its short id (vp-1, resolved in --vcenter) or by its
full name (vcenters/default/vasaProviders/vp-1).`,
		RunE: groupRun,
	}
	var filter string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the providers of --vcenter",
		Example: `  vasactl providers list
  vasactl providers list --filter 'status = STATUS_DISCONNECTED OR certificate_status != CERTIFICATE_STATUS_VALID'`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.providers()
			if err != nil {
				return err
			}
			resp := &vasagwv1.ListVasaProvidersResponse{}
			token := ""
			for {
				page, err := c.ListVasaProviders(ctxOf(cmd), &vasagwv1.ListVasaProvidersRequest{Parent: a.parentName(), Filter: filter, PageToken: token})
				if err != nil {
					return err
				}
				resp.VasaProviders = append(resp.VasaProviders, page.GetVasaProviders()...)
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if a.flags.output != "table" {
				return printMessage(a.env.Stdout, a.flags.output, resp)
			}
			return renderTable(a.env.Stdout, providerTable(resp.GetVasaProviders()))
		},
	}
	list.Flags().StringVar(&filter, "filter", "", "AIP-160 filter over status, certificate_status, certificate_expire_time, vasa_version, display_name")

	get := &cobra.Command{
		Use:               "get PROVIDER",
		Short:             "Show one provider",
		Args:              cobraArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeProviders,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolveName("vasaProviders", args[0])
			if err != nil {
				return err
			}
			c, err := a.providers()
			if err != nil {
				return err
			}
			p, err := c.GetVasaProvider(ctxOf(cmd), &vasagwv1.GetVasaProviderRequest{Name: name})
			if err != nil {
				return err
			}
			if a.flags.output != "table" {
				return printMessage(a.env.Stdout, a.flags.output, p)
			}
			return a.providerDetail(p)
		},
	}

	var watchFilter string
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Watch the providers of --vcenter: a live table on a terminal, one line per event otherwise",
		Long: `Watch the providers of --vcenter until Ctrl-C.

On a terminal the table is redrawn at every change. Otherwise each event is
one line (TYPE ID STATUS CERTIFICATE), or one JSON document per line with
-o json, or one YAML document each with -o yaml. Ctrl-C ends the watch with
status 0.`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.watchProviders(cmd, watchFilter) },
	}
	watch.Flags().StringVar(&watchFilter, "filter", "", "AIP-160 filter, as for list")

	cmd.AddCommand(list, get, watch,
		a.providerTaskCommand("reconnect", "Reconnect a provider (a no-op task unless it is disconnected)",
			func(s *taskStart, name, requestID string) (*vasagwv1.Task, error) {
				c, err := a.providers()
				if err != nil {
					return nil, err
				}
				return c.ReconnectProvider(s.ctx, &vasagwv1.ReconnectProviderRequest{Name: name, RequestId: requestID})
			}),
		a.providerTaskCommand("sync", "Sync a provider's storage information into vCenter",
			func(s *taskStart, name, requestID string) (*vasagwv1.Task, error) {
				c, err := a.providers()
				if err != nil {
					return nil, err
				}
				return c.SyncProvider(s.ctx, &vasagwv1.SyncProviderRequest{Name: name, RequestId: requestID})
			}),
		a.providerTaskCommand("refresh-certificate", "Have vCenter refresh the certificate it issued to a provider",
			func(s *taskStart, name, requestID string) (*vasagwv1.Task, error) {
				c, err := a.providers()
				if err != nil {
					return nil, err
				}
				return c.RefreshProviderCertificate(s.ctx, &vasagwv1.RefreshProviderCertificateRequest{Name: name, RequestId: requestID})
			}),
		a.providerTaskCommand("unregister", "Unregister a provider from vCenter",
			func(s *taskStart, name, requestID string) (*vasagwv1.Task, error) {
				c, err := a.providers()
				if err != nil {
					return nil, err
				}
				return c.UnregisterProvider(s.ctx, &vasagwv1.UnregisterProviderRequest{Name: name, RequestId: requestID})
			}),
		a.registerCommand(),
		a.recoverCommand(),
	)
	return cmd
}

func providerTable(ps []*vasagwv1.VasaProvider) table.Writer {
	t := newTable("ID", "NAME", "STATUS", "CERTIFICATE", "CERT EXPIRES", "VASA", "URL")
	for _, p := range ps {
		t.AppendRow(providerRow(p))
	}
	return t
}

func providerRow(p *vasagwv1.VasaProvider) []any {
	return []any{
		cell(shortID(p.GetName())),
		cell(p.GetDisplayName()),
		enumText(p.GetStatus().String(), "STATUS_"),
		enumText(p.GetCertificateStatus().String(), "CERTIFICATE_STATUS_"),
		timeText(p.GetCertificateExpireTime()),
		cell(p.GetVasaVersion()),
		cell(p.GetUrl()),
	}
}

// providerDetail shows one provider as FIELD VALUE rows, then its status
// fault as an error would be shown.
func (a *app) providerDetail(p *vasagwv1.VasaProvider) error {
	t := newTable()
	rows := [][2]string{
		{"Name", p.GetName()},
		{"Display name", cell(p.GetDisplayName())},
		{"UID", cell(p.GetUid())},
		{"URL", cell(p.GetUrl())},
		{"Status", enumText(p.GetStatus().String(), "STATUS_")},
		{"Certificate", enumText(p.GetCertificateStatus().String(), "CERTIFICATE_STATUS_")},
		{"Certificate expires", timeText(p.GetCertificateExpireTime())},
		{"Certificate SHA-256", cell(p.GetCertificateSha256Fingerprint())},
		{"VASA version", cell(p.GetVasaVersion())},
		{"Version", cell(p.GetVersion())},
		{"Last sync", timeText(p.GetLastSyncTime())},
		{"Profiles", cell(strings.Join(p.GetSupportedProfiles(), ", "))},
		{"Storage arrays", fmt.Sprint(len(p.GetRelatedStorageArrays()))},
	}
	for _, r := range rows {
		t.AppendRow([]any{r[0] + ":", r[1]})
	}
	if err := renderTable(a.env.Stdout, t); err != nil {
		return err
	}
	if f := p.GetStatusFault(); f != nil && f.GetCode() != 0 {
		writeStatusAs(a.env.Stdout, "Status fault", statusOf(f), a.hints())
	}
	return nil
}
