// Package vcenter is the only part of vasagw that speaks to vCenter. It holds
// a govmomi-style client for vCenter's Storage Monitoring Service (SMS, the
// "sms" namespace served at /sms/sdk), shaped like govmomi's pbm and vslm
// clients, and a [Session]: one shared, self-healing vim25 login per vCenter
// that the service layer uses concurrently.
//
// Every error that leaves this package is one of a few shapes: a *[Fault]
// (a vSphere fault, with its type name, messages, cause chain and
// properties), an error matching [ErrUnreachable], an
// *[UntrustedCertificateError], [ErrClosed], a *[ProbeError] (from
// [ProbeCertificate], about a provider, never vCenter), or the caller's own
// context error. Callers never need govmomi's fault types.
package vcenter

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Namespace and Path of the SMS endpoint: SOAP namespace "urn:sms" at
// https://{vcenter}/sms/sdk.
const (
	Namespace = "sms"
	Path      = "/sms/sdk"
)

// Managed object types of the SMS API that [Client] methods take.
const (
	TypeVasaProvider = "VasaProvider"
	TypeSmsTask      = "SmsTask"
)

// ServiceInstance is the root object of the SMS endpoint.
var ServiceInstance = vimtypes.ManagedObjectReference{
	Type:  "SmsServiceInstance",
	Value: "ServiceInstance",
}

// ProviderRef is the reference of the VasaProvider with moId id.
func ProviderRef(id string) vimtypes.ManagedObjectReference {
	return vimtypes.ManagedObjectReference{Type: TypeVasaProvider, Value: id}
}

// TaskRef is the reference of the SmsTask with moId id.
func TaskRef(id string) vimtypes.ManagedObjectReference {
	return vimtypes.ManagedObjectReference{Type: TypeSmsTask, Value: id}
}

// Client calls the SMS endpoint of one vCenter with the session of a vim25
// client. Its methods are safe for concurrent use; each returns errors
// already translated (see the package doc).
type Client struct {
	*soap.Client

	// StorageManager is the SmsStorageManager, found by [NewClient].
	StorageManager vimtypes.ManagedObjectReference

	// RoundTripper carries the SOAP calls; it is the embedded soap.Client
	// unless a caller wraps it (for tracing, say).
	RoundTripper soap.RoundTripper
}

// NewClient returns a Client for the SMS endpoint of the vCenter that c is
// logged in to. The SMS endpoint authenticates each call by the
// vcSessionCookie SOAP header, which must carry the vim25 session cookie
// (the cookie /sms/sdk sets on its own is not valid there), so the header is
// read from c's cookie jar at every call and follows c's re-logins.
// NewClient looks up the storage manager, which also proves the session is
// accepted.
func NewClient(ctx context.Context, c *vim25.Client) (*Client, error) {
	if c == nil || c.Client == nil {
		return nil, errors.New("new sms client: vim25 client without a soap client")
	}
	sc := c.Client.NewServiceClient(Path, Namespace)
	sc.Cookie = c.SessionCookie // vcSessionCookie header, the vim25 vmware_soap_session value
	// Record fault answers so that a fault type govmomi does not know keeps
	// its name (see [faultRecorder]). This wraps only sc's own http.Client;
	// the *http.Transport and its connections stay shared.
	sc.Client.Transport = &faultRecorder{base: sc.Client.Transport}

	client := &Client{Client: sc, RoundTripper: sc}
	ref, err := client.QueryStorageManager(ctx)
	if err != nil {
		return nil, err
	}
	client.StorageManager = ref
	return client, nil
}

// RoundTrip dispatches to the RoundTripper field. An answer so malformed
// that decoding it panics becomes an error: what vCenter (or whatever
// answers in its place) sends must not crash the gateway. A fault answer
// is also recorded as read from the wire and attached to the error, for
// the fault types govmomi cannot decode (see [faultRecorder]).
func (c *Client) RoundTrip(ctx context.Context, req, res soap.HasFault) (err error) {
	ctx, slot := withRawFaultSlot(ctx)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed sms answer: %v", r)
		}
		err = withRawFault(err, slot)
	}()
	return c.RoundTripper.RoundTrip(ctx, req, res)
}

