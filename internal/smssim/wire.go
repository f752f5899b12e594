package smssim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// This file makes the SMS endpoint speak on the wire the way vCenter does,
// where vcsim's generic SOAP server does not, so that VMware's own SDKs
// (pyVmomi) accept it, not only govmomi:
//
//   - the vim25 session cookie's value is quoted (vmware_soap_session="…"),
//     which pyVmomi's community samples and Ansible's vmware_sms.py parse
//     with cookie.split('"')[1];
//   - /sms/sdk/vimServiceVersions.xml and /sms/sdk/vimService.wsdl describe
//     the SMS API versions, which pyVmomi's SmartStubAdapter reads first;
//   - a fault's detail element is in the namespace of its type: urn:sms for
//     SMS faults (vcsim puts every fault in urn:vim25);
//   - a fault carries a faultstring even when vcsim's dispatcher left it
//     empty (InvalidSession, ManagedObjectNotFound);
//   - the SMS version the client asked for in SOAPAction ("urn:sms/2.0") is
//     honoured: properties added in a later version are left out and fault
//     types that version does not know are sent as their nearest ancestor it
//     knows, as vCenter's version-aware serializer does, so that a client
//     built for that version can parse every answer.

// serviceVersions lists the SMS API versions the endpoint accepts in
// SOAPAction, newest first ([APIVersion] is the first).
var serviceVersions = []string{APIVersion, "8.0.1.0", "8.0.0.0", "7.0.3.0", "7.0.2.0", "7.0.1.0", "7.0", "6.7.1", "6.7", "6.5", "5.0", "4.0", "3.0", "2.0", "1.0"}

// propertySince is the SMS version that added each property of a data
// object or fault type, from the SMS type information VMware publishes (as
// in pyVmomi's SmsObjects); properties not listed are as old as their type.
var propertySince = map[string]map[string]string{
	"VasaProviderInfo": {
		"supportedProviderProfile": "4.0", "relatedStorageArray": "4.0", "providerId": "4.0",
		"certificateExpiryDate": "5.0", "certificateStatus": "5.0", "serviceLocation": "5.0",
		"needsExplicitActivation": "5.0", "retainVasaProviderCertificate": "5.0",
		"statusFault": "6.5", "maxBatchSize": "6.5", "arrayIndependentProvider": "6.5",
		"type": "6.5", "priority": "6.5", "failoverGroupId": "6.5",
		"category": "6.7",
	},
	"SmsAboutInfo": {"vasaApiVersion": "4.0"},
}

// faultSince says, for each SMS fault type added after SMS 2.0, the version
// that added it, the type it derives from and the properties it adds, so
// that an older client gets the ancestor it knows without them.
var faultSince = map[string]struct {
	since, parent string
	fields        []string
}{
	"InvalidCertificate":                {"4.0", "ProviderRegistrationFault", []string{"certificate"}},
	"InvalidUrl":                        {"4.0", "ProviderRegistrationFault", []string{"url"}},
	"CertificateAuthorityFault":         {"5.0", "ProviderRegistrationFault", []string{"faultCode"}},
	"CertificateNotImported":            {"5.0", "ProviderRegistrationFault", nil},
	"CertificateRefreshFailed":          {"5.0", "MethodFault", []string{"providerId"}},
	"CertificateRevocationFailed":       {"5.0", "MethodFault", nil},
	"SmsInvalidLogin":                   {"5.0", "MethodFault", nil},
	"VvolRebindFault":                   {"5.0", "MethodFault", nil},
	"DuplicateEntry":                    {"6.5", "MethodFault", nil},
	"InactiveProvider":                  {"6.5", "MethodFault", []string{"mapping"}},
	"InvalidProfile":                    {"6.5", "MethodFault", nil},
	"NotSupportedByProvider":            {"6.5", "MethodFault", nil},
	"ProviderBusy":                      {"6.5", "MethodFault", nil},
	"ProviderOutOfProvisioningResource": {"6.5", "MethodFault", []string{"provisioningResourceId", "availableBefore", "availableAfter", "total", "isTransient"}},
	"ProviderOutOfResource":             {"6.5", "MethodFault", nil},
	"ProviderUnavailable":               {"6.5", "MethodFault", nil},
	"TooMany":                           {"6.5", "MethodFault", []string{"maxBatchSize"}},
	"SmsFault":                          {"6.7", "MethodFault", nil},
}

