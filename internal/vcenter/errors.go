package vcenter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// ErrUnreachable is matched (with [errors.Is]) by every error this package
// returns when vCenter could not be reached or did not answer: dial and DNS
// failures, connection resets, timeouts of the session's own request
// deadline, and HTTP 502, 503 and 504 from a proxy in front of vCenter.
// Retrying later may succeed; the [Session] recovers by itself.
var ErrUnreachable = errors.New("vcenter unreachable")

// ErrClosed is returned by the methods of a [Session] after [Session.Close].
var ErrClosed = errors.New("vcenter session closed")

// unreachableError carries the network error behind [ErrUnreachable].
type unreachableError struct{ err error }

func (e *unreachableError) Error() string        { return "vcenter unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() error        { return e.err }
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }

// UntrustedCertificateError reports that vCenter presented a certificate
// that is neither signed by a trusted CA (the CA file or the system roots)
// nor, when a thumbprint is pinned, the pinned one. Thumbprint lets an
// operator confirm the certificate out of band and pin it.
type UntrustedCertificateError struct {
	// Thumbprint is the SHA-256 thumbprint of the certificate vCenter
	// presented, upper-case hex pairs separated by colons ("" when vCenter
	// presented none).
	Thumbprint string
	// Err is why verification failed (an x509 error, or a thumbprint
	// mismatch).
	Err error
}

