package vcenter_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	"github.com/vmware/govmomi/vim25/soap"
	"golang.org/x/sync/errgroup"
)

// faultProxy is an HTTPS reverse proxy in front of an SMS simulator that
// answers QueryProviderInfo for chosen providers with a raw SOAP fault
// body, as a vCenter whose fault types govmomi does not know would.
// Everything else (the vim25 login, the SMS storage manager lookup) reaches
// the simulator.
type faultProxy struct {
	srv *httptest.Server

	mu     sync.Mutex
	faults map[string]string // provider id -> soapenv:Fault element
}

var providerInfoThis = regexp.MustCompile(`<QueryProviderInfo[^>]*>\s*<_this[^>]*>([^<]+)</_this>`)

// startFaultProxy starts a faultProxy in front of srv, closed at cleanup.
func startFaultProxy(t *testing.T, srv *smssim.Server) *faultProxy {
	t.Helper()
	pem, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("simulator CA file holds no certificate")
	}
	target := &url.URL{Scheme: srv.URL.Scheme, Host: srv.URL.Host}
	upstream := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport: upstream,
	}
	p := &faultProxy{faults: make(map[string]string)}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if m := providerInfoThis.FindSubmatch(body); m != nil {
			p.mu.Lock()
			fault, ok := p.faults[string(m[1])]
			p.mu.Unlock()
			if ok {
				w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, envelope(fault))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.srv.Close()
		upstream.CloseIdleConnections()
	})
	return p
}

// envelope wraps a SOAP body element the way vCenter does.
func envelope(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
}

// fault makes a soapenv:Fault element with detail as its detail content.
func fault(faultString, detail string) string {
	return `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>` + faultString +
		`</faultstring><detail>` + detail + `</detail></soapenv:Fault>`
}

// answer makes QueryProviderInfo on provider id answer with the fault.
func (p *faultProxy) answer(id, fault string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[id] = fault
}

// sessionConfig is the simulator's configuration pointed at the proxy,
// trusted by its certificate's thumbprint.
func (p *faultProxy) sessionConfig(srv *smssim.Server) vcenter.SessionConfig {
	cfg := sessionConfig(srv)
	u := *srv.URL
	u.Host = p.srv.Listener.Addr().String()
	cfg.URL = &u
	cfg.CAFile = ""
	cfg.Thumbprint = soap.ThumbprintSHA256(p.srv.Certificate())
	return cfg
}

