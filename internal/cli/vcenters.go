package cli

import (
	"github.com/spf13/cobra"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

func (a *app) vcentersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vcenters",
		Aliases: []string{"vcenter", "vc"},
		Short:   "vCenters the gateway serves",
		RunE:    groupRun,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the configured vCenters and their state",
		Args:  cobraArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.vcenters()
			if err != nil {
				return err
			}
			resp := &vasagwv1.ListVCentersResponse{}
			token := ""
			for {
				page, err := c.ListVCenters(ctxOf(cmd), &vasagwv1.ListVCentersRequest{PageToken: token})
				if err != nil {
					return err
				}
				resp.Vcenters = append(resp.Vcenters, page.GetVcenters()...)
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if a.flags.output != "table" {
				return printMessage(a.env.Stdout, a.flags.output, resp)
			}
			return a.vcenterTable(resp.GetVcenters()...)
		},
	}, &cobra.Command{
		Use:   "get VCENTER",
		Short: "Show one vCenter (an id such as default, or vcenters/ID)",
		Args:  cobraArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := resolveVCenter(args[0])
			if err != nil {
				return err
			}
			c, err := a.vcenters()
			if err != nil {
				return err
			}
			vc, err := c.GetVCenter(ctxOf(cmd), &vasagwv1.GetVCenterRequest{Name: name})
			if err != nil {
				return err
			}
			if a.flags.output != "table" {
				return printMessage(a.env.Stdout, a.flags.output, vc)
			}
			if err := a.vcenterTable(vc); err != nil {
				return err
			}
			if e := vc.GetLastError(); e != nil && e.GetCode() != 0 {
				writeStatusAs(a.env.Stdout, "Last error", statusOf(e), a.hints())
			}
			return nil
		},
	})
	return cmd
}

func (a *app) vcenterTable(vcs ...*vasagwv1.VCenter) error {
	t := newTable("ID", "STATE", "SMS VERSION", "LAST READY", "URL")
	for _, vc := range vcs {
		t.AppendRow([]any{
			cell(shortID(vc.GetName())),
			enumText(vc.GetState().String(), "STATE_"),
			cell(vc.GetSmsVersion()),
			timeText(vc.GetLastReadyTime()),
			cell(vc.GetUrl()),
		})
	}
	return renderTable(a.env.Stdout, t)
}
