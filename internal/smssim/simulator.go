// Package smssim simulates vCenter's Storage Monitoring Service (SMS), the
// "sms" namespace of the vSphere API served at /sms/sdk, inside govmomi's
// vcsim. It is shaped like govmomi's pbm/simulator: a [simulator.Registry]
// whose objects answer SOAP methods by reflection. Unlike pbm/simulator it
// registers nothing at init time: [Simulator.Registry] is passed to
// Service.RegisterSDK explicitly, and [Start] does that for a whole vcsim
// server that tests can take down and bring back.
//
// The simulator answers the SMS methods the gateway calls
// (QueryStorageManager, QueryAboutInfo, QuerySessionManager, QueryProvider,
// QueryProviderInfo, RegisterProvider_Task, UnregisterProvider_Task,
// VasaProviderReconnect_Task, VasaProviderSync_Task,
// VasaProviderRefreshCertificate_Task, VasaProviderRevokeCertificate_Task,
// QuerySmsTaskInfo, QuerySmsTaskResult) with realistic data, and tasks move
// queued -> running -> success or error as simulated time passes. Task
// state is computed from the clock at each query: there are no goroutines
// per task and no sleeps.
//
// Each provider's URL is a real TLS listener on 127.0.0.1 presenting the
// provider's certificate, so a register reads the certificate a provider
// presents with a real handshake, and a client can too. On the wire it
// speaks as vCenter does where vcsim alone would not (see wire.go), so that
// VMware's own pyVmomi drives it as well as govmomi does.
package smssim

import (
	"fmt"
	"net/url"
	"reflect"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Namespace and Path of the SMS endpoint, as vCenter serves it. They equal
// the constants of internal/vcenter; they are repeated here so that
// internal/vcenter's own tests can import this package without a cycle.
const (
	Namespace = "sms"
	Path      = "/sms/sdk"
)

// APIVersion is the SMS API version the simulator implements (QueryAboutInfo,
// /sms/sdk/vimServiceVersions.xml).
const APIVersion = "8.0.2.0"

// Well-known managed object references of the SMS endpoint.
var (
	ServiceInstance = vimtypes.ManagedObjectReference{Type: "SmsServiceInstance", Value: "ServiceInstance"}
	StorageManager  = vimtypes.ManagedObjectReference{Type: "SmsStorageManager", Value: "StorageManager"}
)

// Managed object type names of dynamic SMS objects.
const (
	typeVasaProvider = "VasaProvider"
	typeSmsTask      = "SmsTask"
)

// Options configures a [Simulator].
type Options struct {
	// Providers seeds the storage manager; nil means [DefaultProviders].
	Providers []Provider
	// Now is the clock task state and progress are computed from; nil means
	// time.Now.
	Now func() time.Time
	// Listen is the address [Start] serves on; "" means 127.0.0.1:0.
	// [New] ignores it.
	Listen string
}

// Simulator holds the state of one SMS endpoint: providers, tasks and the
// test controls. All methods are safe for concurrent use.
type Simulator struct {
	mu        sync.Mutex
	clock     *clock
	providers map[string]*Provider
	order     []string // provider moIds in QueryProvider order
	tasks     map[string]*task
	pending   []*task // tasks not yet settled, oldest first
	taskSeq   int
	faults    []injectedFault
	// taskFaults end the tasks of a method in error (InjectTaskFault).
	taskFaults []injectedFault
	denied     map[string]string // user name -> privilege
	// endpoints are the providers' TLS listeners by URL; bySeed finds one
	// by the moId of the provider it was created for, byOrigin by the URL
	// that provider was given before the simulator replaced it.
	endpoints map[string]*endpoint
	bySeed    map[string]*endpoint
	byOrigin  map[string]*endpoint
	usedIDs   map[string]bool // every provider moId ever used
	closed    bool
	calls     map[string]int
	callsOn   map[callKey]int
}

type injectedFault struct {
	method, objectID string
	fault            vimtypes.BaseMethodFault
}

type callKey struct{ method, objectID string }

// New returns a Simulator seeded with opts.Providers, each provider with a
// URL served by a listener of its own: [Simulator.Close] stops them.
func New(opts Options) *Simulator {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	providers := opts.Providers
	if providers == nil {
		providers = DefaultProviders()
	}
	s := &Simulator{
		clock:     newClock(now),
		providers: make(map[string]*Provider),
		tasks:     make(map[string]*task),
		denied:    make(map[string]string),
		calls:     make(map[string]int),
		callsOn:   make(map[callKey]int),
		endpoints: make(map[string]*endpoint),
		bySeed:    make(map[string]*endpoint),
		byOrigin:  make(map[string]*endpoint),
		usedIDs:   make(map[string]bool),
	}
	for _, p := range providers {
		s.AddProvider(p)
	}
	return s
}

// Registry returns a new vcsim registry for the SMS endpoint (Namespace
// "sms", Path "/sms/sdk", session from the vcSessionCookie SOAP header), to
// be passed to simulator.Service.RegisterSDK before NewServer. Every
// registry returned serves this Simulator's state.
//
// A request whose vcSessionCookie is not a live vim25 session faults
// sms:InvalidSession, as vCenter does, before anything else is checked.
// Unknown objects fault ManagedObjectNotFound.
func (s *Simulator) Registry() *simulator.Registry {
	r := simulator.NewRegistry()
	r.Namespace = Namespace
	r.Path = Path
	r.Cookie = simulator.SOAPCookie
	r.Handler = s.handle
	r.Put(&serviceInstance{ManagedObjectReference: ServiceInstance, sim: s})
	r.Put(&storageManager{ManagedObjectReference: StorageManager, sim: s})
	return r
}

// handle runs before vcsim dispatches a method: it counts the call, checks
// the session and resolves the target object.
func (s *Simulator) handle(ctx *simulator.Context, m *simulator.Method) (mo.Reference, vimtypes.BaseMethodFault) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.calls[m.Name]++
	s.callsOn[callKey{m.Name, m.This.Value}]++

	if ctx.Session == nil {
		return nil, &smstypes.InvalidSession{
			NoPermission: vimtypes.NoPermission{
				Object:      &m.This,
				PrivilegeId: "System.View",
			},
			SessionCookie: simulator.SOAPCookie(ctx),
		}
	}

	s.settle()

	switch ref := m.This; {
	case ref == ServiceInstance:
		return &serviceInstance{ManagedObjectReference: ref, sim: s}, nil
	case ref == StorageManager:
		return &storageManager{ManagedObjectReference: ref, sim: s}, nil
	case ref.Type == typeVasaProvider && s.providers[ref.Value] != nil:
		return &vasaProvider{ManagedObjectReference: ref, sim: s}, nil
	case ref.Type == typeSmsTask && s.tasks[ref.Value] != nil:
		return &smsTask{ManagedObjectReference: ref, sim: s}, nil
	}
	return nil, &vimtypes.ManagedObjectNotFound{Obj: m.This}
}

