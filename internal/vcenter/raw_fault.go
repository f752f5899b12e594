package vcenter

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// govmomi decodes a SOAP fault's detail with its type registry: an
// element whose xsi:type it does not know (a fault type added by a newer
// vCenter, a vendor's fault) is skipped, leaving no detail at all when it
// is the outer fault (so a known faultCause under it is lost too) and a
// faultCause without its fault when it is a cause. Only the faultstring and
// the cause's localizedMessage survive. To keep the fault's type name, the
// SMS client's HTTP transport ([faultRecorder]) reads the body of every
// fault answer for a call that asked for it, parses it here without a type
// registry and hands the result to [translate] along with govmomi's error,
// which fills in what govmomi dropped.

// maxFaultBody bounds how much of a fault answer is buffered and parsed; a
// larger fault is left to govmomi alone.
const maxFaultBody = 1 << 20

// maxFaultXMLDepth bounds the element nesting kept when parsing a fault
// answer: enough for the envelope and maxFaultDepth causes (two elements,
// faultCause and fault, per cause) with their messages.
const maxFaultXMLDepth = 2*maxFaultDepth + 16

// xsiNamespace is the XML Schema instance namespace of the xsi:type
// attribute.
const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

// rawFault is a SOAP fault as read from the wire, without govmomi.
type rawFault struct {
	faultString string
	detail      *rawFaultNode // nil when the fault has no detail element
}

// rawFaultNode is one fault of a detail's cause chain.
type rawFaultNode struct {
	typeName         string // "" when neither xsi:type nor the element name gave one
	localizedMessage string // of a faultCause
	messages         []Message
	properties       map[string]string
	cause            *rawFaultNode
}

// rawFaultSlot receives the fault answer of one call. The call's context
// carries it to the transport; it is written by the transport and read by
// the caller once the call returned, and locked in case an HTTP client
// retries on another goroutine.
type rawFaultSlot struct {
	mu    sync.Mutex
	fault *rawFault
}

type rawFaultSlotKey struct{}

// withRawFaultSlot returns a context that asks [faultRecorder] to record a
// fault answer into the returned slot.
func withRawFaultSlot(ctx context.Context) (context.Context, *rawFaultSlot) {
	slot := new(rawFaultSlot)
	return context.WithValue(ctx, rawFaultSlotKey{}, slot), slot
}

func (s *rawFaultSlot) set(f *rawFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

func (s *rawFaultSlot) get() *rawFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// faultRecorder is an http.RoundTripper that, for requests whose context
// holds a [rawFaultSlot], parses HTTP 500 answers holding a SOAP fault into
// the slot. The body is given back to the caller (govmomi) unread.
type faultRecorder struct {
	base http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *faultRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusInternalServerError || res.Body == nil {
		return res, err
	}
	slot, ok := req.Context().Value(rawFaultSlotKey{}).(*rawFaultSlot)
	if !ok {
		return res, nil
	}
	buf, rerr := io.ReadAll(io.LimitReader(res.Body, maxFaultBody+1))
	res.Body = &replayedBody{Reader: io.MultiReader(bytes.NewReader(buf), res.Body), closer: res.Body}
	if rerr == nil && len(buf) <= maxFaultBody {
		if f := parseRawFault(buf); f != nil {
			slot.set(f)
		}
	}
	return res, nil
}

// replayedBody is a response body whose start was read ahead.
type replayedBody struct {
	io.Reader
	closer io.Closer
}

func (b *replayedBody) Close() error { return b.closer.Close() }

// rawFaultError carries, next to govmomi's error for a call, the fault
// answer as read from the wire.
type rawFaultError struct {
	err   error
	fault *rawFault
}

func (e *rawFaultError) Error() string { return e.err.Error() }
func (e *rawFaultError) Unwrap() error { return e.err }

// withRawFault attaches the fault recorded in slot to err, if any.
func withRawFault(err error, slot *rawFaultSlot) error {
	if err == nil {
		return nil
	}
	if f := slot.get(); f != nil {
		return &rawFaultError{err: err, fault: f}
	}
	return err
}

// rawFaultFrom returns the fault answer attached to err, or nil.
func rawFaultFrom(err error) *rawFault {
	var re *rawFaultError
	if errors.As(err, &re) {
		return re.fault
	}
	return nil
}

// fill completes f, translated from govmomi's decode of this fault at
// depth of the cause chain, with what govmomi dropped: at each level where
// govmomi could not name the fault, the name read from the wire and, if
// govmomi decoded none, its messages and properties; a cause that govmomi
// dropped entirely. What govmomi decoded is kept.
func (n *rawFaultNode) fill(f *Fault, depth int) {
	for ; f != nil && n != nil && depth <= maxFaultDepth; depth++ {
		if f.TypeName == unknownFaultType && n.typeName != "" && n.typeName != unknownFaultType {
			f.TypeName, f.Supertypes = n.typeName, rawSupertypes(n.typeName)
			if len(f.Messages) == 0 {
				f.Messages = n.messages
			}
			if len(f.Properties) == 0 {
				f.Properties = n.properties
			}
		}
		if f.Message == "" {
			f.Message = n.localizedMessage
		}
		if f.Cause == nil {
			if n.cause != nil && depth < maxFaultDepth {
				f.Cause = &Fault{TypeName: unknownFaultType}
				n.cause.fill(f.Cause, depth+1)
			}
			return
		}
		f, n = f.Cause, n.cause
	}
}

// rawSupertypes are the supertypes of a type name read from the wire: those
// of the govmomi type of that name when there is one (govmomi failed to
// decode the value, not to know the type), else MethodFault alone.
func rawSupertypes(name string) []string {
	if t, ok := lookupFaultType(name); ok {
		if n, supers := faultTypeNames(t); n == name && len(supers) > 0 {
			return supers
		}
	}
	return []string{unknownFaultType}
}

// lookupFaultType finds the govmomi fault type of a vim25 or sms type name.
func lookupFaultType(name string) (reflect.Type, bool) {
	lookup := vimtypes.TypeFunc()
	for _, n := range []string{name, "sms:" + name} {
		if t, ok := lookup(n); ok && t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(baseMethodFaultType) {
			return t, true
		}
	}
	return nil, false
}

// xmlNode is an element of a parsed fault answer.
type xmlNode struct {
	name     string // local name
	xsiType  string // the xsi:type attribute, "" without one
	text     []byte // character data directly inside
	children []*xmlNode
}

// child returns the first child element named local, or nil.
func (e *xmlNode) child(local string) *xmlNode {
	if e == nil {
		return nil
	}
	for _, c := range e.children {
		if c.name == local {
			return c
		}
	}
	return nil
}

// textOf is the character data of e, "" for nil.
func textOf(e *xmlNode) string {
	if e == nil {
		return ""
	}
	return string(e.text)
}

// parseXML reads b into a tree under a nameless root. It keeps what it read
// before a syntax error, and skips elements nested deeper than
// maxFaultXMLDepth, so a truncated or hostile answer still yields its
// beginning.
func parseXML(b []byte) *xmlNode {
	root := &xmlNode{}
	stack := []*xmlNode{root}
	dec := xml.NewDecoder(bytes.NewReader(b))
	// The names sought are ASCII; a declared non-UTF-8 charset must not
	// stop the parse.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	for {
		tok, err := dec.Token()
		if err != nil {
			return root
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > maxFaultXMLDepth {
				if dec.Skip() != nil {
					return root
				}
				continue
			}
			e := &xmlNode{name: t.Name.Local, xsiType: xsiType(t.Attr)}
			top.children = append(top.children, e)
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 1 {
				top.text = append(top.text, t...)
			}
		}
	}
}