func (e *UntrustedCertificateError) Error() string {
	msg := "vcenter certificate not trusted"
	if e.Thumbprint != "" {
		msg += " (SHA-256 thumbprint " + e.Thumbprint + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UntrustedCertificateError) Unwrap() error { return e.Err }

// Fault is a vSphere fault as vCenter raised it: a SOAP fault of a call, a
// task's error, or a provider's status fault. It keeps what a caller needs
// to decide and explain: the type name, the localizable messages, the cause
// chain and the fault's own scalar properties. No govmomi type leaks out.
type Fault struct {
	// TypeName is the vSphere type name without a namespace prefix, e.g.
	// "InvalidCertificate" or "NotAuthenticated". A fault of a type govmomi
	// does not know (a newer vCenter's, a vendor's) keeps the name vCenter
	// sent, with Supertypes ["MethodFault"], when it came as the SOAP fault
	// of an SMS call; one whose type cannot be found at all is
	// "MethodFault", the root of every fault type.
	TypeName string
	// Supertypes are the vSphere base types of TypeName, nearest first,
	// ending with "MethodFault" (for NotAuthenticated: NoPermission,
	// SecurityError, RuntimeFault, MethodFault), so that a caller can match
	// the most specific type it knows.
	Supertypes []string
	// Message is the localized message or the SOAP faultstring. It may hold
	// upstream detail: log it, do not show it to callers as is.
	Message string
	// Messages are the fault's faultMessage entries.
	Messages []Message
	// Cause is the faultCause, nil when there is none.
	Cause *Fault
	// Properties are the fault's own scalar properties by their vSphere
	// names (e.g. "certificate" for InvalidCertificate, "privilegeId" for
	// NoPermission), including inherited ones but not those of MethodFault.
	// Secrets (session cookies, passwords, tokens) are never included.
	// Zero values are left out.
	Properties map[string]string
	// Structured are the fault's own properties that are not scalars
	// (arrays, data objects), each as its VI/JSON encoding, under the same
	// rules as Properties (secrets never included).
	Structured map[string]string
}

// Message is a LocalizableMessage of a fault.
type Message struct {
	Key  string
	Args []KeyValue
	Text string
}

// KeyValue is one argument of a [Message], its value rendered as a string.
type KeyValue struct {
	Key, Value string
}

func (f *Fault) Error() string {
	if f.Message == "" {
		return f.TypeName
	}
	return f.TypeName + ": " + f.Message
}

// Unwrap returns the cause, so that [errors.As] and [errors.Is] walk the
// fault chain.
func (f *Fault) Unwrap() error {
	if f.Cause == nil {
		return nil
	}
	return f.Cause
}

// Is reports whether target is a *Fault of the same TypeName, so that
// errors.Is(err, &Fault{TypeName: "InvalidCertificate"}) matches a fault
// anywhere in err's chain.
func (f *Fault) Is(target error) bool {
	t, ok := target.(*Fault)
	return ok && t != nil && t.TypeName == f.TypeName
}

// Find returns the first fault of the chain (f, its cause, the cause's
// cause...) whose type is typeName or derives from it, or nil.
func (f *Fault) Find(typeName string) *Fault {
	for c, depth := f, 0; c != nil && depth <= maxFaultDepth; c, depth = c.Cause, depth+1 {
		if c.TypeName == typeName {
			return c
		}
		for _, s := range c.Supertypes {
			if s == typeName {
				return c
			}
		}
	}
	return nil
}

// HasType reports whether a fault of exactly typeName is in the chain.
func (f *Fault) HasType(typeName string) bool {
	for c, depth := f, 0; c != nil && depth <= maxFaultDepth; c, depth = c.Cause, depth+1 {
		if c.TypeName == typeName {
			return true
		}
	}
	return false
}

// maxFaultDepth bounds how deep a cause chain is translated; deeper causes
// are dropped (vCenter nests two or three at most).
const maxFaultDepth = 32

// unknownFaultType names a fault whose type is not known.
const unknownFaultType = "MethodFault"

// FaultFromLocalized translates a LocalizedMethodFault (a task's error, a
// provider's status fault). It returns nil for nil.
func FaultFromLocalized(lmf *vimtypes.LocalizedMethodFault) *Fault {
	return fromLocalized(lmf, 0)
}

func fromLocalized(lmf *vimtypes.LocalizedMethodFault, depth int) *Fault {
	if lmf == nil {
		return nil
	}
	return fromMethodFault(lmf.Fault, lmf.LocalizedMessage, depth)
}

// fromMethodFault translates f, whatever it holds: a nil interface, a typed
// nil pointer, or a fault nested deeper than maxFaultDepth.
func fromMethodFault(f vimtypes.BaseMethodFault, msg string, depth int) *Fault {
	out := &Fault{TypeName: unknownFaultType, Message: msg}
	if f == nil {
		return out
	}
	v := reflect.ValueOf(f)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	out.TypeName, out.Supertypes = faultTypeNames(v.Type())
	if v.Kind() != reflect.Struct {
		return out
	}
	if mf := f.GetMethodFault(); mf != nil {
		for _, m := range mf.FaultMessage {
			out.Messages = append(out.Messages, messageFrom(m))
		}
		if mf.FaultCause != nil && depth < maxFaultDepth {
			out.Cause = fromLocalized(mf.FaultCause, depth+1)
		}
	}
	props := make(map[string]string)
	faultProperties(v, props)
	if len(props) > 0 {
		out.Properties = props
	}
	out.Structured = structuredProperties(v)
	return out
}

func messageFrom(m vimtypes.LocalizableMessage) Message {
	out := Message{Key: m.Key, Text: m.Message}
	for _, a := range m.Arg {
		out.Args = append(out.Args, KeyValue{Key: a.Key, Value: anyString(a.Value)})
	}
	return out
}

var (
	methodFaultType = reflect.TypeFor[vimtypes.MethodFault]()
	morefType       = reflect.TypeFor[vimtypes.ManagedObjectReference]()
	timeType        = reflect.TypeFor[time.Time]()
)

// faultTypeNames returns the vSphere type name of the fault struct type t
// and its supertypes. govmomi names its Go types after the vSphere types
// (sms types are registered as "sms:Name", under the same Go name); the
// "XxxFault" types that wrap "Xxx" for SOAP detail elements are reported as
// "Xxx".
func faultTypeNames(t reflect.Type) (string, []string) {
	name := strings.TrimPrefix(t.Name(), "sms:")
	if name == "" {
		return unknownFaultType, nil
	}
	if base, ok := strings.CutSuffix(name, "Fault"); ok && base != "" && isAliasOf(t, base) {
		name = base
	}
	var supers []string
	for st := t; st.Kind() == reflect.Struct && len(supers) < maxFaultDepth; {
		next, ok := embeddedFault(st)
		if !ok {
			break
		}
		supers = append(supers, next.Name())
		st = next
	}
	return name, supers
}

// isAliasOf reports whether t is the "XxxFault" twin of the registered type
// named base (same fields, convertible).
func isAliasOf(t reflect.Type, base string) bool {
	lookup := vimtypes.TypeFunc()
	for _, n := range []string{base, "sms:" + base} {
		if bt, ok := lookup(n); ok && bt != t && t.ConvertibleTo(bt) {
			return true
		}
	}
	return false
}

// embeddedFault returns the fault type t embeds (its vSphere base type).
func embeddedFault(t reflect.Type) (reflect.Type, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.Anonymous || sf.Type.Kind() != reflect.Struct || sf.Type.Name() == "" {
			continue
		}
		if sf.Type == methodFaultType || reflect.PointerTo(sf.Type).Implements(baseMethodFaultType) {
			return sf.Type, true
		}
	}
	return nil, false
}

