package smssim_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/smssim"
)

// rawClient speaks plain HTTP to a Server, to see the SMS endpoint's wire
// format as VMware's SDKs see it.
type rawClient struct {
	t      *testing.T
	srv    *smssim.Server
	hc     *http.Client
	cookie string
}

func newRawClient(t *testing.T, srv *smssim.Server) *rawClient {
	t.Helper()
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(srv.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA file: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	return &rawClient{t: t, srv: srv, hc: hc}
}

func (c *rawClient) do(method, path, action, body string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, "https://"+c.srv.URL.Host+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if action != "" {
		req.Header.Set("SOAPAction", action)
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res, string(b)
}

const envelope = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">%s<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`

// login logs in over /sdk and keeps the session cookie's value.
func (c *rawClient) login() *http.Response {
	c.t.Helper()
	res, body := c.do(http.MethodPost, "/sdk", `"urn:vim25/8.0.2.0"`, strings.Replace(strings.Replace(envelope, "%s", "", 1), "%s",
		`<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>`+c.srv.Username+`</userName><password>`+c.srv.Password+`</password></Login>`, 1))
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("login: %s %s", res.Status, body)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "vmware_soap_session" {
			c.cookie = ck.Value
		}
	}
	return res
}

// sms calls the SMS endpoint with the session cookie as vcSessionCookie.
func (c *rawClient) sms(version, call string) (*http.Response, string) {
	c.t.Helper()
	header := `<soapenv:Header><vcSessionCookie>` + c.cookie + `</vcSessionCookie></soapenv:Header>`
	action := ""
	if version != "" {
		action = `"urn:sms/` + version + `"`
	}
	return c.do(http.MethodPost, smssim.Path, action, strings.Replace(strings.Replace(envelope, "%s", header, 1), "%s", call, 1))
}

func TestSessionCookieQuoted(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := newRawClient(t, srv)
	res := c.login()
	set := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(set, `vmware_soap_session="`) || strings.Count(set, `"`) != 2 {
		t.Fatalf("Set-Cookie %q, want the value quoted as vCenter does", set)
	}
	// The community parsing: cookie.split('"')[1].
	if got := strings.Split(set, `"`)[1]; got != c.cookie || got == "" {
		t.Errorf("split('\"')[1] = %q, session %q", got, c.cookie)
	}
	if res, body := c.sms("", `<QueryStorageManager xmlns="urn:sms"><_this type="SmsServiceInstance">ServiceInstance</_this></QueryStorageManager>`); res.StatusCode != http.StatusOK {
		t.Errorf("SMS call with the parsed cookie: %s %s", res.Status, body)
	}
}

func TestServiceVersionDocuments(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := newRawClient(t, srv)

	res, body := c.do(http.MethodGet, smssim.Path+"/vimServiceVersions.xml", "", "")
	var doc struct {
		XMLName   xml.Name `xml:"namespaces"`
		Version   string   `xml:"version,attr"`
		Namespace []struct {
			Name    string   `xml:"name"`
			Version string   `xml:"version"`
			Prior   []string `xml:"priorVersions>version"`
		} `xml:"namespace"`
	}
	if res.StatusCode != http.StatusOK || xml.Unmarshal([]byte(body), &doc) != nil || doc.Version != "1.0" || len(doc.Namespace) != 1 {
		t.Fatalf("vimServiceVersions.xml: %s %s", res.Status, body)
	}
	ns := doc.Namespace[0]
	if ns.Name != "urn:sms" || ns.Version != smssim.APIVersion {
		t.Errorf("namespace %+v", ns)
	}
	for _, want := range []string{"6.7.1", "6.5", "5.0", "2.0"} { // pyVmomi 6.7.1's SMS versions
		found := false
		for _, v := range ns.Prior {
			found = found || v == want
		}
		if !found {
			t.Errorf("priorVersions %v lack %s", ns.Prior, want)
		}
	}

	res, body = c.do(http.MethodGet, smssim.Path+"/vimService.wsdl", "", "")
	var wsdl struct {
		Import struct {
			Namespace string `xml:"namespace,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/ import"`
	}
	if res.StatusCode != http.StatusOK || xml.Unmarshal([]byte(body), &wsdl) != nil || wsdl.Import.Namespace != "urn:sms" {
		t.Errorf("vimService.wsdl: %s %s", res.Status, body)
	}
}

// faultDetail is the first element of a SOAP fault's detail.
type faultDetail struct {
	String string `xml:"Body>Fault>faultstring"`
	Detail struct {
		Inner []struct {
			XMLName xml.Name
			Type    string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			Inner   []byte `xml:",innerxml"`
		} `xml:",any"`
	} `xml:"Body>Fault>detail"`
}

func parseFault(t *testing.T, body string) (faultString string, name xml.Name, typ, inner string) {
	t.Helper()
	var f faultDetail
	if err := xml.Unmarshal([]byte(body), &f); err != nil || len(f.Detail.Inner) != 1 {
		t.Fatalf("not a SOAP fault with one detail (%v): %s", err, body)
	}
	d := f.Detail.Inner[0]
	return f.String, d.XMLName, d.Type, string(d.Inner)
}

func TestFaultWireFormat(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := newRawClient(t, srv)
	c.login()
	reconnect := `<VasaProviderReconnect_Task xmlns="urn:sms"><_this type="VasaProvider">vp-3</_this></VasaProviderReconnect_Task>`
	unknown := `<QueryProviderInfo xmlns="urn:sms"><_this type="VasaProvider">vp-404</_this></QueryProviderInfo>`
	tests := []struct {
		name, version, call string
		cookie              string // "" keeps the session's
		wantString          string // a substring of faultstring
		wantNS, wantElem    string
		wantType            string
		wantInner, notInner string
	}{
		{name: "sms fault in urn:sms", call: reconnect, wantString: "expired", wantNS: "urn:sms", wantElem: "InvalidCertificateFault", wantType: "InvalidCertificate", wantInner: "<certificate>"},
		{name: "vim fault stays in urn:vim25, with a faultstring", call: unknown, wantString: "VasaProvider:vp-404", wantNS: "urn:vim25", wantElem: "ManagedObjectNotFoundFault", wantType: "ManagedObjectNotFound"},
		{name: "InvalidSession has a faultstring", cookie: "not-a-session", call: unknown, wantString: "not authenticated", wantNS: "urn:sms", wantElem: "InvalidSessionFault", wantType: "InvalidSession"},
		{name: "SMS 2.0 gets the ancestor it knows", version: "2.0", call: reconnect, wantString: "expired", wantNS: "urn:sms", wantElem: "ProviderRegistrationFaultFault", wantType: "ProviderRegistrationFault", notInner: "<certificate>"},
		{name: "SMS 4.0 knows InvalidCertificate", version: "4.0", call: reconnect, wantNS: "urn:sms", wantElem: "InvalidCertificateFault", wantType: "InvalidCertificate", wantInner: "<certificate>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc := *c
			if tt.cookie != "" {
				cc.cookie = tt.cookie
			}
			res, body := cc.sms(tt.version, tt.call)
			if res.StatusCode != http.StatusInternalServerError {
				t.Fatalf("%s %s", res.Status, body)
			}
			fs, name, typ, inner := parseFault(t, body)
			if fs == "" || !strings.Contains(fs, tt.wantString) {
				t.Errorf("faultstring %q, want one containing %q", fs, tt.wantString)
			}
			if name.Space != tt.wantNS || name.Local != tt.wantElem || typ != tt.wantType {
				t.Errorf("detail <%s xmlns=%q xsi:type=%q>, want <%s xmlns=%q xsi:type=%q>", name.Local, name.Space, typ, tt.wantElem, tt.wantNS, tt.wantType)
			}
			if tt.wantInner != "" && !strings.Contains(inner, tt.wantInner) {
				t.Errorf("detail lacks %s: %s", tt.wantInner, inner)
			}
			if tt.notInner != "" && strings.Contains(inner, tt.notInner) {
				t.Errorf("detail has %s, which SMS %s does not know: %s", tt.notInner, tt.version, inner)
			}
			if res.Header.Get("Content-Length") != "" && res.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d for %d bytes", res.ContentLength, len(body))
			}
		})
	}
}

