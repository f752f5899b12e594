package vijson

import (
	"reflect"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// maxFaultDepth bounds how deep a fault's cause chain is rendered; the
// service bounds it the same way.
const maxFaultDepth = 32

// faultOf renders a gRPC status as the MethodFault vCenter would send: the
// upstream fault itself when the status carries one (the VimFault
// detail), else the fault vCenter sends for the same condition as the
// gateway's own error.
func faultOf(st *status.Status, this vimtypes.ManagedObjectReference) vimtypes.BaseMethodFault {
	var info *errdetails.ErrorInfo
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *vasagwv1.VimFault:
			return fromVimFault(d, 0)
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.RetryInfo:
			retry = d
		}
	}
	return gatewayFault(st, info, retry, this)
}

// fromVimFault rebuilds the govmomi fault value a VimFault detail records:
// its type (SMS or vim25, an unknown type as the MethodFault it derives
// from), faultMessage, faultCause and the fault's own properties, parsed
// back into the fields they were read from.
func fromVimFault(vf *vasagwv1.VimFault, depth int) vimtypes.BaseMethodFault {
	t, ok := LookupType(strings.TrimPrefix(vf.GetTypeName(), "sms:"))
	if !ok || !reflect.PointerTo(t).Implements(baseMethodFault) {
		t = reflect.TypeFor[vimtypes.MethodFault]()
	}
	v := reflect.New(t)
	f := v.Interface().(vimtypes.BaseMethodFault)
	mf := f.GetMethodFault()
	for _, m := range vf.GetFaultMessage() {
		lm := vimtypes.LocalizableMessage{Key: m.GetKey(), Message: m.GetMessage()}
		for _, a := range m.GetArg() {
			lm.Arg = append(lm.Arg, vimtypes.KeyAnyValue{Key: a.GetKey(), Value: a.GetValue()})
		}
		mf.FaultMessage = append(mf.FaultMessage, lm)
	}
	if c := vf.GetFaultCause(); c != nil && depth < maxFaultDepth {
		mf.FaultCause = localized(fromVimFault(c, depth+1))
	}
	for name, value := range vf.GetProperties() {
		setProperty(v.Elem(), name, value)
	}
	for name, js := range vf.GetViJsonProperties() {
		if fv, ok := field(v.Elem(), name); ok {
			target := reflect.New(fv.Type())
			if decodeSafely(NewDecoder(strings.NewReader(js)).Decode, target.Interface()) == nil {
				fv.Set(target.Elem())
			}
		}
	}
	return f
}

// field returns the field of fault struct v (or of a fault struct it
// embeds, MethodFault aside) whose vSphere name is name.
func field(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Anonymous {
			if sf.Type != methodFaultType && sf.Type.Kind() == reflect.Struct {
				if fv, ok := field(v.Field(i), name); ok {
					return fv, true
				}
			}
			continue
		}
		if propertyName(sf) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

var (
	baseMethodFault = reflect.TypeFor[vimtypes.BaseMethodFault]()
	methodFaultType = reflect.TypeFor[vimtypes.MethodFault]()
	morefType       = reflect.TypeFor[vimtypes.ManagedObjectReference]()
	timeType        = reflect.TypeFor[time.Time]()
)

// localized wraps a fault as the LocalizedMethodFault that faultCause and a
// task's error hold, with its first message as the localized message.
func localized(f vimtypes.BaseMethodFault) *vimtypes.LocalizedMethodFault {
	out := &vimtypes.LocalizedMethodFault{Fault: f}
	for _, m := range f.GetMethodFault().FaultMessage {
		if m.Message != "" {
			out.LocalizedMessage = m.Message
			break
		}
	}
	return out
}

// setProperty sets the field of fault struct v (or of a fault struct it
// embeds, MethodFault aside) whose vSphere name is name, from its string
// rendering. A property that names no field, or whose value does not
// parse, is left out: the fault keeps its type and its other properties.
func setProperty(v reflect.Value, name, value string) bool {
	fv, ok := field(v, name)
	return ok && setScalar(fv, value)
}

// propertyName is the vSphere (JSON) name of a field.
func propertyName(sf reflect.StructField) string {
	for _, key := range []string{"json", "xml"} {
		if tag, ok := sf.Tag.Lookup(key); ok {
			name, _, _ := strings.Cut(tag, ",")
			if name != "" && name != "-" {
				return name
			}
		}
	}
	return strings.ToLower(sf.Name[:1]) + sf.Name[1:]
}

// setScalar parses s into fv (a scalar, a time, a MoRef "Type:Value", or a
// pointer to one of them).
func setScalar(fv reflect.Value, s string) bool {
	if fv.Kind() == reflect.Pointer {
		p := reflect.New(fv.Type().Elem())
		if !setScalar(p.Elem(), s) {
			return false
		}
		fv.Set(p)
		return true
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
		return true
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false
		}
		fv.SetBool(b)
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, fv.Type().Bits())
		if err != nil {
			return false
		}
		fv.SetInt(n)
		return true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, fv.Type().Bits())
		if err != nil {
			return false
		}
		fv.SetUint(n)
		return true
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, fv.Type().Bits())
		if err != nil {
			return false
		}
		fv.SetFloat(n)
		return true
	case reflect.Struct:
		switch fv.Type() {
		case timeType:
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return false
			}
			fv.Set(reflect.ValueOf(tm))
			return true
		case morefType:
			var ref vimtypes.ManagedObjectReference
			if !ref.FromString(s) {
				return false
			}
			fv.Set(reflect.ValueOf(ref))
			return true
		}
	}
	return false
}