// xsiType returns the value of the xsi:type attribute among attrs.
func xsiType(attrs []xml.Attr) string {
	for _, a := range attrs {
		if a.Name.Local == "type" && (a.Name.Space == xsiNamespace || a.Name.Space == "xsi") {
			return a.Value
		}
	}
	return ""
}

// parseRawFault reads a SOAP fault answer; nil if b holds no SOAP fault.
func parseRawFault(b []byte) *rawFault {
	fault := parseXML(b).child("Envelope").child("Body").child("Fault")
	if fault == nil {
		return nil
	}
	rf := &rawFault{faultString: textOf(fault.child("faultstring"))}
	if d := fault.child("detail"); d != nil && len(d.children) > 0 {
		rf.detail = rawFaultNodeOf(d.children[0], detailTypeName(d.children[0]), 0)
	}
	return rf
}

// detailTypeName is the type name of a detail element: its xsi:type or,
// without one, its element name less the "Fault" suffix the WSDL adds
// (the detail element of SystemError is SystemErrorFault, of VimFault
// VimFaultFault).
func detailTypeName(e *xmlNode) string {
	if name := typeName(e.xsiType); name != "" {
		return name
	}
	if base, ok := strings.CutSuffix(e.name, "Fault"); ok && base != "" {
		return base
	}
	return typeName(e.name)
}

// typeName strips the namespace prefix and blanks of a type name.
func typeName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// rawFaultNodeOf reads the fault element e, at depth of the cause chain,
// named name.
func rawFaultNodeOf(e *xmlNode, name string, depth int) *rawFaultNode {
	n := &rawFaultNode{typeName: name}
	seen := make(map[string]int)
	for _, c := range e.children {
		switch c.name {
		case "faultCause":
			if n.cause != nil || depth >= maxFaultDepth {
				continue
			}
			if f := c.child("fault"); f != nil {
				n.cause = rawFaultNodeOf(f, typeName(f.xsiType), depth+1)
			} else {
				n.cause = &rawFaultNode{}
			}
			n.cause.localizedMessage = textOf(c.child("localizedMessage"))
		case "faultMessage":
			n.messages = append(n.messages, rawMessage(c))
		default:
			// A property: scalar (no child elements) and set once; a
			// repeated element is an array, which Properties leaves out
			// as it does for decoded faults.
			seen[c.name]++
			if len(c.children) > 0 || isSecret(c.name) || len(c.text) == 0 {
				continue
			}
			if n.properties == nil {
				n.properties = make(map[string]string)
			}
			n.properties[c.name] = string(c.text)
		}
	}
	for name, count := range seen {
		if count > 1 {
			delete(n.properties, name)
		}
	}
	if len(n.properties) == 0 {
		n.properties = nil
	}
	return n
}

// rawMessage reads a faultMessage element (a LocalizableMessage).
func rawMessage(e *xmlNode) Message {
	m := Message{Key: textOf(e.child("key")), Text: textOf(e.child("message"))}
	for _, a := range e.children {
		if a.name == "arg" {
			m.Args = append(m.Args, KeyValue{Key: textOf(a.child("key")), Value: textOf(a.child("value"))})
		}
	}
	return m
}
