package service

import (
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// fuzzTypeNames are the type names a fuzzed fault picks from: every listed
// type, the generic ones, and names no vCenter sends (empty, namespaced,
// invalid UTF-8, too long, digits first). The order is part of the seed
// corpus's encoding: append, do not reorder.
var fuzzTypeNames = []string{
	"", "MethodFault", "RuntimeFault", "VimFault", "SmsFault", "SystemError",
	"InvalidCertificate", "CertificateNotTrusted", "ProviderConnectionFailed", "ProviderBusy",
	"ProviderUnavailable", "ServiceNotInitialized", "AuthConnectionFailed", "SyncInProgress",
	"InactiveProvider", "NotSupported", "ManagedObjectNotFound", "NotFound", "ProviderNotFound",
	"NotAuthenticated", "InvalidLogin", "SmsInvalidLogin", "InvalidSession", "NoPermission",
	"InvalidArgument", "InvalidUrl", "DuplicateEntry", "IncorrectUsernamePassword", "AlreadyExists",
	"ProviderOutOfResource", "NotImplemented", "MethodNotFound", "RequestCanceled", "Timedout",
	"ProviderSyncFailed", "SecurityError", "sms:InvalidSession", "UnknownVendorFault", "3parFault",
	"\xff\xfeFault", "ÜberFault", ":", "a:b:", " ", "NOT_FOUND", "x",
	string(make([]byte, 300)),
}

// fuzzPropertyKeys are the property names a fuzzed fault picks from.
var fuzzPropertyKeys = []string{"certificate", "privilegeId", "invalidProperty", "sessionCookie", "reason", ""}

// fuzzResources are the resources a fuzzed call is about.
var fuzzResources = []string{testProvider, testTask, "", "vcenters/default"}

// faultReader decodes a fault from fuzz bytes; past the end it reads
// zeros, so every input decodes to some fault.
//
// Encoding of one fault: a flags byte; a type name (see typeName); then,
// as the flags say, 0x01 a message string, 0x02 messages (count, then per
// message key, text, arg count, args), 0x04 supertypes (count, names),
// 0x08 properties (count, then key selector and value), 0x10 a cause
// (another fault). A string is a length byte (mod 64) and that many bytes.
type faultReader struct {
	data []byte
	cert string
}

func (r *faultReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *faultReader) string() string {
	n := min(int(r.byte()%64), len(r.data))
	s := string(r.data[:n])
	r.data = r.data[n:]
	return s
}

// typeName reads a selector: below 0x80 an index into fuzzTypeNames, else a
// raw string of (selector & 0x3f) bytes.
func (r *faultReader) typeName() string {
	b := r.byte()
	if b < 0x80 {
		return fuzzTypeNames[int(b)%len(fuzzTypeNames)]
	}
	n := min(int(b&0x3f), len(r.data))
	s := string(r.data[:n])
	r.data = r.data[n:]
	return s
}

// value reads a property value: selector 0xff is the test certificate
// (PEM), anything else a string of that length.
func (r *faultReader) value() string {
	if len(r.data) > 0 && r.data[0] == 0xff {
		r.data = r.data[1:]
		return r.cert
	}
	return r.string()
}

func (r *faultReader) fault(depth int) *vcenter.Fault {
	flags := r.byte()
	f := &vcenter.Fault{TypeName: r.typeName()}
	if flags&0x01 != 0 {
		f.Message = r.string()
	}
	if flags&0x02 != 0 {
		f.Messages = make([]vcenter.Message, r.byte()%4)
		for i := range f.Messages {
			m := &f.Messages[i]
			m.Key, m.Text = r.string(), r.string()
			if n := r.byte() % 4; n > 0 {
				m.Args = make([]vcenter.KeyValue, n)
				for j := range m.Args {
					m.Args[j] = vcenter.KeyValue{Key: r.string(), Value: r.string()}
				}
			}
		}
	}
	if flags&0x04 != 0 {
		f.Supertypes = make([]string, r.byte()%4)
		for i := range f.Supertypes {
			f.Supertypes[i] = r.typeName()
		}
	}
	if flags&0x08 != 0 {
		f.Properties = make(map[string]string)
		for range r.byte() % 4 {
			k := fuzzPropertyKeys[int(r.byte())%len(fuzzPropertyKeys)]
			f.Properties[k] = r.value()
		}
	}
	if flags&0x10 != 0 && depth < 2*maxFaultDepth {
		f.Cause = r.fault(depth + 1)
	}
	return f
}

// FuzzFaultStatus builds arbitrarily nested, possibly malformed upstream
// faults and checks that mapping them never panics, always yields a
// non-OK status with a valid ErrorInfo and a short fixed message, keeps the
// outermost type name (and every kept level's) in the VimFault detail, and
// stays bounded in size.
func FuzzFaultStatus(f *testing.F) {
	cert, _ := testCertificate(f)
	f.Add([]byte{})
	f.Add([]byte{0x18, 5, 1, 0, 0xff, 0x00, 6})

	messages := map[string]bool{otherFaultRule.message: true, "provider not found": true, "task not found": true}
	for _, row := range faultRules {
		messages[row.message] = true
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		r := &faultReader{data: data, cert: cert}
		resource := fuzzResources[int(r.byte())%len(fuzzResources)]
		fault := r.fault(0)

		st := statusOf(fmt.Errorf("reconnect provider: %w", fault), testVCenter, resource)
		if st.Code() == codes.OK {
			t.Fatal("OK status for a fault")
		}
		if !messages[st.Message()] {
			t.Errorf("status message %q is not one of the fixed messages", st.Message())
		}
		pb := st.Proto()
		if _, err := proto.Marshal(pb); err != nil {
			t.Fatalf("status does not marshal: %v", err)
		}
		if n := proto.Size(pb); n > maxVimFaultBytes+4*maxFaultDepth*maxTypeNameLength+4*maxDetailString {
			t.Errorf("status is %d bytes", n)
		}

		details := st.Details()
		if len(details) < 3 {
			t.Fatalf("details %v: want at least ErrorInfo, LocalizedMessage, VimFault", details)
		}
		info, ok := details[0].(*errdetails.ErrorInfo)
		if !ok {
			t.Fatalf("first detail is %T, want ErrorInfo", details[0])
		}
		if !validReason(info.GetReason()) || info.GetDomain() != domainUpstream {
			t.Errorf("ErrorInfo reason %q domain %q", info.GetReason(), info.GetDomain())
		}
		if info.GetMetadata()[metadataFaultType] == "" || info.GetMetadata()[metadataVCenter] != testVCenter {
			t.Errorf("ErrorInfo metadata %v lacks faultType or vcenter", info.GetMetadata())
		}
		if resource != "" && info.GetMetadata()[metadataResource] != resource {
			t.Errorf("ErrorInfo metadata resource = %q, want %q", info.GetMetadata()[metadataResource], resource)
		}

		vf, ok := details[len(details)-1].(*vasagwv1.VimFault)
		if !ok {
			t.Fatalf("last detail is %T, want VimFault", details[len(details)-1])
		}
		// The outermost type name is never lost: verbatim when it is a
		// sane name, MethodFault when empty, otherwise its valid-UTF-8
		// prefix.
		want := fault.TypeName
		switch {
		case want == "":
			want = rootFaultType
		case !utf8.ValidString(want) || len(want) > maxTypeNameLength:
			want = clean(want, maxTypeNameLength)
		}
		if vf.GetTypeName() != want {
			t.Errorf("VimFault.typeName = %q, want %q", vf.GetTypeName(), want)
		}
		cur, level := fault, 0
		for got := vf; got != nil || cur != nil; got, cur, level = got.GetFaultCause(), cur.Cause, level+1 {
			if level == maxFaultDepth {
				if got != nil {
					t.Errorf("VimFault chain deeper than %d", maxFaultDepth)
				}
				break
			}
			if got == nil || cur == nil {
				t.Fatalf("level %d: VimFault %v for fault %v", level, got, cur)
			}
			if got.GetTypeName() != vimTypeName(cur.TypeName) {
				t.Errorf("level %d: typeName %q, want %q", level, got.GetTypeName(), vimTypeName(cur.TypeName))
			}
			if _, leaked := got.GetProperties()["sessionCookie"]; leaked {
				t.Errorf("level %d: sessionCookie in VimFault", level)
			}
		}

		// faultStatus and statusOf agree.
		if diff := cmp.Diff(pb, faultStatus(fault, testVCenter, resource).Proto(), protocmp.Transform()); diff != "" {
			t.Errorf("faultStatus and statusOf differ (-statusOf +faultStatus):\n%s", diff)
		}
	})
}