// TestUnknownFaultTypesKeepTheirNames sends faults whose types govmomi
// does not know over real HTTPS through a Session, and checks that the
// translated *Fault keeps the vSphere type names and whatever govmomi did
// decode.
func TestUnknownFaultTypesKeepTheirNames(t *testing.T) {
	t.Parallel()
	message := `<faultMessage><key>com.example.foo</key><arg><key>array</key><value xsi:type="xsd:string">array-a</value></arg><message>Foo on array-a.</message></faultMessage>`
	wantMessages := []vcenter.Message{{Key: "com.example.foo", Args: []vcenter.KeyValue{{Key: "array", Value: "array-a"}}, Text: "Foo on array-a."}}
	unknown := []string{"MethodFault"}
	runtime := []string{"RuntimeFault", "MethodFault"}

	tests := []struct {
		name  string
		fault string
		want  *vcenter.Fault
	}{
		{
			name: "unknown outer type by xsi:type",
			fault: fault("foo bar happened", `<FooBarFault xmlns="urn:sms" xsi:type="FooBarFault">`+message+
				`<widget>w-1</widget><apiToken>t0k3n</apiToken><ids>1</ids><ids>2</ids><nested><a>b</a></nested></FooBarFault>`),
			want: &vcenter.Fault{
				TypeName: "FooBarFault", Supertypes: unknown, Message: "foo bar happened",
				Messages: wantMessages, Properties: map[string]string{"widget": "w-1"},
			},
		},
		{
			name:  "unknown outer type by element name only",
			fault: fault("foo bar happened", `<FooBarFault xmlns="urn:sms"><widget>w-1</widget></FooBarFault>`),
			want: &vcenter.Fault{
				TypeName: "FooBar", Supertypes: unknown, Message: "foo bar happened",
				Properties: map[string]string{"widget": "w-1"},
			},
		},
		{
			name:  "prefixed xsi:type",
			fault: fault("vendor", `<VendorFault xmlns="urn:sms" xmlns:v="urn:vendor" xsi:type="v:VendorArrayFault"/>`),
			want:  &vcenter.Fault{TypeName: "VendorArrayFault", Supertypes: unknown, Message: "vendor"},
		},
		{
			name: "unknown cause under a known outer type",
			fault: fault("system error", `<SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError">`+
				`<faultCause><fault xsi:type="QuuxFault">`+message+`<volume>vvol-7</volume></fault><localizedMessage>quux went wrong</localizedMessage></faultCause>`+
				`<reason>outer reason</reason></SystemErrorFault>`),
			want: &vcenter.Fault{
				TypeName: "SystemError", Supertypes: runtime, Message: "system error",
				Properties: map[string]string{"reason": "outer reason"},
				Cause: &vcenter.Fault{
					TypeName: "QuuxFault", Supertypes: unknown, Message: "quux went wrong",
					Messages: wantMessages, Properties: map[string]string{"volume": "vvol-7"},
				},
			},
		},
		{
			name: "known cause under an unknown outer type",
			fault: fault("x", `<FooBarFault xmlns="urn:sms" xsi:type="FooBarFault">`+
				`<faultCause><fault xsi:type="SystemError"><reason>Read timed out</reason></fault><localizedMessage>Read timed out</localizedMessage></faultCause></FooBarFault>`),
			want: &vcenter.Fault{
				TypeName: "FooBarFault", Supertypes: unknown, Message: "x",
				Cause: &vcenter.Fault{
					TypeName: "SystemError", Supertypes: runtime, Message: "Read timed out",
					Properties: map[string]string{"reason": "Read timed out"},
				},
			},
		},
		{
			name: "unknown under unknown under a known outer type",
			fault: fault("deep", `<ProviderConnectionFailedFault xmlns="urn:sms" xsi:type="ProviderConnectionFailed">`+
				`<faultCause><fault xsi:type="AlphaFault"><faultCause><fault xsi:type="BetaFault"/><localizedMessage>beta</localizedMessage></faultCause></fault><localizedMessage>alpha</localizedMessage></faultCause>`+
				`</ProviderConnectionFailedFault>`),
			want: &vcenter.Fault{
				TypeName: "ProviderConnectionFailed", Supertypes: runtime, Message: "deep",
				Cause: &vcenter.Fault{
					TypeName: "AlphaFault", Supertypes: unknown, Message: "alpha",
					Cause: &vcenter.Fault{TypeName: "BetaFault", Supertypes: unknown, Message: "beta"},
				},
			},
		},
		{
			name: "known type with a malformed value",
			fault: fault("certificate expired", `<InvalidCertificateFault xmlns="urn:sms" xsi:type="InvalidCertificate">`+
				`<faultMessage><key>k</key><arg><key>n</key><value xsi:type="xsd:int">not-a-number</value></arg></faultMessage>`+
				`<certificate>PEM</certificate></InvalidCertificateFault>`),
			want: &vcenter.Fault{
				TypeName: "InvalidCertificate", Supertypes: []string{"ProviderRegistrationFault", "MethodFault"}, Message: "certificate expired",
				Messages:   []vcenter.Message{{Key: "k", Args: []vcenter.KeyValue{{Key: "n", Value: "not-a-number"}}}},
				Properties: map[string]string{"certificate": "PEM"},
			},
		},
		{
			name: "truncated answer",
			fault: `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>cut</faultstring><detail>` +
				`<FooBarFault xmlns="urn:sms" xsi:type="FooBarFault"><widget>w-1</widget><faultCause><fault xsi:type="Sys`,
			// The cut-off cause is kept as one of unknown type.
			want: &vcenter.Fault{
				TypeName: "FooBarFault", Supertypes: unknown, Message: "cut", Properties: map[string]string{"widget": "w-1"},
				Cause: &vcenter.Fault{TypeName: "MethodFault"},
			},
		},
		{
			name:  "detail without a fault element",
			fault: fault("nothing inside", ``),
			want:  &vcenter.Fault{TypeName: "MethodFault", Message: "nothing inside"},
		},
	}

	srv := startServer(t, smssim.Options{})
	proxy := startFaultProxy(t, srv)
	s := newSession(t, proxy.sessionConfig(srv))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("vp-raw-%d", i)
			proxy.answer(id, tt.fault)
			_, err := s.Provider(testContext(t), id)
			var f *vcenter.Fault
			if !errors.As(err, &f) {
				t.Fatalf("err %v (%T), want *vcenter.Fault", err, err)
			}
			if diff := cmp.Diff(tt.want, f, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("fault (-want +got):\n%s", diff)
			}
			if !errors.Is(err, &vcenter.Fault{TypeName: tt.want.TypeName}) {
				t.Errorf("errors.Is does not match the type name %s", tt.want.TypeName)
			}
			if strings.Contains(fmt.Sprint(f.Properties), "t0k3n") {
				t.Errorf("a secret-looking property survived: %v", f.Properties)
			}
		})
	}
}

