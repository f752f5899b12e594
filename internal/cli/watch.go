package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// clearScreen moves the cursor home and clears the terminal, for the live
// table's redraw.
const clearScreen = "\x1b[H\x1b[2J"

// watchProviders follows WatchVasaProviders until Ctrl-C or the stream's
// end. Ctrl-C is the normal way to stop it and exits 0.
func (a *app) watchProviders(cmd *cobra.Command, filter string) error {
	ctx := ctxOf(cmd)
	c, err := a.providers()
	if err != nil {
		return err
	}
	stream, err := c.WatchVasaProviders(ctx, &vasagwv1.WatchVasaProvidersRequest{Parent: a.parentName(), Filter: filter})
	if err != nil {
		return err
	}
	live := &liveTable{parent: a.parentName(), filter: filter, byName: map[string]*vasagwv1.VasaProviderEvent{}}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch {
		case a.flags.output == "json":
			b, err := marshalJSON(ev, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "%s\n", b)
		case a.flags.output == "yaml":
			b, err := marshalYAML(ev)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "---\n%s", b)
		case a.env.StdoutTerminal:
			if live.apply(ev) {
				if err := live.draw(a.env.Stdout); err != nil {
					return err
				}
			}
		default:
			fmt.Fprintln(a.env.Stdout, eventLine(ev))
		}
	}
}

// eventLine is one provider event for a log or a pipe:
//
//	UPSERTED vp-2 status=disconnected certificate=valid
//	SNAPSHOT_COMPLETE
func eventLine(ev *vasagwv1.VasaProviderEvent) string {
	typ := strings.TrimPrefix(ev.GetType().String(), "TYPE_")
	p := ev.GetVasaProvider()
	switch ev.GetType() {
	case vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE:
		return typ
	case vasagwv1.VasaProviderEvent_TYPE_DELETED:
		return typ + " " + shortID(p.GetName())
	}
	line := fmt.Sprintf("%s %s status=%s certificate=%s", typ, shortID(p.GetName()),
		enumText(p.GetStatus().String(), "STATUS_"), enumText(p.GetCertificateStatus().String(), "CERTIFICATE_STATUS_"))
	return line + eventNote(ev, " ")
}

// eventNote says what the gateway's fleet loop concluded about a provider.
func eventNote(ev *vasagwv1.VasaProviderEvent, sep string) string {
	var notes []string
	if ev.GetRecoveryNeeded() {
		notes = append(notes, "recovery-needed")
	}
	if e := ev.GetAutoReconnectError(); e != nil && e.GetCode() != 0 {
		notes = append(notes, fmt.Sprintf("auto-reconnect-failed=%q", oneLine(e.GetMessage())))
	}
	if len(notes) == 0 {
		return ""
	}
	return sep + strings.Join(notes, sep)
}

// liveTable is the provider table `providers watch` redraws on a terminal.
type liveTable struct {
	parent, filter string
	order          []string
	byName         map[string]*vasagwv1.VasaProviderEvent
	synced         bool
	events         int
}

// apply records ev and reports whether the table should be redrawn: after
// the initial snapshot, at every change.
func (l *liveTable) apply(ev *vasagwv1.VasaProviderEvent) bool {
	name := ev.GetVasaProvider().GetName()
	switch ev.GetType() {
	case vasagwv1.VasaProviderEvent_TYPE_SNAPSHOT_COMPLETE:
		l.synced = true
		return true
	case vasagwv1.VasaProviderEvent_TYPE_DELETED:
		delete(l.byName, name)
		for i, n := range l.order {
			if n == name {
				l.order = append(l.order[:i], l.order[i+1:]...)
				break
			}
		}
	case vasagwv1.VasaProviderEvent_TYPE_UPSERTED:
		if _, ok := l.byName[name]; !ok {
			l.order = append(l.order, name)
		}
		l.byName[name] = ev
	}
	if l.synced {
		l.events++
	}
	return l.synced
}

func (l *liveTable) draw(w io.Writer) error {
	t := newTable("ID", "NAME", "STATUS", "CERTIFICATE", "CERT EXPIRES", "VASA", "URL", "NOTE")
	for _, n := range l.order {
		ev := l.byName[n]
		t.AppendRow(append(providerRow(ev.GetVasaProvider()), cell(strings.TrimSpace(eventNote(ev, " ")))))
	}
	head := "Providers of " + l.parent
	if l.filter != "" {
		head += " matching " + l.filter
	}
	fmt.Fprintf(w, "%s%s, live (%d changes; Ctrl-C to stop)\n\n", clearScreen, head, l.events)
	return renderTable(w, t)
}