// precheck applies the test controls to a call on objectID: injected faults
// first, then denied users for the mutating methods.
func (s *Simulator) precheck(ctx *simulator.Context, method string, this vimtypes.ManagedObjectReference) *soap.Fault {
	s.mu.Lock()
	defer s.mu.Unlock()

	for _, f := range s.faults {
		if f.method == method && (f.objectID == "" || f.objectID == this.Value) {
			return simulator.Fault(faultString(f.fault), f.fault)
		}
	}

	switch method {
	case "VasaProviderReconnect_Task", "VasaProviderSync_Task", "RegisterProvider_Task", "UnregisterProvider_Task",
		"VasaProviderRefreshCertificate_Task", "VasaProviderRevokeCertificate_Task":
		if ctx.Session == nil {
			break
		}
		if priv, ok := s.denied[ctx.Session.UserName]; ok {
			obj := this
			return simulator.Fault("Permission to perform this operation was denied.", &vimtypes.NoPermission{
				Object:      &obj,
				PrivilegeId: priv,
				MissingPrivileges: []vimtypes.NoPermissionEntityPrivileges{
					{Entity: obj, PrivilegeIds: []string{priv}},
				},
			})
		}
	}
	return nil
}

// faultString is the SOAP faultstring for f: its first fault message, or its
// type name.
func faultString(f vimtypes.BaseMethodFault) string {
	if mf := f.GetMethodFault(); mf != nil {
		for _, m := range mf.FaultMessage {
			if m.Message != "" {
				return m.Message
			}
		}
	}
	return reflect.TypeOf(f).Elem().Name()
}

