package smssim

import (
	"bytes"
	"encoding/xml"
	"slices"
	"testing"
)

func TestVersionHelpers(t *testing.T) {
	t.Parallel()
	newer := []struct {
		a, b string
		want bool
	}{
		{"6.7.1", "6.7", true}, {"6.7", "6.7.1", false}, {"6.5", "5.0", true}, {"4.0", "4.0", false},
		{"8.0.2.0", "6.7.1", true}, {"2.0", "10.0", false}, {"x", "1.0", false},
	}
	for _, tt := range newer {
		if got := newerThan(tt.a, tt.b); got != tt.want {
			t.Errorf("newerThan(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
	actions := map[string]string{`"urn:sms/6.7.1"`: "6.7.1", "urn:sms/2.0": "2.0", "urn:sms/": "", `"urn:vim25/6.7"`: "", "": ""}
	for in, want := range actions {
		if got := requestedVersion(in); got != want {
			t.Errorf("requestedVersion(%q) = %q, want %q", in, got, want)
		}
	}
	faults := []struct {
		name, version, want string
		drop                []string
	}{
		{"InvalidCertificate", "2.0", "ProviderRegistrationFault", []string{"certificate"}},
		{"InvalidCertificate", "4.0", "InvalidCertificate", nil},
		{"InvalidCertificate", "", "InvalidCertificate", nil},
		{"TooMany", "5.0", "MethodFault", []string{"maxBatchSize"}},
		{"CertificateNotTrusted", "2.0", "CertificateNotTrusted", nil},
		{"ManagedObjectNotFound", "1.0", "ManagedObjectNotFound", nil},
	}
	for _, tt := range faults {
		got, drop := compatibleFault(tt.name, tt.version)
		if got != tt.want || !slices.Equal(drop, tt.drop) {
			t.Errorf("compatibleFault(%s, %q) = %s %v, want %s %v", tt.name, tt.version, got, drop, tt.want, tt.drop)
		}
	}
}

// FuzzRewriteSMS: whatever the answer, rewriting never panics, leaves an
// answer that is not XML as it was, and keeps XML well-formed.
func FuzzRewriteSMS(f *testing.F) {
	f.Add([]byte(`<a><soapenv:Fault><faultstring></faultstring><detail><InvalidCertificateFault xmlns="urn:vim25" xsi:type="InvalidCertificate"><certificate>x</certificate></InvalidCertificateFault></detail></soapenv:Fault></a>`), "2.0")
	f.Add([]byte(`<r><returnval xsi:type="VasaProviderInfo"><uid>u</uid><statusFault><fault xsi:type="TooMany"><maxBatchSize>1</maxBatchSize></fault></statusFault></returnval></r>`), "6.5")
	f.Add([]byte(`<QueryAboutInfoResponse><returnval><vasaApiVersion>5</vasaApiVersion></returnval></QueryAboutInfoResponse>`), "2.0")
	f.Add([]byte("not xml Fault>"), "")
	f.Fuzz(func(t *testing.T, body []byte, version string) {
		out := rewriteSMS(body, version)
		wellFormed := func(b []byte) bool {
			d := xml.NewDecoder(bytes.NewReader(b))
			for {
				if _, err := d.RawToken(); err != nil {
					return err.Error() == "EOF"
				}
			}
		}
		if !wellFormed(body) {
			if !bytes.Equal(out, body) {
				t.Errorf("rewrite changed an answer that is not XML:\n%s\n->\n%s", body, out)
			}
			return
		}
		if !wellFormed(out) {
			t.Errorf("rewrite broke well-formed XML:\n%s\n->\n%s", body, out)
		}
	})
}
