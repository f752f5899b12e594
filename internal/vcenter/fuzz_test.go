package vcenter

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi/sms/methods"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
	`xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`

const envelopeEnd = `</soapenv:Body></soapenv:Envelope>`

// smsTypes resolves type names as the SMS client does (vim25 names, then
// "sms:" names).
func smsTypes(name string) (reflect.Type, bool) {
	lookup := vimtypes.TypeFunc()
	if t, ok := lookup(name); ok {
		return t, ok
	}
	return lookup("sms:" + name)
}

// decodeBody decodes a SOAP body the way soap.Client does for an SMS call
// that returns a task info; ok is false when the XML does not decode (or
// makes the decoder panic, which Client.RoundTrip turns into an error).
func decodeBody(body string) (res *methods.QuerySmsTaskInfoBody, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	res = new(methods.QuerySmsTaskInfoBody)
	env := soap.Envelope{Body: res}
	dec := xml.NewDecoder(strings.NewReader(envelopeStart + body + envelopeEnd))
	dec.TypeFunc = smsTypes
	if err := dec.Decode(&env); err != nil {
		return nil, false
	}
	return res, true
}

// checkFault asserts what must hold of any translated fault chain.
func checkFault(t *testing.T, f *Fault, decoded vimtypes.BaseMethodFault) {
	t.Helper()
	if f == nil {
		t.Fatal("no fault")
	}
	_ = f.Error()
	if decoded != nil && !reflect.ValueOf(decoded).IsNil() {
		// The type name must name the decoded type (or the type its
		// "XxxFault" twin wraps).
		dt := reflect.TypeOf(decoded).Elem()
		nt, ok := smsTypes(f.TypeName)
		if !ok || (nt != dt && !dt.ConvertibleTo(nt)) {
			t.Fatalf("type name %q lost the decoded type %v", f.TypeName, dt)
		}
	}
	depth := 0
	for c := f; c != nil; c = c.Cause {
		if c.TypeName == "" {
			t.Fatalf("empty type name at depth %d", depth)
		}
		for k := range c.Properties {
			if isSecret(k) {
				t.Fatalf("secret property %q", k)
			}
		}
		if depth++; depth > maxFaultDepth+1 {
			t.Fatalf("cause chain deeper than %d", maxFaultDepth)
		}
	}
}

