package vijson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"encoding/pem"
	"errors"
	"reflect"
	"strconv"

	"google.golang.org/grpc"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// call is one parsed VI/JSON call.
type call struct {
	vcenter string
	this    vimtypes.ManagedObjectReference
	params  any
	// opts go with every gRPC call (they collect the response header with
	// the request id).
	opts []grpc.CallOption
}

// method is one SMS method of the facade: how to read its parameters and
// which gRPC call serves it.
type method struct {
	decode func(body []byte, this vimtypes.ManagedObjectReference) (any, vimtypes.BaseMethodFault)
	call   func(ctx context.Context, h *Handler, c call) (any, error)
}

// managedType is one SMS managed object type: its methods, and its moId
// when the type has a single object.
type managedType struct {
	fixedID string
	methods map[string]method
}

// managedTypes is the facade's method table, by moType and method name.
var managedTypes = map[string]managedType{
	typeServiceInstance: {fixedID: "ServiceInstance", methods: map[string]method{
		"QueryStorageManager": {decode: params[smstypes.QueryStorageManagerRequestType], call: queryStorageManager},
		"QueryAboutInfo":      {decode: params[smstypes.QueryAboutInfoRequestType], call: queryAboutInfo},
	}},
	typeStorageManager: {fixedID: storageManager.Value, methods: map[string]method{
		"QueryProvider":           {decode: params[smstypes.QueryProviderRequestType], call: queryProvider},
		"RegisterProvider_Task":   {decode: params[smstypes.RegisterProviderRequestType], call: registerProvider},
		"UnregisterProvider_Task": {decode: params[smstypes.UnregisterProviderRequestType], call: unregisterProvider},
	}},
	typeVasaProvider: {methods: map[string]method{
		"QueryProviderInfo":                   {decode: params[smstypes.QueryProviderInfoRequestType], call: queryProviderInfo},
		"VasaProviderReconnect_Task":          {decode: params[smstypes.VasaProviderReconnectRequestType], call: reconnectProvider},
		"VasaProviderSync_Task":               {decode: params[smstypes.VasaProviderSyncRequestType], call: syncProvider},
		"VasaProviderRefreshCertificate_Task": {decode: params[smstypes.VasaProviderRefreshCertificateRequestType], call: refreshCertificate},
	}},
	typeSmsTask: {methods: map[string]method{
		"QuerySmsTaskInfo":   {decode: params[smstypes.QuerySmsTaskInfoRequestType], call: queryTaskInfo},
		"QuerySmsTaskResult": {decode: params[smstypes.QuerySmsTaskResultRequestType], call: queryTaskResult},
	}},
}

// lookupMethod finds the method of a call, or the fault vCenter sends for
// an object or method it does not have.
func lookupMethod(r request) (method, vimtypes.BaseMethodFault) {
	mt, ok := managedTypes[r.this.Type]
	if !ok || (mt.fixedID != "" && r.this.Value != mt.fixedID) {
		return method{}, managedObjectNotFound(r.this)
	}
	m, ok := mt.methods[r.method]
	if !ok {
		return method{}, withMessage(&vimtypes.MethodNotFound{Receiver: r.this, Method: r.method},
			"vmodl.fault.MethodNotFound", "The method "+r.method+" of "+r.this.Type+" is not found.")
	}
	return m, nil
}

func managedObjectNotFound(this vimtypes.ManagedObjectReference) vimtypes.BaseMethodFault {
	return withMessage(&vimtypes.ManagedObjectNotFound{Obj: this}, "vmodl.fault.ManagedObjectNotFound",
		"The object '"+this.String()+"' has already been deleted or has not been completely created")
}

