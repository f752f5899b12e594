package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// progressDisplay shows a task that is being watched.
type progressDisplay interface {
	// update shows the task's latest snapshot; the first call also
	// introduces the task.
	update(t *vasagwv1.Task)
	// done shows the terminal snapshot.
	done(t *vasagwv1.Task)
	// abandon ends the display when the wait stops early.
	abandon()
}

// newProgress picks the display: a bar on a terminal, progress lines
// otherwise. With -o json or yaml the lines go to stderr, so stdout holds
// only the document.
func (a *app) newProgress() progressDisplay {
	if a.env.StdoutTerminal {
		return &barDisplay{w: a.env.Stdout, width: a.env.Width(), clear: a.flags.output != "table"}
	}
	w := a.env.Stdout
	if a.flags.output != "table" {
		w = a.env.Stderr
	}
	return &lineDisplay{w: w}
}

// waitTask follows the task with WatchTask until it ends, and returns its
// terminal snapshot. Ctrl-C (ctx done) stops the wait, not the task: it
// says so, names the command that resumes watching, and returns
// interruptedError.
// t, when not nil, is the snapshot the task-starting call returned.
func (a *app) waitTask(ctx context.Context, name string, t *vasagwv1.Task) (*vasagwv1.Task, error) {
	tasks, err := a.tasks()
	if err != nil {
		return nil, err
	}
	disp := a.newProgress()
	if t != nil {
		disp.update(t)
		if terminal(t) {
			disp.done(t)
			return t, nil
		}
	}
	stream, err := tasks.WatchTask(ctx, &vasagwv1.WatchTaskRequest{Name: name})
	if err != nil {
		disp.abandon()
		return nil, a.interrupted(ctx, name, err)
	}
	for {
		snap, err := stream.Recv()
		if err != nil {
			disp.abandon()
			if errors.Is(err, io.EOF) {
				return nil, status.Errorf(codes.Unknown, "the watch of %s ended before the task did", name)
			}
			return nil, a.interrupted(ctx, name, err)
		}
		if terminal(snap) {
			disp.done(snap)
			return snap, nil
		}
		disp.update(snap)
	}
}

// interrupted turns an error seen after Ctrl-C into interruptedError, after
// telling the user the task goes on and how to watch it again.
func (a *app) interrupted(ctx context.Context, name string, err error) error {
	if ctx.Err() == nil {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "Stopped waiting (interrupted); the task goes on in the gateway: %s\n", name)
	fmt.Fprintf(a.env.Stderr, "  watch it again: vasactl tasks watch %s\n", shortRef(name))
	return interruptedError{}
}

func terminal(t *vasagwv1.Task) bool {
	return t.GetState() == vasagwv1.Task_STATE_SUCCEEDED || t.GetState() == vasagwv1.Task_STATE_FAILED
}

// taskTitle says what a task does: "reconnect vcenters/default/vasaProviders/vp-2".
func taskTitle(t *vasagwv1.Task) string {
	kind := enumText(t.GetKind().String(), "KIND_")
	switch {
	case kind == "-":
		return orDash(t.GetTarget())
	case t.GetTarget() == "":
		return kind
	}
	return kind + " " + t.GetTarget()
}

func stepText(s *vasagwv1.TaskStep) string {
	return enumText(s.GetKind().String(), "KIND_")
}

// stepTracker reports each step once when it starts and once when it ends,
// in order, however many changes one snapshot carries.
type stepTracker struct {
	seen map[int]vasagwv1.Task_State
}

func (s *stepTracker) changes(t *vasagwv1.Task, emit func(i int, st *vasagwv1.TaskStep)) {
	if s.seen == nil {
		s.seen = map[int]vasagwv1.Task_State{}
	}
	for i, st := range t.GetSteps() {
		state := st.GetState()
		if state == vasagwv1.Task_STATE_QUEUED || state == vasagwv1.Task_STATE_UNSPECIFIED {
			continue
		}
		if prev, ok := s.seen[i]; ok && prev == state {
			continue
		}
		if state != vasagwv1.Task_STATE_RUNNING && s.seen[i] != vasagwv1.Task_STATE_RUNNING {
			// A step that started and ended between two snapshots is still
			// reported as started first.
			s.seen[i] = vasagwv1.Task_STATE_RUNNING
			emit(i, withState(st, vasagwv1.Task_STATE_RUNNING))
		}
		s.seen[i] = state
		emit(i, st)
	}
}

func withState(st *vasagwv1.TaskStep, state vasagwv1.Task_State) *vasagwv1.TaskStep {
	return &vasagwv1.TaskStep{Kind: st.GetKind(), State: state, Task: st.GetTask()}
}