var baseMethodFaultType = reflect.TypeFor[vimtypes.BaseMethodFault]()

// faultProperties adds the scalar fields of the fault struct v, and of the
// fault structs it embeds except MethodFault, to out under their JSON names.
func faultProperties(v reflect.Value, out map[string]string) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		if sf.Anonymous {
			if sf.Type == methodFaultType {
				continue
			}
			for fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					break
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				faultProperties(fv, out)
			}
			continue
		}
		name := propertyName(sf)
		if name == "" || isSecret(name) {
			continue
		}
		if s, ok := scalarString(fv); ok && s != "" {
			out[name] = s
		}
	}
}

// propertyName is the vSphere (JSON) name of a field.
func propertyName(sf reflect.StructField) string {
	for _, key := range []string{"json", "xml"} {
		if tag, ok := sf.Tag.Lookup(key); ok {
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				return ""
			}
			if name != "" {
				return name
			}
		}
	}
	return strings.ToLower(sf.Name[:1]) + sf.Name[1:]
}

// isSecret reports whether a property name looks like it holds a secret.
func isSecret(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "passwd", "secret", "cookie", "token", "privatekey", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// scalarString renders a scalar value (or a pointer to one); ok is false
// for anything else (structs other than times and morefs, slices, maps).
func scalarString(v reflect.Value) (string, bool) {
	explicit := false
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "", false
		}
		explicit = v.Kind() == reflect.Pointer
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		if !v.Bool() && !explicit {
			return "", true
		}
		return strconv.FormatBool(v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() == 0 && !explicit {
			return "", true
		}
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() == 0 && !explicit {
			return "", true
		}
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		if v.Float() == 0 && !explicit {
			return "", true
		}
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	case reflect.Struct:
		switch v.Type() {
		case timeType:
			t := v.Interface().(time.Time)
			if t.IsZero() {
				return "", true
			}
			return t.UTC().Format(time.RFC3339Nano), true
		case morefType:
			ref := v.Interface().(vimtypes.ManagedObjectReference)
			if ref.Value == "" {
				return "", true
			}
			return ref.String(), true
		}
	}
	return "", false
}

// anyString renders a message argument of any type.
func anyString(a any) string {
	if a == nil {
		return ""
	}
	if s, ok := scalarString(reflect.ValueOf(a)); ok {
		return s
	}
	return fmt.Sprint(a)
}

// faultHolder is what govmomi's SOAP fault errors implement.
type faultHolder interface {
	Fault() vimtypes.BaseMethodFault
}