// params reads a method's parameters into its request type T (the
// govmomi sms/types XxxRequestType): one JSON object, `{}` or an empty
// body for none. A `_this` is accepted when it names the object of the
// path, and a root `_typeName` as govmomi's JSON client sends it; unknown
// members, trailing data and values of the wrong type are InvalidRequest.
func params[T any](body []byte, this vimtypes.ManagedObjectReference) (any, vimtypes.BaseMethodFault) {
	v := new(T)
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return v, nil
	}
	// One JSON object, nothing after it; its root `_typeName` names the
	// request type (govmomi's client sends one) and is not a parameter.
	var members map[string]stdjson.RawMessage
	if body[0] != '{' || stdjson.Unmarshal(body, &members) != nil {
		return nil, invalidRequest("The request body must be one JSON object of the method's parameters.")
	}
	delete(members, typeNameMember)
	for name := range members {
		if !hasMember(reflect.TypeFor[T](), name) {
			return nil, invalidRequest("The method has no parameter " + strconv.Quote(name) + ".")
		}
	}
	body, err := stdjson.Marshal(members)
	if err != nil {
		return nil, invalidRequest("The request body must be one JSON object of the method's parameters.")
	}
	d := NewDecoder(bytes.NewReader(body))
	if err := decodeSafely(d.Decode, v); err != nil {
		return nil, invalidRequest("The request body is not valid for this method: " + err.Error())
	}
	if t := reflect.ValueOf(v).Elem().FieldByName("This"); t.IsValid() {
		got := t.Interface().(vimtypes.ManagedObjectReference)
		if got != (vimtypes.ManagedObjectReference{}) && got != this {
			return nil, invalidRequest("_this does not name the object of the request path.")
		}
	}
	return v, nil
}

// hasMember reports whether struct type t (or a struct it embeds) has a
// field whose vSphere name is name. (govmomi's decoder refuses the
// `_typeName` of nested objects as unknown under DisallowUnknownFields, so
// the root members are checked here.)
func hasMember(t reflect.Type, name string) bool {
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			if hasMember(sf.Type, name) {
				return true
			}
			continue
		}
		if sf.IsExported() && propertyName(sf) == name {
			return true
		}
	}
	return false
}

// decodeSafely runs a decode, turning a panic of the decoder on hostile
// input into an error.
func decodeSafely(decode func(any) error, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("malformed VI/JSON")
		}
	}()
	return decode(v)
}

func invalidRequest(msg string) vimtypes.BaseMethodFault {
	return withMessage(&vimtypes.InvalidRequest{}, "vmodl.fault.InvalidRequest", msg)
}

func invalidArgument(property string) vimtypes.BaseMethodFault {
	return withMessage(&vimtypes.InvalidArgument{InvalidProperty: property}, "vmodl.fault.InvalidArgument",
		"A specified parameter was not correct: "+property)
}

// faultError carries a fault the facade raises itself from inside a call.
type faultError struct{ fault vimtypes.BaseMethodFault }

func (e faultError) Error() string { return "vi/json fault" }

func vcenterName(id string) string          { return "vcenters/" + id }
func providerName(vc, id string) string     { return "vcenters/" + vc + "/vasaProviders/" + id }
func taskResourceName(vc, id string) string { return "vcenters/" + vc + "/tasks/" + id }

func queryStorageManager(ctx context.Context, h *Handler, c call) (any, error) {
	if _, err := h.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: vcenterName(c.vcenter)}, c.opts...); err != nil {
		return nil, err
	}
	return storageManager, nil
}

// The SMS service's own names, as its QueryAboutInfo reports them.
const (
	aboutName     = "SMS"
	aboutFullName = "Storage Monitoring Service"
	aboutVendor   = "VMware, Inc."
)

func queryAboutInfo(ctx context.Context, h *Handler, c call) (any, error) {
	vc, err := h.vcenters.GetVCenter(ctx, &vasagwv1.GetVCenterRequest{Name: vcenterName(c.vcenter)}, c.opts...)
	if err != nil {
		return nil, err
	}
	return &smstypes.SmsAboutInfo{Name: aboutName, FullName: aboutFullName, Vendor: aboutVendor, ApiVersion: vc.GetSmsVersion()}, nil
}