// declaredType names the type of elements whose answers carry no xsi:type.
var declaredType = map[[2]string]string{
	{"QueryAboutInfoResponse", "returnval"}: "SmsAboutInfo",
}

// sessionCookiePrefix starts the Set-Cookie value of a vim25 session.
var sessionCookiePrefix = soap.SessionCookieName + "="

// wrapWire returns h with the SMS endpoint's wire fixes (see above).
func wrapWire(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qw := &cookieQuoter{ResponseWriter: w}
		if r.URL.Path != Path || r.Method != http.MethodPost {
			h.ServeHTTP(qw, r)
			return
		}
		rec := &recorder{header: make(http.Header)}
		h.ServeHTTP(rec, r)
		body := rewriteSMS(rec.body.Bytes(), requestedVersion(r.Header.Get("SOAPAction")))
		for k, v := range rec.header {
			qw.Header()[k] = v
		}
		qw.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		qw.WriteHeader(rec.code)
		_, _ = qw.Write(body)
	})
}

// serveVersions answers /sms/sdk/vimServiceVersions.xml.
func serveVersions(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	b.WriteString(xml.Header + "<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:sms</name>\n")
	fmt.Fprintf(&b, "  <version>%s</version>\n  <priorVersions>\n", serviceVersions[0])
	for _, v := range serviceVersions[1:] {
		fmt.Fprintf(&b, "   <version>%s</version>\n", v)
	}
	b.WriteString("  </priorVersions>\n </namespace>\n</namespaces>\n")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

// serveWSDL answers /sms/sdk/vimService.wsdl: the service document that
// imports the urn:sms definitions, as vCenter's does.
func serveWSDL(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `%s<definitions targetNamespace="urn:smsService" xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:interface="urn:sms">
   <import location="sms.wsdl" namespace="urn:sms"/>
   <service name="SmsService">
      <port binding="interface:SmsBinding" name="SmsPort">
         <soap:address location="https://%s%s"/>
      </port>
   </service>
</definitions>
`, xml.Header, r.Host, Path)
}

// requestedVersion reads the SMS version of a SOAPAction ("urn:sms/2.0",
// quoted or not); "" when it names none.
func requestedVersion(action string) string {
	v, ok := strings.CutPrefix(strings.Trim(strings.TrimSpace(action), `"`), "urn:"+Namespace+"/")
	if !ok {
		return ""
	}
	return v
}

// newerThan reports whether version a is later than b ("6.7.1" > "6.7" >
// "6.5"). An unparsable component counts as 0.
func newerThan(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}

// compatibleFault is the type an SMS client of version v gets for fault
// type name (itself when v knows it), and the properties to leave out.
func compatibleFault(name, v string) (string, []string) {
	var drop []string
	for {
		f, ok := faultSince[name]
		if !ok || v == "" || !newerThan(f.since, v) {
			return name, drop
		}
		drop = append(drop, f.fields...)
		name = f.parent
	}
}

// isSMSType reports whether name is a type of the sms namespace.
func isSMSType(name string) bool {
	_, ok := vimtypes.TypeFunc()(Namespace + ":" + name)
	return ok
}

// edit replaces body[start:end] with text.
type edit struct {
	start, end int64
	text       string
}

// frame is one open element of the answer being rewritten.
type frame struct {
	name   string   // local name
	ns     string   // the default namespace in effect
	typ    string   // its data type, "" when unknown
	rename string   // the end tag's new local name, "" to keep it
	drop   []string // child properties to leave out
}