// translate turns an error from govmomi into this package's error shapes:
// *Fault for vSphere faults, an error matching ErrUnreachable for network
// failures, *UntrustedCertificateError for TLS trust failures. Context
// errors of the caller and anything unrecognised are returned unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var (
		own *Fault
		ut  *UntrustedCertificateError
	)
	if errors.As(err, &own) || errors.As(err, &ut) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrClosed) {
		return err
	}
	if f := faultFromError(err); f != nil {
		return f
	}
	if u := untrustedFromError(err); u != nil {
		return u
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isUnreachable(err) {
		return &unreachableError{err: err}
	}
	return err
}

// faultFromError finds the vSphere fault in err (through wrapping, with
// govmomi's fault.As) and translates it; nil if err holds no fault. Where
// govmomi could not decode the fault (an unknown type, a malformed value),
// the fault as read from the wire, when the call recorded it (see
// [faultRecorder]), supplies the type names and what else govmomi lost.
func faultFromError(err error) *Fault {
	f := decodedFault(err)
	raw := rawFaultFrom(err)
	if raw == nil {
		return f
	}
	if f == nil {
		// govmomi failed to decode the fault answer at all.
		f = &Fault{TypeName: unknownFaultType, Message: raw.faultString}
	}
	if raw.detail != nil {
		raw.detail.fill(f, 0)
	}
	return f
}

// decodedFault translates the fault govmomi decoded into err; nil if err
// holds none.
func decodedFault(err error) *Fault {
	faultString := ""
	isSOAP := false
	var h faultHolder
	if errors.As(err, &h) {
		if e, ok := h.(error); ok && soap.IsSoapFault(e) {
			isSOAP = true
			if sf := soap.ToSoapFault(e); sf != nil {
				faultString = sf.String
			}
		}
	}
	var bmf vimtypes.BaseMethodFault
	if msg, ok := fault.As(err, &bmf); ok {
		if msg == "" {
			msg = faultString
		}
		return fromMethodFault(bmf, msg, 0)
	}
	if isSOAP {
		// A SOAP fault whose detail govmomi could not decode (a type it
		// does not know): only the faultstring is left.
		return &Fault{TypeName: unknownFaultType, Message: faultString}
	}
	return nil
}

// untrustedFromError recognises the x509 errors of a TLS handshake whose
// certificate verification failed (govmomi's own dialer, when a [Client] is
// built on a soap.Client that this package did not configure).
func untrustedFromError(err error) *UntrustedCertificateError {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		u := &UntrustedCertificateError{Err: cve.Err}
		if len(cve.UnverifiedCertificates) > 0 {
			u.Thumbprint = soap.ThumbprintSHA256(cve.UnverifiedCertificates[0])
		}
		return u
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return &UntrustedCertificateError{Thumbprint: thumbprintOf(ua.Cert), Err: ua}
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return &UntrustedCertificateError{Thumbprint: thumbprintOf(he.Certificate), Err: he}
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) {
		return &UntrustedCertificateError{Thumbprint: thumbprintOf(ci.Cert), Err: ci}
	}
	return nil
}

func thumbprintOf(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return soap.ThumbprintSHA256(c)
}

// isDroppedConnection reports whether err is a connection that broke under
// a call: closed by the server as it was reused, or reset.
func isDroppedConnection(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// net/http's errServerClosedIdle is unexported; its text is stable.
		strings.Contains(err.Error(), "server closed idle connection")
}

// isUnreachable reports whether err is a network failure or an HTTP status
// that a proxy in front of an unavailable vCenter answers.
func isUnreachable(err error) bool {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
	)
	switch {
	case errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		isDroppedConnection(err):
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return true
		}
		if ue.Err != nil {
			status := ue.Err.Error()
			for _, code := range []string{"502 ", "503 ", "504 "} {
				if strings.HasPrefix(status, code) {
					return true
				}
			}
		}
	}
	return false
}