// privileges are vSphere's privileges for the gateway's roles, named in the
// NoPermission a caller without the role gets.
var privileges = map[string]string{
	"viewer":   "StorageViews.View",
	"operator": "StorageViews.ConfigureService",
}

// gatewayFault is the MethodFault vCenter sends for the condition behind one
// of the gateway's own errors (no VimFault detail): a refused caller, a
// missing role, a rate limit, a malformed request, an unknown object.
func gatewayFault(st *status.Status, info *errdetails.ErrorInfo, retry *errdetails.RetryInfo, this vimtypes.ManagedObjectReference) vimtypes.BaseMethodFault {
	reason := info.GetReason()
	msg := st.Message()
	switch st.Code() {
	case codes.Unauthenticated:
		return notAuthenticated(this)
	case codes.PermissionDenied:
		priv := privileges[info.GetMetadata()["role"]]
		if p := info.GetMetadata()["privilege"]; p != "" {
			priv = p
		}
		return withMessage(&vimtypes.NoPermission{Object: ref(this), PrivilegeId: priv}, "vim.fault.NoPermission", "Permission to perform this operation was denied.")
	case codes.NotFound:
		return managedObjectNotFound(this)
	case codes.InvalidArgument:
		field := ""
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
				field = br.GetFieldViolations()[0].GetField()
			}
		}
		return withMessage(&vimtypes.InvalidArgument{InvalidProperty: field}, "vmodl.fault.InvalidArgument", "A specified parameter was not correct: "+field)
	case codes.Unimplemented:
		// The gateway's NOT_IMPLEMENTED (a call this vCenter session cannot
		// make, such as the life cycle in a user's session) is the fault
		// vCenter itself sends for a method it does not implement.
		return withMessage(&vimtypes.NotImplemented{}, "vmodl.fault.NotImplemented", "The operation is not implemented.")
	case codes.DeadlineExceeded:
		return withMessage(&vimtypes.Timedout{}, "vim.fault.Timedout", "Operation timed out.")
	case codes.Canceled:
		return withMessage(&vimtypes.RequestCanceled{}, "vim.fault.RequestCanceled", "The task was canceled by a user.")
	case codes.FailedPrecondition:
		if reason == "VASA_VERSION_UNSUPPORTED" {
			return withMessage(&vimtypes.NotSupported{}, "vmodl.fault.NotSupported", "The operation is not supported on the object.")
		}
	case codes.ResourceExhausted:
		r := "too many requests"
		if d := retry.GetRetryDelay(); d != nil {
			r += "; retry after " + d.AsDuration().Round(time.Second).String()
		}
		return withMessage(&vimtypes.SystemError{Reason: r}, "vmodl.fault.SystemError", "A general system error occurred: "+r)
	}
	r := strings.ToLower(strings.ReplaceAll(reason, "_", " "))
	if r == "" {
		r = msg
	}
	return withMessage(&vimtypes.SystemError{Reason: r}, "vmodl.fault.SystemError", "A general system error occurred: "+r)
}

// withMessage gives f the faultMessage vCenter sends with it.
func withMessage[F vimtypes.BaseMethodFault](f F, key, text string) F {
	f.GetMethodFault().FaultMessage = []vimtypes.LocalizableMessage{{Key: key, Message: text}}
	return f
}

func ref(r vimtypes.ManagedObjectReference) *vimtypes.ManagedObjectReference {
	if r.Value == "" {
		return nil
	}
	return &r
}