// listProviders returns every provider of a vCenter, all pages.
func listProviders(ctx context.Context, h *Handler, c call) ([]*vasagwv1.VasaProvider, error) {
	var all []*vasagwv1.VasaProvider
	req := &vasagwv1.ListVasaProvidersRequest{Parent: vcenterName(c.vcenter), PageSize: 1000}
	for {
		resp, err := h.providers.ListVasaProviders(ctx, req, c.opts...)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetVasaProviders()...)
		if resp.GetNextPageToken() == "" {
			return all, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func queryProvider(ctx context.Context, h *Handler, c call) (any, error) {
	ps, err := listProviders(ctx, h, c)
	if err != nil {
		return nil, err
	}
	refs := make([]vimtypes.ManagedObjectReference, 0, len(ps))
	for _, p := range ps {
		refs = append(refs, vimtypes.ManagedObjectReference{Type: typeVasaProvider, Value: lastSegment(p.GetName())})
	}
	return refs, nil
}

// startedTask is what a method that starts a task answers: the task's
// SmsTask reference, or the call's error.
func startedTask(t *vasagwv1.Task, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return taskRef(t), nil
}

func queryProviderInfo(ctx context.Context, h *Handler, c call) (any, error) {
	p, err := h.providers.GetVasaProvider(ctx, &vasagwv1.GetVasaProviderRequest{Name: providerName(c.vcenter, c.this.Value)}, c.opts...)
	if err != nil {
		return nil, err
	}
	return providerInfo(p), nil
}

func reconnectProvider(ctx context.Context, h *Handler, c call) (any, error) {
	return startedTask(h.providers.ReconnectProvider(ctx, &vasagwv1.ReconnectProviderRequest{Name: providerName(c.vcenter, c.this.Value)}, c.opts...))
}

func syncProvider(ctx context.Context, h *Handler, c call) (any, error) {
	if p := c.params.(*smstypes.VasaProviderSyncRequestType); p.ArrayId != "" {
		// The gateway syncs a provider's every array; vCenter's per-array
		// sync has no gRPC counterpart.
		return nil, faultError{invalidArgument("arrayId")}
	}
	return startedTask(h.providers.SyncProvider(ctx, &vasagwv1.SyncProviderRequest{Name: providerName(c.vcenter, c.this.Value)}, c.opts...))
}

func refreshCertificate(ctx context.Context, h *Handler, c call) (any, error) {
	return startedTask(h.providers.RefreshProviderCertificate(ctx, &vasagwv1.RefreshProviderCertificateRequest{Name: providerName(c.vcenter, c.this.Value)}, c.opts...))
}

func registerProvider(ctx context.Context, h *Handler, c call) (any, error) {
	spec, ok := c.params.(*smstypes.RegisterProviderRequestType).ProviderSpec.(*smstypes.VasaProviderSpec)
	if !ok || spec == nil {
		return nil, faultError{invalidArgument("providerSpec")}
	}
	req := &vasagwv1.RegisterProviderRequest{
		Parent:      vcenterName(c.vcenter),
		DisplayName: spec.Name,
		Description: spec.Description,
		Url:         spec.Url,
		Username:    spec.Username,
		Password:    spec.Password,
	}
	if spec.Certificate != "" {
		fp, ok := certificateFingerprint(spec.Certificate)
		if !ok {
			return nil, faultError{invalidArgument("providerSpec.certificate")}
		}
		// The caller sends the certificate it accepts, as vSphere clients
		// do after CertificateNotTrusted: that is the gateway's consent.
		req.CertificateSha256Fingerprint = fp
	}
	return startedTask(h.providers.RegisterProvider(ctx, req, c.opts...))
}

// certificateFingerprint is the SHA-256 fingerprint (hex) of a PEM
// certificate.
func certificateFingerprint(certPEM string) (string, bool) {
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil || b.Type != "CERTIFICATE" {
		return "", false
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:]), true
}

func unregisterProvider(ctx context.Context, h *Handler, c call) (any, error) {
	uid := c.params.(*smstypes.UnregisterProviderRequestType).ProviderId
	if uid == "" {
		return nil, faultError{invalidArgument("providerId")}
	}
	ps, err := listProviders(ctx, h, c)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.GetUid() == uid {
			return startedTask(h.providers.UnregisterProvider(ctx, &vasagwv1.UnregisterProviderRequest{Name: p.GetName()}, c.opts...))
		}
	}
	return nil, faultError{withMessage(&vimtypes.NotFound{}, "vim.fault.NotFound", "No provider with uid "+uid+" is registered.")}
}

func queryTaskInfo(ctx context.Context, h *Handler, c call) (any, error) {
	t, err := h.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: taskResourceName(c.vcenter, c.this.Value)}, c.opts...)
	if err != nil {
		return nil, err
	}
	return taskInfo(t), nil
}

func queryTaskResult(ctx context.Context, h *Handler, c call) (any, error) {
	t, err := h.tasks.GetTask(ctx, &vasagwv1.GetTaskRequest{Name: taskResourceName(c.vcenter, c.this.Value)}, c.opts...)
	if err != nil {
		return nil, err
	}
	if t.GetState() != vasagwv1.Task_STATE_SUCCEEDED {
		return nil, nil
	}
	if r := resourceRef(t.GetResult()); r != nil {
		return *r, nil
	}
	return nil, nil
}
