package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

func (a *app) tasksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tasks",
		Aliases: []string{"task"},
		Short:   "Tasks the gateway started: reconnects, syncs, registrations, recoveries",
		Long: `Tasks, named by short id (SmsTask-1, resolved in --vcenter) or full name
(vcenters/default/tasks/SmsTask-1).`,
		RunE: groupRun,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "get TASK",
		Short: "Show a task: state, progress, steps and error",
		Args:  cobraArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolveName("tasks", args[0])
			if err != nil {
				return err
			}
			c, err := a.tasks()
			if err != nil {
				return err
			}
			t, err := c.GetTask(ctxOf(cmd), &vasagwv1.GetTaskRequest{Name: name})
			if err != nil {
				return err
			}
			return a.showTask(t)
		},
	}, &cobra.Command{
		Use:   "watch TASK",
		Short: "Follow a task until it ends (a progress bar on a terminal); Ctrl-C stops watching, not the task",
		Args:  cobraArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolveName("tasks", args[0])
			if err != nil {
				return err
			}
			final, err := a.waitTask(ctxOf(cmd), name, nil)
			if err != nil {
				return err
			}
			return a.reportFinal(final, hints{})
		},
	})
	return cmd
}

// showTask prints a task in the chosen format; a table is followed by the
// steps of a guided task and the task's error.
func (a *app) showTask(t *vasagwv1.Task) error {
	if a.flags.output != "table" {
		return printMessage(a.env.Stdout, a.flags.output, t)
	}
	tw := newTable("ID", "KIND", "STATE", "PROGRESS", "TARGET", "RESULT")
	progress := "-"
	if t.ProgressPercent != nil {
		progress = fmt.Sprintf("%d%%", t.GetProgressPercent())
	}
	tw.AppendRow([]any{
		cell(shortID(t.GetName())),
		enumText(t.GetKind().String(), "KIND_"),
		enumText(t.GetState().String(), "STATE_"),
		progress,
		cell(t.GetTarget()),
		cell(t.GetResult()),
	})
	if err := renderTable(a.env.Stdout, tw); err != nil {
		return err
	}
	if len(t.GetSteps()) > 0 {
		st := newTable("STEP", "KIND", "STATE", "UPSTREAM TASK", "ERROR")
		for i, s := range t.GetSteps() {
			msg := "-"
			if s.GetError() != nil {
				msg = oneLine(s.GetError().GetMessage())
			}
			st.AppendRow([]any{i + 1, stepText(s), enumText(s.GetState().String(), "STATE_"), cell(s.GetTask()), msg})
		}
		fmt.Fprintln(a.env.Stdout)
		if err := renderTable(a.env.Stdout, st); err != nil {
			return err
		}
	}
	if e := t.GetError(); e != nil && e.GetCode() != 0 {
		fmt.Fprintln(a.env.Stdout)
		writeStatusAs(a.env.Stdout, "Task error", statusOf(e), a.hints())
	}
	return nil
}

// showStarted reports a task that was started without --wait, and how to
// follow it.
func (a *app) showStarted(t *vasagwv1.Task) error {
	if err := a.showTask(t); err != nil {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "watch it: vasactl tasks watch %s\n", shortRef(t.GetName()))
	return nil
}

// reportFinal prints a waited-for task's outcome: the document with -o
// json/yaml, and for a failure the error on stderr; the exit status follows
// the error's code.
func (a *app) reportFinal(t *vasagwv1.Task, h hints) error {
	if a.flags.output != "table" {
		if err := printMessage(a.env.Stdout, a.flags.output, t); err != nil {
			return err
		}
	}
	if t.GetState() != vasagwv1.Task_STATE_FAILED {
		return nil
	}
	st := statusOf(t.GetError())
	if st.Code() == codes.OK {
		// A failed task without an error is still a failure.
		fmt.Fprintf(a.env.Stderr, "Error: task %s failed without an error\n", t.GetName())
		return taskFailedError{code: codes.Unknown}
	}
	if h.vcenter == "" {
		h.vcenter = a.conn.vcenter
	}
	writeStatus(a.env.Stderr, st, h)
	return taskFailedError{code: st.Code()}
}

// finishTask ends a task-starting command: it shows the started task, or
// with --wait follows it and reports its outcome.
func (a *app) finishTask(ctx context.Context, t *vasagwv1.Task, wait bool, h hints) error {
	if !wait {
		return a.showStarted(t)
	}
	final, err := a.waitTask(ctx, t.GetName(), t)
	if err != nil {
		return err
	}
	return a.reportFinal(final, h)
}