func TestRequestedVersionHonoured(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	c := newRawClient(t, srv)
	c.login()
	info := `<QueryProviderInfo xmlns="urn:sms"><_this type="VasaProvider">vp-3</_this></QueryProviderInfo>`
	about := `<QueryAboutInfo xmlns="urn:sms"><_this type="SmsServiceInstance">ServiceInstance</_this></QueryAboutInfo>`
	tests := []struct {
		version, call string
		has, hasNot   []string
	}{
		{"2.0", info, []string{"<uid>", "<url>", "<certificate>", "<status>", "<supportedProfile>", "<lastSyncTime>"},
			[]string{"<statusFault>", "<certificateStatus>", "<certificateExpiryDate>", "<relatedStorageArray>", "<supportedProviderProfile>", "<providerId>", "<maxBatchSize>", "<category>", "<type>"}},
		{"5.0", info, []string{"<certificateStatus>", "<relatedStorageArray>", "<providerId>", "<serviceLocation>", "<needsExplicitActivation>"},
			[]string{"<statusFault>", "<maxBatchSize>", "<category>", "<arrayIndependentProvider>"}},
		{"6.5", info, []string{"<statusFault>", "<maxBatchSize>", "<type>", "<arrayIndependentProvider>"}, []string{"<category>"}},
		{"6.7.1", info, []string{"<category>", "<statusFault>"}, nil},
		{"", info, []string{"<category>", "<statusFault>"}, nil},
		{"2.0", about, []string{"<apiVersion>"}, []string{"<vasaApiVersion>"}},
		// A vim25 type inside an SMS answer is named with its namespace,
		// whatever the version (none: the newest).
		{"", strings.Replace(info, "vp-3", "vp-4", 1), []string{`type="vim25:SystemError" xmlns:vim25="urn:vim25"`, `type="ProviderConnectionFailed"`}, []string{`type="SystemError"`}},
		{"4.0", about, []string{"<vasaApiVersion>"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.version+" "+tt.call[1:strings.IndexByte(tt.call, ' ')], func(t *testing.T) {
			t.Parallel()
			res, body := c.sms(tt.version, tt.call)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s %s", res.Status, body)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("answer lacks %s", s)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("SMS %s answer has %s", tt.version, s)
				}
			}
			if err := xml.Unmarshal([]byte(body), new(struct{})); err != nil {
				t.Errorf("rewritten answer is not XML: %v", err)
			}
		})
	}
}