// settle applies the side effects of tasks that ended by now, oldest
// first. It looks only at the tasks still pending, so that every call
// does not cost time in proportion to all the tasks ever started (a
// benchmark starts tens of thousands). Callers hold s.mu.
func (s *Simulator) settle() {
	v := s.clock.virtual(s.clock.now())
	kept := s.pending[:0]
	for _, t := range s.pending {
		if v < t.end() {
			kept = append(kept, t)
			continue
		}
		t.settled = true
		s.apply(t)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// apply makes the side effect of the ended task t. Callers hold s.mu.
func (s *Simulator) apply(t *task) {
	if t.fault != nil || t.effect == nil {
		return
	}
	t.effect(s.clock.wall(t.end()).UTC().Format(time.RFC3339))
}

// taskSpec describes a task to start.
type taskSpec struct {
	method   string // the SOAP method that starts it (for injected task faults)
	provider string // the provider moId it acts on, "" for none
	object   vimtypes.ManagedObjectReference
	kind     taskKind
	duration time.Duration
	fault    *vimtypes.LocalizedMethodFault // the task ends in error half-way with it
	result   vimtypes.AnyType
	effect   func(done string)
	// registers is the provider a register task adds when it succeeds.
	registers *Provider
}

// newTask registers a task. A fault injected with [Simulator.InjectTaskFault]
// for its method and object replaces its outcome. Callers hold s.mu.
func (s *Simulator) newTask(spec taskSpec) vimtypes.ManagedObjectReference {
	for _, f := range s.taskFaults {
		if f.method == spec.method && (f.objectID == "" || f.objectID == spec.object.Value) {
			spec.fault = localized(f.fault, faultString(f.fault))
			break
		}
	}
	s.taskSeq++
	t := &task{
		ref:       vimtypes.ManagedObjectReference{Type: typeSmsTask, Value: fmt.Sprintf("SmsTask-%d", s.taskSeq)},
		provider:  spec.provider,
		object:    spec.object,
		kind:      spec.kind,
		created:   s.clock.virtual(s.clock.now()),
		duration:  spec.duration,
		queued:    spec.duration / 10,
		fault:     spec.fault,
		result:    spec.result,
		effect:    spec.effect,
		registers: spec.registers,
	}
	s.tasks[t.ref.Value] = t
	s.pending = append(s.pending, t)
	return t.ref
}

// InjectFault makes every call of the SOAP method (e.g.
// "VasaProviderReconnect_Task", "QueryProviderInfo", "QuerySmsTaskInfo") on
// the object with moId objectID fault with f, until [Simulator.ClearFaults].
// objectID "" matches any object. The session is checked first; the
// object must exist.
func (s *Simulator) InjectFault(method, objectID string, f vimtypes.BaseMethodFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, injectedFault{method: method, objectID: objectID, fault: f})
}

// InjectTaskFault makes every task that the SOAP method (e.g.
// "RegisterProvider_Task", "UnregisterProvider_Task",
// "VasaProviderSync_Task", "VasaProviderRefreshCertificate_Task") starts on
// the object with moId objectID ("StorageManager" for register and
// unregister) end in error with f half-way through, instead of what it would
// have done, until [Simulator.ClearFaults]. objectID "" matches any object.
// The call itself succeeds and returns the task, as vCenter reports the
// faults these methods declare.
func (s *Simulator) InjectTaskFault(method, objectID string, f vimtypes.BaseMethodFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taskFaults = append(s.taskFaults, injectedFault{method: method, objectID: objectID, fault: f})
}

// ClearFaults removes every fault added by [Simulator.InjectFault] and
// [Simulator.InjectTaskFault]. Tasks already started keep their outcome.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.taskFaults = nil
}

// DenyUser makes the mutating SMS calls (VasaProviderReconnect_Task,
// VasaProviderSync_Task, RegisterProvider_Task, UnregisterProvider_Task,
// VasaProviderRefreshCertificate_Task, VasaProviderRevokeCertificate_Task) of sessions logged in as username fault
// NoPermission naming privilege, e.g. "StorageViews.ConfigureService".
// An empty privilege lifts the denial.
func (s *Simulator) DenyUser(username, privilege string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if privilege == "" {
		delete(s.denied, username)
		return
	}
	s.denied[username] = privilege
}

// Calls returns how many SOAP calls of method the SMS endpoint received,
// whatever their outcome.
func (s *Simulator) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// CallsOn returns how many SOAP calls of method on the object with moId
// objectID the SMS endpoint received, whatever their outcome.
func (s *Simulator) CallsOn(method, objectID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsOn[callKey{method, objectID}]
}

// SetSpeed makes simulated time, and so every task, run factor times as
// fast as the clock from now on (2 = twice as fast). Tasks in flight keep
// their progress and continue at the new pace. A factor <= 0 resets to 1.
func (s *Simulator) SetSpeed(factor float64) {
	if factor <= 0 {
		factor = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	s.clock.setSpeed(factor)
}

// AddProvider adds p, or replaces the provider with the same ID. A
// provider's Info.Name defaults to its ID.
//
// A provider with a URL gets a real TLS listener on 127.0.0.1 (see
// [Provider]) and its Info.Url is rewritten to point there: providers
// added with the same URL share one listener. AddProvider panics if it
// cannot listen on 127.0.0.1, or if p.CertificateKey does not match
// p.Info.Certificate.
func (s *Simulator) AddProvider(p Provider) {
	p.Info = cloneInfo(p.Info)
	if p.Info.Name == "" {
		p.Info.Name = p.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Info.Url != "" && !s.closed {
		e, err := s.endpointFor(p)
		if err != nil {
			panic(fmt.Sprintf("smssim: provider %s: %v", p.ID, err))
		}
		p.Info.ServiceLocation = rehost(p.Info.ServiceLocation, p.Info.Url, e.url)
		p.Info.Url = e.url
		p.endpoint = e
	}
	if _, ok := s.providers[p.ID]; !ok {
		s.order = append(s.order, p.ID)
	}
	s.usedIDs[p.ID] = true
	s.providers[p.ID] = &p
}

// rehost moves loc to the host of to when it is on the host of from (a
// provider's service location follows its URL to the listener).
func rehost(loc, from, to string) string {
	l, err1 := url.Parse(loc)
	f, err2 := url.Parse(from)
	t, err3 := url.Parse(to)
	if loc == "" || err1 != nil || err2 != nil || err3 != nil || l.Host != f.Host {
		return loc
	}
	l.Host = t.Host
	return l.String()
}

// Provider returns the current info of provider id, with the effects of
// tasks that ended by now applied.
func (s *Simulator) Provider(id string) (smstypes.VasaProviderInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	p, ok := s.providers[id]
	if !ok {
		return smstypes.VasaProviderInfo{}, false
	}
	return cloneInfo(p.Info), true
}
