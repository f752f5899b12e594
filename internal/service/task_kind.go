package service

import (
	"sync"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// maxTaskKinds bounds how many SmsTasks' kinds are remembered; the oldest
// go first, and a task whose kind was forgotten reads KIND_UNSPECIFIED.
const maxTaskKinds = 100_000

// taskKinds remembers the kind of each SmsTask this gateway started:
// SmsTaskInfo does not say which method started a task.
type taskKinds struct {
	mu    sync.Mutex
	m     map[hubKey]vasagwv1.Task_Kind
	order []hubKey
}

func (k *taskKinds) set(key hubKey, kind vasagwv1.Task_Kind) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[hubKey]vasagwv1.Task_Kind)
	}
	if _, ok := k.m[key]; !ok {
		for len(k.order) >= maxTaskKinds {
			delete(k.m, k.order[0])
			k.order[0] = hubKey{}
			k.order = k.order[1:]
		}
		k.order = append(k.order, key)
	}
	k.m[key] = kind
}

func (k *taskKinds) get(key hubKey) vasagwv1.Task_Kind {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[key]
}

// convert turns an SmsTask's info into the API's Task, with the kind this
// gateway recorded when it started the task.
func (h *hub) convert(key hubKey, info *vcenter.TaskInfo) *vasagwv1.Task {
	t := toTask(key.vcenter, info)
	t.Kind = h.kinds.get(key)
	return t
}