// FuzzFaultFromXML decodes arbitrary SOAP bodies through govmomi's decoder
// and, as the SMS client's transport does for a fault answer, without it,
// and translates the fault (or the task error) they hold: no input may
// panic the translation or lose the fault's type name.
func FuzzFaultFromXML(f *testing.F) {
	for _, seed := range []string{
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>expired</faultstring><detail><InvalidCertificateFault xmlns="urn:sms" xsi:type="InvalidCertificate"><faultMessage><key>k</key><arg><key>providerName</key><value xsi:type="xsd:string">array-c</value></arg><message>m</message></faultMessage><certificate>PEM</certificate></InvalidCertificateFault></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail><InvalidSessionFault xmlns="urn:sms" xsi:type="InvalidSession"><privilegeId>System.View</privilegeId><sessionCookie>secret</sessionCookie></InvalidSessionFault></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><ProviderConnectionFailedFault xmlns="urn:sms" xsi:type="ProviderConnectionFailed"><faultCause><fault xsi:type="SystemError"><reason>Read timed out</reason></fault><localizedMessage>Read timed out</localizedMessage></faultCause></ProviderConnectionFailedFault></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>unknown</faultstring><detail><FooFault xsi:type="Foo"/></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>no detail</faultstring></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><detail><X xsi:type="InvalidCertificateFault"><certificate>c</certificate></X></detail></soapenv:Fault>`,
		`<QuerySmsTaskInfoResponse xmlns="urn:sms"><returnval><key>SmsTask-1</key><task type="SmsTask">SmsTask-1</task><state>error</state><error><fault xsi:type="ProviderConnectionFailed"><faultMessage><key>k</key></faultMessage></fault><localizedMessage>Could not connect</localizedMessage></error></returnval></QuerySmsTaskInfoResponse>`,
		`<QuerySmsTaskInfoResponse xmlns="urn:sms"><returnval><state>error</state><error><localizedMessage>no fault element</localizedMessage></error></returnval></QuerySmsTaskInfoResponse>`,
		`<QuerySmsTaskInfoResponse xmlns="urn:sms"><returnval><state>running</state><progress>40</progress></returnval></QuerySmsTaskInfoResponse>`,
		nestedFault(40),
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>foo</faultstring><detail><FooBarFault xmlns="urn:sms" xsi:type="FooBarFault"><faultMessage><key>k</key><message>m</message></faultMessage><widget>w</widget><faultCause><fault xsi:type="QuuxFault"><volume>v</volume></fault><localizedMessage>quux</localizedMessage></faultCause></FooBarFault></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>sys</faultstring><detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><faultCause><fault xsi:type="QuuxFault"/><localizedMessage>quux</localizedMessage></faultCause><reason>r</reason></SystemErrorFault></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>x</faultstring><detail><FooBarFault xmlns="urn:sms"><faultCause><fault xsi:type="SystemError"><reason>r</reason></fault></faultCause></FooBarFault></detail></soapenv:Fault>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		raw := parseRawFault([]byte(envelopeStart + body + envelopeEnd))
		rawName := unknownFaultType
		if raw != nil && raw.detail != nil && raw.detail.typeName != "" {
			rawName = raw.detail.typeName
		}
		res, ok := decodeBody(body)
		if !ok {
			if raw == nil {
				return
			}
			// govmomi could not decode the fault answer at all.
			err := translate(fmt.Errorf("query task info: %w", &rawFaultError{err: errors.New("decode"), fault: raw}))
			var got *Fault
			if !errors.As(err, &got) {
				t.Fatalf("undecodable fault answer translated to %T %v, want *Fault", err, err)
			}
			checkFault(t, got, nil)
			if got.TypeName != rawName {
				t.Fatalf("undecodable fault named %q, want %q from the wire", got.TypeName, rawName)
			}
			return
		}
		if sf := res.Fault(); sf != nil {
			var wrapped error = soap.WrapSoapFault(sf)
			if raw != nil {
				wrapped = &rawFaultError{err: wrapped, fault: raw}
			}
			err := translate(fmt.Errorf("query task info: %w", wrapped))
			var got *Fault
			if !errors.As(err, &got) {
				t.Fatalf("SOAP fault translated to %T %v, want *Fault", err, err)
			}
			var decoded vimtypes.BaseMethodFault
			if d, ok := sf.Detail.Fault.(vimtypes.BaseMethodFault); ok {
				decoded = d
			} else if sf.Detail.Fault != nil {
				p := reflect.New(reflect.TypeOf(sf.Detail.Fault))
				p.Elem().Set(reflect.ValueOf(sf.Detail.Fault))
				decoded, _ = p.Interface().(vimtypes.BaseMethodFault)
			}
			checkFault(t, got, decoded)
			if decoded == nil && got.TypeName != rawName {
				t.Fatalf("undecoded fault named %q, want %q from the wire", got.TypeName, rawName)
			}
		}
		if res.Res != nil {
			info := TaskInfoFromSMS(&res.Res.Returnval)
			if lmf := res.Res.Returnval.Error; lmf != nil {
				checkFault(t, info.Error, lmf.Fault)
			}
			if info.Progress != nil && *info.Progress == 0 {
				t.Fatal("progress 0 reported")
			}
		}
	})
}

func nestedFault(depth int) string {
	var b strings.Builder
	b.WriteString(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>deep</faultstring><detail><SystemErrorFault xsi:type="SystemError">`)
	for range depth {
		b.WriteString(`<faultCause><fault xsi:type="SystemError"><reason>r</reason>`)
	}
	for range depth {
		b.WriteString(`</fault></faultCause>`)
	}
	b.WriteString(`<reason>top</reason></SystemErrorFault></detail></soapenv:Fault>`)
	return b.String()
}

func TestTranslateEdges(t *testing.T) {
	t.Parallel()
	var nilCert *vimtypes.InvalidArgument
	tests := []struct {
		name string
		err  error
		want func(error) bool
	}{
		{"nil", nil, func(err error) bool { return err == nil }},
		{"typed nil fault", soap.WrapVimFault(nilCert), func(err error) bool {
			var f *Fault
			return errors.As(err, &f) && f.TypeName == unknownFaultType
		}},
		{"x509 unknown authority", fmt.Errorf("post: %w", x509.UnknownAuthorityError{Cert: &x509.Certificate{Raw: []byte("der")}}), func(err error) bool {
			var u *UntrustedCertificateError
			return errors.As(err, &u) && len(u.Thumbprint) == 95
		}},
		{"caller cancelled", fmt.Errorf("post: %w", context.Canceled), func(err error) bool {
			return errors.Is(err, context.Canceled) && !errors.Is(err, ErrUnreachable)
		}},
		{"SOAP fault without detail", soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "boom"}), func(err error) bool {
			var f *Fault
			return errors.As(err, &f) && f.TypeName == unknownFaultType && f.Message == "boom"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := translate(tt.err); !tt.want(got) {
				t.Errorf("translate(%v) = %v (%T)", tt.err, got, got)
			}
		})
	}
	if FaultFromLocalized(nil) != nil {
		t.Error("FaultFromLocalized(nil) != nil")
	}
	if f := FaultFromLocalized(&vimtypes.LocalizedMethodFault{LocalizedMessage: "m"}); f.TypeName != unknownFaultType || f.Message != "m" {
		t.Errorf("FaultFromLocalized without a fault = %+v", f)
	}
	loop := &vimtypes.SystemError{}
	loop.FaultCause = &vimtypes.LocalizedMethodFault{Fault: loop}
	if f := FaultFromLocalized(&vimtypes.LocalizedMethodFault{Fault: loop}); f.Find("nothing") != nil || !f.HasType("SystemError") {
		t.Errorf("self-referencing fault mistranslated")
	}
}
