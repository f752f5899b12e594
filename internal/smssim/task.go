package smssim

import (
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// clock maps the wall clock (Options.Now) to simulated time, which runs
// speed times faster. It is piecewise linear: every SetSpeed starts a new
// segment, so a task in flight keeps a continuous progress curve.
type clock struct {
	now      func() time.Time
	segments []segment
}

type segment struct {
	real  time.Time
	virt  time.Duration // simulated time elapsed since the first segment
	speed float64
}

func newClock(now func() time.Time) *clock {
	return &clock{now: now, segments: []segment{{real: now(), speed: 1}}}
}

// virtual returns the simulated time at wall time t.
func (c *clock) virtual(t time.Time) time.Duration {
	s := c.segments[len(c.segments)-1]
	return s.virt + time.Duration(float64(t.Sub(s.real))*s.speed)
}

// wall returns the wall time at which the simulated time v is (or was) reached.
func (c *clock) wall(v time.Duration) time.Time {
	for i := len(c.segments) - 1; i >= 0; i-- {
		s := c.segments[i]
		if s.virt <= v || i == 0 {
			return s.real.Add(time.Duration(float64(v-s.virt) / s.speed))
		}
	}
	panic("unreachable")
}

func (c *clock) setSpeed(speed float64) {
	t := c.now()
	c.segments = append(c.segments, segment{real: t, virt: c.virtual(t), speed: speed})
}

type taskKind int

const (
	taskReconnect taskKind = iota
	taskSync
	taskRegister
	taskUnregister
	taskRefreshCertificate
	taskRevokeCertificate
)

// task is one SmsTask. Its state is a pure function of simulated time; its
// side effect (a reconnected provider, a new lastSyncTime, a registered or
// removed provider) is applied once, by settle, the first time the
// simulator notices the task ended.
type task struct {
	ref      vimtypes.ManagedObjectReference
	provider string                          // the provider the task acts on ("" for none)
	object   vimtypes.ManagedObjectReference // SmsTaskInfo.object
	kind     taskKind

	created  time.Duration // simulated time of creation
	duration time.Duration // simulated duration until success
	queued   time.Duration // simulated time spent queued
	fault    *vimtypes.LocalizedMethodFault
	result   vimtypes.AnyType // SmsTaskInfo.result once the task succeeded
	// effect applies a successful task's side effect; done is its
	// completion time (RFC 3339). Called with the simulator's lock held.
	effect    func(done string)
	registers *Provider // the provider a register task adds

	settled bool
}

// end is the simulated time the task reaches its terminal state.
func (t *task) end() time.Duration {
	if t.fault != nil {
		return t.created + t.duration/2
	}
	return t.created + t.duration
}

// info renders the task at simulated time v.
func (t *task) info(c *clock, v time.Duration) smstypes.SmsTaskInfo {
	obj := t.object
	info := smstypes.SmsTaskInfo{
		Key:    t.ref.Value,
		Task:   t.ref,
		Object: &obj,
		State:  string(smstypes.SmsTaskStateQueued),
	}
	start := t.created + t.queued
	if v < start {
		return info
	}
	startTime := c.wall(start).UTC()
	info.StartTime = &startTime
	if end := t.end(); v >= end {
		done := c.wall(end).UTC()
		info.CompletionTime = &done
		if t.fault != nil {
			info.State = string(smstypes.SmsTaskStateError)
			info.Error = t.fault
		} else {
			info.State = string(smstypes.SmsTaskStateSuccess)
			info.Result = t.result
		}
		return info
	}
	info.State = string(smstypes.SmsTaskStateRunning)
	if run := t.duration - t.queued; run > 0 {
		info.Progress = int32(min(99, max(0, int64(v-start)*100/int64(run))))
	}
	return info
}
