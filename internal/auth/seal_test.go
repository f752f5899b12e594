package auth_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/vasagw/vasagw/internal/auth"
)

func TestSealer(t *testing.T) {
	t.Parallel()
	s, err := auth.NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	other, err := auth.NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	caller := &auth.Caller{Kind: auth.KindToken, Subject: "alice", Issuer: testIssuer, Groups: []string{"g"}, Roles: []auth.Role{auth.RoleViewer}}
	v, err := s.Seal(caller, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(v)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(caller, got); diff != "" {
		t.Errorf("opened caller (-want +got):\n%s", diff)
	}

	refusal := &auth.Error{Code: codes.Unauthenticated, Reason: auth.ReasonTokenExpired, Message: "the bearer token has expired"}
	v2, err := s.Seal(nil, refusal)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(v2)
	checkRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenExpired)

	// Anything not sealed by this very Sealer is refused.
	payload, mac, _ := strings.Cut(v, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"viewer"`, `"operator"`, 1))) + "." + mac
	for name, bad := range map[string]string{
		"other key": func() string { x, _ := other.Seal(caller, nil); return x }(),
		"forged":    forged,
		"no mac":    payload,
		"empty":     "",
		"garbage":   "!!.!!",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Open(bad)
			checkRefusal(t, err, codes.Unauthenticated, auth.ReasonUnauthenticated)
		})
	}
}
