package vcenter

import (
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
)

// SmsTask states.
const (
	TaskQueued  = string(smstypes.SmsTaskStateQueued)
	TaskRunning = string(smstypes.SmsTaskStateRunning)
	TaskSuccess = string(smstypes.SmsTaskStateSuccess)
	TaskError   = string(smstypes.SmsTaskStateError)
)

// TaskInfo is the state of an SmsTask, in Go types.
type TaskInfo struct {
	// ID is the SmsTask moId.
	ID  string
	Key string
	// Target is the moId of the object the task acts on ("" if none), and
	// TargetType its managed object type (e.g. "VasaProvider").
	Target     string
	TargetType string
	// State is queued, running, success or error.
	State string
	// Progress is 0..100, nil when upstream reports none. govmomi's
	// encoding cannot tell an upstream 0 from none, so 0 reads as nil.
	Progress *int32
	// StartTime and CompletionTime are zero when not (yet) reported.
	StartTime, CompletionTime time.Time
	// Error is the task's fault when State is error.
	Error *Fault
}

// Done reports whether the task reached a terminal state.
func (t *TaskInfo) Done() bool {
	return t.State == TaskSuccess || t.State == TaskError
}

// TaskInfoFromSMS converts what QuerySmsTaskInfo returned. It returns nil for
// nil.
func TaskInfoFromSMS(info *smstypes.SmsTaskInfo) *TaskInfo {
	if info == nil {
		return nil
	}
	out := &TaskInfo{
		ID:    info.Task.Value,
		Key:   info.Key,
		State: info.State,
		Error: FaultFromLocalized(info.Error),
	}
	if info.Object != nil {
		out.Target = info.Object.Value
		out.TargetType = info.Object.Type
	}
	if info.Progress != 0 {
		p := info.Progress
		out.Progress = &p
	}
	if info.StartTime != nil {
		out.StartTime = info.StartTime.UTC()
	}
	if info.CompletionTime != nil {
		out.CompletionTime = info.CompletionTime.UTC()
	}
	return out
}