func stepLine(i int, st *vasagwv1.TaskStep) string {
	switch st.GetState() {
	case vasagwv1.Task_STATE_RUNNING:
		return fmt.Sprintf("step %d %s: running", i+1, stepText(st))
	case vasagwv1.Task_STATE_SUCCEEDED:
		return fmt.Sprintf("step %d %s: succeeded", i+1, stepText(st))
	default:
		msg := ""
		if e := st.GetError(); e != nil {
			msg = ": " + oneLine(e.GetMessage())
		}
		return fmt.Sprintf("step %d %s: failed%s", i+1, stepText(st), msg)
	}
}

// lineDisplay writes plain progress lines for logs and pipes. So that the
// output does not depend on when the gateway's polls happened to see the
// task, progress is reported in steps of 10 %: every step passed is
// written once, and a succeeded task always ends at 100 % (a guided task
// that reports no progress shows its step lines instead). There are no
// timestamps.
type lineDisplay struct {
	w       io.Writer
	started bool
	decile  int
	steps   stepTracker
	// stepped: the task has steps and has reported no progress; its
	// step lines say how far it is.
	stepped bool
}

func (d *lineDisplay) update(t *vasagwv1.Task) {
	if !d.started {
		d.started = true
		fmt.Fprintf(d.w, "%s: %s\n", t.GetName(), taskTitle(t))
	}
	d.steps.changes(t, func(i int, st *vasagwv1.TaskStep) { fmt.Fprintln(d.w, stepLine(i, st)) })
	d.stepped = len(t.GetSteps()) > 0 && d.decile == 0 && t.ProgressPercent == nil
	if t.ProgressPercent != nil {
		d.progressTo(int(t.GetProgressPercent()))
	}
}

func (d *lineDisplay) progressTo(p int) {
	for next := d.decile + 10; next <= p && next <= 100; next += 10 {
		fmt.Fprintf(d.w, "progress %d%%\n", next)
		d.decile = next
	}
}

func (d *lineDisplay) done(t *vasagwv1.Task) {
	d.update(t)
	if t.GetState() == vasagwv1.Task_STATE_SUCCEEDED {
		if !d.stepped {
			d.progressTo(100)
		}
		if t.GetResult() != "" {
			fmt.Fprintf(d.w, "succeeded: %s\n", t.GetResult())
		} else {
			fmt.Fprintln(d.w, "succeeded")
		}
		return
	}
	fmt.Fprintln(d.w, "failed")
}

func (d *lineDisplay) abandon() {}

// barDisplay draws a progress bar on a terminal; steps of a recovery are
// printed above it as they start and end.
type barDisplay struct {
	w     io.Writer
	width int
	clear bool // remove the bar at the end (-o json/yaml follows)
	bar   *progressbar.ProgressBar
	steps stepTracker
}

func (d *barDisplay) update(t *vasagwv1.Task) {
	if d.bar == nil {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(d.w),
			progressbar.OptionSetDescription(shortID(t.GetTarget())),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionSetWidth(30),
		}
		if d.clear {
			opts = append(opts, progressbar.OptionClearOnFinish())
		}
		fmt.Fprintf(d.w, "%s: %s\n", t.GetName(), taskTitle(t))
		d.bar = progressbar.NewOptions(100, opts...)
	}
	d.steps.changes(t, func(i int, st *vasagwv1.TaskStep) {
		d.bar.Clear()
		fmt.Fprintf(d.w, "\r%s\n", stepLine(i, st))
		d.bar.RenderBlank()
	})
	switch {
	case t.ProgressPercent != nil:
		d.bar.Set(int(t.GetProgressPercent()))
	case len(t.GetSteps()) > 0:
		// A guided task without progress of its own: the share of its
		// steps that have ended.
		ended := 0
		for _, st := range t.GetSteps() {
			if st.GetState() == vasagwv1.Task_STATE_SUCCEEDED {
				ended++
			}
		}
		d.bar.Set(ended * 100 / len(t.GetSteps()))
	}
}

func (d *barDisplay) done(t *vasagwv1.Task) {
	d.update(t)
	if t.GetState() == vasagwv1.Task_STATE_SUCCEEDED {
		d.bar.Finish()
		if d.clear {
			return
		}
		fmt.Fprint(d.w, "\n")
		if t.GetResult() != "" {
			fmt.Fprintf(d.w, "succeeded: %s\n", t.GetResult())
		} else {
			fmt.Fprintln(d.w, "succeeded")
		}
		return
	}
	d.bar.Exit()
	fmt.Fprint(d.w, "\n")
	if !d.clear {
		fmt.Fprintln(d.w, "failed")
	}
}

func (d *barDisplay) abandon() {
	if d.bar != nil {
		d.bar.Exit()
		fmt.Fprint(d.w, "\n")
	}
}