// TestUnknownFaultNamesPerCall sends a different unknown fault type to each
// of many concurrent calls on one Session: each call must get its own name.
func TestUnknownFaultNamesPerCall(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	proxy := startFaultProxy(t, srv)
	s := newSession(t, proxy.sessionConfig(srv))
	ctx := testContext(t)
	const calls = 40
	for i := range calls {
		proxy.answer(fmt.Sprintf("vp-c%d", i), fault("f", fmt.Sprintf(`<Vendor%dFault xmlns="urn:sms" xsi:type="Vendor%dFault"/>`, i, i)))
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range calls {
		g.Go(func() error {
			_, err := s.Provider(gctx, fmt.Sprintf("vp-c%d", i))
			var f *vcenter.Fault
			if !errors.As(err, &f) {
				return fmt.Errorf("call %d: %v, want a fault", i, err)
			}
			if want := fmt.Sprintf("Vendor%dFault", i); f.TypeName != want {
				return fmt.Errorf("call %d: fault %s, want %s", i, f.TypeName, want)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// Calls that succeed are untouched by the recording.
	if _, err := s.Provider(ctx, "vp-1"); err != nil {
		t.Fatalf("Provider vp-1 through the proxy: %v", err)
	}
}

// TestOversizedFaultLeftToGovmomi checks that a fault answer larger than
// the recording bound is passed to govmomi whole: the name is lost (the
// documented limit) but the faultstring, read after the buffered part,
// survives.
func TestOversizedFaultLeftToGovmomi(t *testing.T) {
	t.Parallel()
	srv := startServer(t, smssim.Options{})
	proxy := startFaultProxy(t, srv)
	s := newSession(t, proxy.sessionConfig(srv))
	big := strings.Repeat("x", 1<<20+10)
	proxy.answer("vp-big", `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>huge</faultstring><detail>`+
		`<FooBarFault xmlns="urn:sms" xsi:type="FooBarFault"><blob>`+big+`</blob></FooBarFault></detail></soapenv:Fault>`)
	_, err := s.Provider(testContext(t), "vp-big")
	var f *vcenter.Fault
	if !errors.As(err, &f) {
		t.Fatalf("err %v (%T), want *vcenter.Fault", err, err)
	}
	if f.TypeName != "MethodFault" || f.Message != "huge" {
		t.Errorf("fault %s %q, want MethodFault \"huge\"", f.TypeName, f.Message)
	}
}