// rewriteSMS applies the fault and version fixes to an SMS SOAP answer.
// It edits the bytes vcsim wrote in place, never re-encoding them, and
// returns body unchanged when it cannot parse it.
func rewriteSMS(body []byte, version string) []byte {
	if version != "" && !newerThan(serviceVersions[0], version) {
		version = "" // the newest version (or a later one): nothing to leave out
	}
	// Faults (a SOAP fault, a statusFault, a task's error) are what need
	// fixing at the newest version; any other answer is sent as it is.
	hasFault := bytes.Contains(body, []byte("Fault>")) || bytes.Contains(body, []byte("<fault"))
	if version == "" && !hasFault {
		return body
	}

	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		edits       []edit
		stack       []frame
		faultString *edit // an empty faultstring, to be filled in
		detailType  string
		objType     string
		objValue    string
	)
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var parent frame
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			name := t.Name.Local
			if dropProperty(parent, name, version) {
				if err := skipRaw(d); err != nil {
					return body
				}
				edits = append(edits, edit{off, d.InputOffset(), ""})
				continue
			}
			tag := string(body[off:d.InputOffset()])
			fr := frame{name: name, typ: xsiType(t), ns: parent.ns}
			if ns := attr(t, "xmlns"); ns != "" {
				fr.ns = ns
			}
			if fr.typ == "" {
				fr.typ = declaredType[[2]string{parent.name, name}]
			}
			if fr.typ != "" {
				if compat, drop := compatibleFault(fr.typ, version); compat != fr.typ {
					tag = strings.Replace(tag, `type="`+fr.typ+`"`, `type="`+compat+`"`, 1)
					if name == fr.typ+"Fault" {
						fr.rename = compat + "Fault"
						tag = strings.Replace(tag, "<"+name, "<"+fr.rename, 1)
					}
					fr.typ, fr.drop = compat, drop
				}
			}
			if parent.name == "detail" {
				detailType = fr.typ
				ns := "urn:vim25"
				if isSMSType(fr.typ) {
					ns = "urn:" + Namespace
				}
				tag = strings.Replace(tag, `xmlns="urn:vim25"`, `xmlns="`+ns+`"`, 1)
				fr.ns = ns
			} else if raw := rawXSIType(t); raw != "" && !strings.Contains(raw, ":") && fr.typ != "" {
				// A type of the other namespace than the one in effect
				// (a vim25 SystemError as the cause of an SMS fault): name
				// it with its namespace, as vCenter's serializer does.
				if want := typeNamespace(fr.typ); want != "" && want != fr.ns {
					prefix := strings.TrimPrefix(want, "urn:")
					tag = strings.Replace(tag, `type="`+fr.typ+`"`, `type="`+prefix+":"+fr.typ+`"`, 1)
					tag = declareNamespace(tag, prefix, want)
				}
			}
			if tag != string(body[off:d.InputOffset()]) {
				edits = append(edits, edit{off, d.InputOffset(), tag})
			}
			if name == "faultstring" {
				start := d.InputOffset()
				next, err := d.RawToken()
				if err != nil {
					return body
				}
				if end, ok := next.(xml.EndElement); ok && end.Name.Local == "faultstring" {
					faultString = &edit{start: start, end: start}
					continue
				}
				stack = append(stack, fr)
				if cd, ok := next.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
					faultString = &edit{start: start, end: d.InputOffset()}
				}
				continue
			}
			if name == "obj" && parent.typ == "ManagedObjectNotFound" {
				objType = attr(t, "type")
				if cd, err := d.RawToken(); err == nil {
					if c, ok := cd.(xml.CharData); ok {
						objValue = string(c)
					} else if _, ok := cd.(xml.EndElement); ok {
						continue
					}
				}
			}
			stack = append(stack, fr)
		case xml.EndElement:
			if len(stack) == 0 {
				return body
			}
			fr := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if fr.rename != "" {
				edits = append(edits, edit{off, d.InputOffset(), "</" + fr.rename + ">"})
			}
		}
	}
	if faultString != nil {
		faultString.text = xmlEscape(defaultFaultString(detailType, objType, objValue))
		edits = append(edits, *faultString)
	}
	if len(edits) == 0 {
		return body
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var out bytes.Buffer
	out.Grow(len(body))
	var at int64
	for _, e := range edits {
		if e.start < at {
			continue // inside an element already left out
		}
		out.Write(body[at:e.start])
		out.WriteString(e.text)
		at = e.end
	}
	out.Write(body[at:])
	return out.Bytes()
}