// QueryStorageManager returns the SmsStorageManager of the endpoint.
func (c *Client) QueryStorageManager(ctx context.Context) (vimtypes.ManagedObjectReference, error) {
	req := smstypes.QueryStorageManager{This: ServiceInstance}
	res, err := methods.QueryStorageManager(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("query storage manager: %w", translate(err))
	}
	return res.Returnval, nil
}

// QueryProvider returns the references of every registered provider (of
// StorageManager, looked up first if the Client was not made by NewClient).
func (c *Client) QueryProvider(ctx context.Context) ([]vimtypes.ManagedObjectReference, error) {
	sm := c.StorageManager
	if sm.Value == "" {
		var err error
		if sm, err = c.QueryStorageManager(ctx); err != nil {
			return nil, err
		}
	}
	req := smstypes.QueryProvider{This: sm}
	res, err := methods.QueryProvider(ctx, c, &req)
	if err != nil {
		return nil, fmt.Errorf("query provider: %w", translate(err))
	}
	return res.Returnval, nil
}

// QueryProviderInfo returns what the provider ref reports about itself. A
// provider that answers with plain SmsProviderInfo is returned as a
// VasaProviderInfo with only those fields set.
func (c *Client) QueryProviderInfo(ctx context.Context, ref vimtypes.ManagedObjectReference) (*smstypes.VasaProviderInfo, error) {
	req := smstypes.QueryProviderInfo{This: ref}
	res, err := methods.QueryProviderInfo(ctx, c, &req)
	if err != nil {
		return nil, fmt.Errorf("query provider info %s: %w", ref.Value, translate(err))
	}
	switch info := res.Returnval.(type) {
	case *smstypes.VasaProviderInfo:
		if info != nil {
			return info, nil
		}
	case nil:
	default:
		if base := info.GetSmsProviderInfo(); base != nil {
			return &smstypes.VasaProviderInfo{SmsProviderInfo: *base}, nil
		}
	}
	return nil, fmt.Errorf("query provider info %s: empty answer", ref.Value)
}

// ReconnectProvider starts VasaProviderReconnect_Task on the provider ref
// and returns the SmsTask.
func (c *Client) ReconnectProvider(ctx context.Context, ref vimtypes.ManagedObjectReference) (vimtypes.ManagedObjectReference, error) {
	req := smstypes.VasaProviderReconnect_Task{This: ref}
	res, err := methods.VasaProviderReconnect_Task(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("reconnect provider %s: %w", ref.Value, translate(err))
	}
	return res.Returnval, nil
}

// SyncProvider starts VasaProviderSync_Task (for all of the provider's
// arrays) on the provider ref and returns the SmsTask.
func (c *Client) SyncProvider(ctx context.Context, ref vimtypes.ManagedObjectReference) (vimtypes.ManagedObjectReference, error) {
	req := smstypes.VasaProviderSync_Task{This: ref}
	res, err := methods.VasaProviderSync_Task(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("sync provider %s: %w", ref.Value, translate(err))
	}
	return res.Returnval, nil
}

// QueryTaskInfo returns the state, progress and outcome of the SmsTask task.
func (c *Client) QueryTaskInfo(ctx context.Context, task vimtypes.ManagedObjectReference) (*smstypes.SmsTaskInfo, error) {
	req := smstypes.QuerySmsTaskInfo{This: task}
	res, err := methods.QuerySmsTaskInfo(ctx, c, &req)
	if err != nil {
		return nil, fmt.Errorf("query task info %s: %w", task.Value, translate(err))
	}
	return &res.Returnval, nil
}

// QueryTaskResult returns the result of the finished SmsTask task (nil for
// tasks that return nothing).
func (c *Client) QueryTaskResult(ctx context.Context, task vimtypes.ManagedObjectReference) (vimtypes.AnyType, error) {
	req := smstypes.QuerySmsTaskResult{This: task}
	res, err := methods.QuerySmsTaskResult(ctx, c, &req)
	if err != nil {
		return nil, fmt.Errorf("query task result %s: %w", task.Value, translate(err))
	}
	return res.Returnval, nil
}
