package service

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// filterProviders are the providers the filter tests match against.
func filterProviders() []*vasagwv1.VasaProvider {
	at := func(s string) *timestamppb.Timestamp {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return timestamppb.New(t)
	}
	return []*vasagwv1.VasaProvider{
		{Name: "a", DisplayName: "array-a", VasaVersion: "3.0", Status: vasagwv1.VasaProvider_STATUS_CONNECTED,
			CertificateStatus: vasagwv1.VasaProvider_CERTIFICATE_STATUS_VALID, CertificateExpireTime: at("2027-06-01T00:00:00Z")},
		{Name: "b", DisplayName: "array-b", VasaVersion: "10.1", Status: vasagwv1.VasaProvider_STATUS_DISCONNECTED,
			CertificateStatus: vasagwv1.VasaProvider_CERTIFICATE_STATUS_VALID, CertificateExpireTime: at("2026-12-20T00:00:00Z")},
		{Name: "c", DisplayName: "array-c", VasaVersion: "3.0", Status: vasagwv1.VasaProvider_STATUS_DISCONNECTED,
			CertificateStatus: vasagwv1.VasaProvider_CERTIFICATE_STATUS_EXPIRED, CertificateExpireTime: at("2026-10-01T00:00:00Z")},
		{Name: "f", DisplayName: "legacy-f", VasaVersion: "1.0", Status: vasagwv1.VasaProvider_STATUS_ONLINE},
	}
}

func TestProviderFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, filter string
		want         string // names of the matching providers, in order
	}{
		{"empty", "", "abcf"},
		{"blank", "   ", "abcf"},
		{"enum equals", "status = STATUS_DISCONNECTED", "bc"},
		{"enum not equals", "status != STATUS_DISCONNECTED", "af"},
		{"contract example", "status = STATUS_DISCONNECTED OR certificate_status != CERTIFICATE_STATUS_VALID", "bcf"},
		{"and", "status = STATUS_DISCONNECTED AND certificate_status = CERTIFICATE_STATUS_EXPIRED", "c"},
		{"implicit and", "status = STATUS_DISCONNECTED certificate_status = CERTIFICATE_STATUS_VALID", "b"},
		{"not", "NOT status = STATUS_CONNECTED", "bcf"},
		{"minus", "-status = STATUS_CONNECTED", "bcf"},
		{"parentheses", "(status = STATUS_ONLINE OR status = STATUS_CONNECTED) AND display_name = \"legacy-f\"", "f"},
		{"string equals", `display_name = "array-b"`, "b"},
		{"string prefix wildcard", `display_name = "array-*"`, "abc"},
		{"string suffix wildcard", `display_name = "*-f"`, "f"},
		{"string not equals wildcard", `display_name != "array-*"`, "f"},
		{"has substring", `display_name:"ray-c"`, "c"},
		{"has presence", `certificate_expire_time:*`, "abc"},
		{"version order by numbers", `vasa_version >= "3.0"`, "abc"},
		{"version below", `vasa_version < "2.0"`, "f"},
		{"version above ten", `vasa_version > "9"`, "b"},
		{"expiry before string", `certificate_expire_time < "2027-01-01T00:00:00Z"`, "bc"},
		{"expiry before timestamp", `certificate_expire_time < timestamp("2027-01-01T00:00:00Z")`, "bc"},
		{"expiry after", `certificate_expire_time >= "2027-01-01T00:00:00Z"`, "a"},
		{"absent expiry never compares", `certificate_expire_time != "2027-06-01T00:00:00Z"`, "bc"},
		{"not of absent comparison", `NOT certificate_expire_time < "2030-01-01T00:00:00Z"`, "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseProviderFilter(tt.filter)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.filter, err)
			}
			var got strings.Builder
			for _, p := range filterProviders() {
				if f.matches(p) {
					got.WriteString(p.GetName())
				}
			}
			if got.String() != tt.want {
				t.Errorf("%q matches %q, want %q", tt.filter, got.String(), tt.want)
			}
		})
	}
}

func TestProviderFilterRefused(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"status =",                              // syntax
		"status = STATUS_NOPE",                  // unknown enum value
		"state = STATUS_ONLINE",                 // unknown field
		"url = \"x\"",                           // a field the contract does not list
		"status = \"STATUS_ONLINE\"",            // enum against a string
		"status < STATUS_ONLINE",                // enums only compare for (in)equality
		`certificate_expire_time < "yesterday"`, // not RFC 3339
		`certificate_expire_time < 5`,           // no such overload
		"display_name",                          // not a condition
		"display_name.x = \"a\"",                // no sub-fields
		"foo(display_name)",                     // unknown function
		"(status = STATUS_ONLINE",               // unbalanced
		strings.Repeat("display_name = \"x\" OR ", 200) + "display_name = \"y\"", // too long
	} {
		_, err := parseProviderFilter(bad)
		checkInvalidRequest(t, err, "filter")
	}
}

// FuzzProviderFilter: no filter text makes parsing or evaluation panic; a
// refused one is INVALID_ARGUMENT naming `filter`; an accepted one
// evaluates, and its negation evaluates to the opposite for every
// provider.
func FuzzProviderFilter(f *testing.F) {
	for _, s := range []string{
		"", "status = STATUS_DISCONNECTED OR certificate_status != CERTIFICATE_STATUS_VALID",
		`display_name = "array-*"`, `vasa_version >= "3.0"`, `certificate_expire_time < timestamp("2027-01-01T00:00:00Z")`,
		`certificate_expire_time:*`, `-(status = STATUS_ONLINE) display_name:"a"`, `duration("1s") < duration("2s")`,
		`timestamp(display_name) > "2020-01-01T00:00:00Z"`, "((((", `"\x00"`, "a.b.c = 1", "1 = 1.5", "true",
	} {
		f.Add(s)
	}
	providers := filterProviders()
	providers = append(providers, &vasagwv1.VasaProvider{}) // every field unset
	f.Fuzz(func(t *testing.T, text string) {
		pf, err := parseProviderFilter(text)
		if err != nil {
			checkInvalidRequest(t, err, "filter")
			return
		}
		for _, p := range providers {
			pf.matches(p)
		}
		if strings.TrimSpace(text) == "" || len(text)+8 > maxFilterLength {
			return
		}
		neg, err := parseProviderFilter("NOT (" + strings.TrimSpace(text) + ")")
		if err != nil {
			// Wrapping can only fail where the text is not a whole
			// expression on its own, which the parser accepted.
			t.Fatalf("%q parses but its negation does not: %v", text, err)
		}
		for _, p := range providers {
			if pf.matches(p) == neg.matches(p) {
				t.Fatalf("%q and its negation agree on %v", text, p)
			}
		}
	})
}