// skipRaw consumes tokens up to the end of the element just started. It
// pairs with RawToken, which (unlike Token, which Decoder.Skip uses) keeps
// no element stack.
func skipRaw(d *xml.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := d.RawToken()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// dropProperty reports whether the child name of parent is a property the
// client's version v does not know.
func dropProperty(parent frame, name, v string) bool {
	for _, f := range parent.drop {
		if f == name {
			return true
		}
	}
	if v == "" {
		return false
	}
	since, ok := propertySince[parent.typ][name]
	return ok && newerThan(since, v)
}

// defaultFaultString is the faultstring vCenter sends for a fault vcsim
// left without one.
func defaultFaultString(typeName, objType, objValue string) string {
	switch typeName {
	case "ManagedObjectNotFound":
		return fmt.Sprintf("The object '%s:%s' has already been deleted or has not been completely created", objType, objValue)
	case "InvalidSession":
		return "The session is not authenticated."
	case "":
		return "A general system error occurred."
	}
	return typeName
}

// typeNamespace is the namespace of the SMS or vim25 type name, "" when it
// is neither.
func typeNamespace(name string) string {
	if isSMSType(name) {
		return "urn:" + Namespace
	}
	if _, ok := vimtypes.TypeFunc()(name); ok {
		return "urn:vim25"
	}
	return ""
}

// declareNamespace adds xmlns:prefix="ns" to the start tag tag.
func declareNamespace(tag, prefix, ns string) string {
	end := len(tag) - 1
	if strings.HasSuffix(tag, "/>") {
		end--
	}
	return tag[:end] + ` xmlns:` + prefix + `="` + ns + `"` + tag[end:]
}

// rawXSIType returns an element's xsi:type attribute as written (vcsim
// also writes it with the prefix _XMLSchema-instance).
func rawXSIType(t xml.StartElement) string {
	for _, a := range t.Attr {
		if a.Name.Local == "type" && (a.Name.Space == "xsi" || strings.HasSuffix(a.Name.Space, "XMLSchema-instance")) {
			return a.Value
		}
	}
	return ""
}

// xsiType returns the local part of an element's xsi:type attribute.
func xsiType(t xml.StartElement) string {
	for _, a := range t.Attr {
		if a.Name.Local == "type" && (a.Name.Space == "xsi" || strings.HasSuffix(a.Name.Space, "XMLSchema-instance")) {
			if i := strings.LastIndexByte(a.Value, ':'); i >= 0 {
				return a.Value[i+1:]
			}
			return a.Value
		}
	}
	return ""
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// recorder buffers an answer so that it can be rewritten.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// cookieQuoter quotes the value of the vim25 session cookie in Set-Cookie,
// as vCenter sends it: vmware_soap_session="52a0…"; Path=/; HttpOnly; Secure.
type cookieQuoter struct {
	http.ResponseWriter
	wrote bool
}

func (c *cookieQuoter) WriteHeader(code int) {
	if !c.wrote {
		c.wrote = true
		h := c.ResponseWriter.Header()
		for i, v := range h["Set-Cookie"] {
			rest, ok := strings.CutPrefix(v, sessionCookiePrefix)
			if !ok || strings.HasPrefix(rest, `"`) {
				continue
			}
			value, _, _ := strings.Cut(rest, ";")
			h["Set-Cookie"][i] = sessionCookiePrefix + `"` + value + `"; Path=/; HttpOnly; Secure;`
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cookieQuoter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}