// TestTaskErrorNamespaces: a task's error, with a vim25 cause, names each
// type with its namespace even for a client that asks for no version.
func TestTaskErrorNamespaces(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := startServer(t, smssim.Options{Now: clk.Now})
	c := newRawClient(t, srv)
	c.login()
	res, body := c.sms("", `<VasaProviderReconnect_Task xmlns="urn:sms"><_this type="VasaProvider">vp-5</_this></VasaProviderReconnect_Task>`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("reconnect vp-5: %s %s", res.Status, body)
	}
	var task struct {
		Value string `xml:"Body>VasaProviderReconnect_TaskResponse>returnval"`
	}
	if err := xml.Unmarshal([]byte(body), &task); err != nil || task.Value == "" {
		t.Fatalf("reconnect answer %s", body)
	}
	clk.Advance(10 * time.Second) // past the task's failure
	_, body = c.sms("", `<QuerySmsTaskInfo xmlns="urn:sms"><_this type="SmsTask">`+task.Value+`</_this></QuerySmsTaskInfo>`)
	if !strings.Contains(body, "<state>error</state>") {
		t.Fatalf("task info %s", body)
	}
	if !strings.Contains(body, `type="vim25:SystemError" xmlns:vim25="urn:vim25"`) || !strings.Contains(body, `type="ProviderConnectionFailed"`) {
		t.Errorf("task error types not in their namespaces: %s", body)
	}
}
