package service

import (
	"encoding/base64"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseProviderName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     providerName
		wantErr  bool
	}{
		{name: "plain", in: "vcenters/default/vasaProviders/vp-1", want: providerName{"default", "vp-1"}},
		{name: "colon escaped", in: "vcenters/default/vasaProviders/VasaProvider%3A1", want: providerName{"default", "VasaProvider:1"}},
		{name: "colon bare", in: "vcenters/default/vasaProviders/VasaProvider:1", want: providerName{"default", "VasaProvider:1"}},
		{name: "dots and underscores", in: "vcenters/vc_2/vasaProviders/a.b_c-d", want: providerName{"vc_2", "a.b_c-d"}},
		{name: "empty", in: "", wantErr: true},
		{name: "wrong collection", in: "vcenters/default/tasks/vp-1", wantErr: true},
		{name: "too short", in: "vcenters/default", wantErr: true},
		{name: "too long", in: "vcenters/default/vasaProviders/vp-1/x", wantErr: true},
		{name: "empty id", in: "vcenters/default/vasaProviders/", wantErr: true},
		{name: "escaped slash", in: "vcenters/default/vasaProviders/a%2Fb", wantErr: true},
		{name: "space", in: "vcenters/default/vasaProviders/a b", wantErr: true},
		{name: "bad escape", in: "vcenters/default/vasaProviders/a%zz", wantErr: true},
		{name: "xml injection", in: "vcenters/default/vasaProviders/<x>", wantErr: true},
		{name: "oversized id", in: "vcenters/default/vasaProviders/" + strings.Repeat("a", maxIDLength+1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProviderName("name", tt.in)
			if tt.wantErr {
				checkInvalidRequest(t, err, "name")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRequestID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000"} {
		if _, err := parseRequestID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"x", "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g", "123e4567-e89b-12d3-a456_426614174000"} {
		_, err := parseRequestID(bad)
		checkInvalidRequest(t, err, "request_id")
	}
}

func TestPageTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tok := encodePageToken("vcenters/default", "status = STATUS_ONLINE", 7, "vp-3")
	got, err := decodePageToken(tok, "vcenters/default", "status = STATUS_ONLINE")
	if err != nil || got != (pageToken{generation: 7, after: "vp-3"}) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	_, err = decodePageToken(tok, "vcenters/other", "status = STATUS_ONLINE")
	checkInvalidRequest(t, err, "page_token")
	_, err = decodePageToken(tok, "vcenters/default", "")
	checkInvalidRequest(t, err, "page_token")
	// A token from before generations (v1) still continues a walk.
	v1 := base64.RawURLEncoding.EncodeToString([]byte("v1|vcenters/default|vp-2"))
	if got, err := decodePageToken(v1, "vcenters/default", ""); err != nil || got != (pageToken{after: "vp-2"}) {
		t.Fatalf("v1 token: %+v, %v", got, err)
	}
}

// checkInvalidRequest asserts the gateway's malformed-request shape.
func checkInvalidRequest(t *testing.T, err error, field string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("error %v, want INVALID_ARGUMENT", err)
	}
	var reason, got string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetReason()
		case *errdetails.BadRequest:
			if len(d.GetFieldViolations()) > 0 {
				got = d.GetFieldViolations()[0].GetField()
			}
		}
	}
	if reason != "INVALID_REQUEST" || got != field {
		t.Errorf("reason %q field %q, want INVALID_REQUEST %q", reason, got, field)
	}
}

// FuzzParseNames: no input makes a name parser panic; an accepted name
// formats back to a name that parses to the same value; a refused one is
// always INVALID_ARGUMENT naming the field.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{
		"vcenters/default/vasaProviders/vp-1", "vcenters/default/tasks/SmsTask-1", "vcenters/default",
		"vcenters/default/vasaProviders/VasaProvider%3A1", "vcenters//vasaProviders/", "%", "vcenters/%2F/tasks/%00",
		"vcenters/default/vasaProviders/vp-1:reconnect", strings.Repeat("vcenters/", 50),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := parseProviderName("name", s); err == nil {
			again, err := parseProviderName("name", p.String())
			if err != nil || again != p {
				t.Fatalf("%q parsed to %+v, which formats to %q and parses to %+v, %v", s, p, p.String(), again, err)
			}
		} else {
			checkInvalidRequest(t, err, "name")
		}
		if n, err := parseTaskName("name", s); err == nil {
			if again, err := parseTaskName("name", n.String()); err != nil || again != n {
				t.Fatalf("%q: task name does not round-trip", s)
			}
		} else {
			checkInvalidRequest(t, err, "name")
		}
		if _, err := parseVCenterName("parent", s); err != nil {
			checkInvalidRequest(t, err, "parent")
		}
		if _, err := decodePageToken(s, "vcenters/default", ""); err != nil {
			checkInvalidRequest(t, err, "page_token")
		}
		if _, err := parseRequestID(s); err != nil {
			checkInvalidRequest(t, err, "request_id")
		}
	})
}
