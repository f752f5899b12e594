package service

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vasagw/vasagw/internal/vcenter"
)

// TestRedactSecret: a password that upstream text quotes is replaced
// everywhere a fault carries text (message, messages and their arguments,
// properties, causes), and in any other error's text, which still matches
// what it wrapped.
func TestRedactSecret(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-provider"
	f := &vcenter.Fault{
		TypeName: "ProviderRegistrationFault",
		Message:  "login as admin/" + secret + " refused",
		Messages: []vcenter.Message{{Key: "k", Text: "password " + secret, Args: []vcenter.KeyValue{{Key: "password", Value: secret}}}},
		Properties: map[string]string{
			"url": "https://admin:" + secret + "@array",
		},
		Cause: &vcenter.Fault{TypeName: "SystemError", Message: secret},
	}
	tests := []struct {
		name string
		err  error
	}{
		{"fault", f},
		{"wrapped fault", fmt.Errorf("register provider: %w", f)},
		{"other error", fmt.Errorf("dial %s: %w", secret, vcenter.ErrUnreachable)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := redactSecret(tt.err, secret)
			var text strings.Builder
			text.WriteString(got.Error())
			var gf *vcenter.Fault
			if errors.As(got, &gf) {
				for c := gf; c != nil; c = c.Cause {
					text.WriteString(c.Message)
					for _, m := range c.Messages {
						text.WriteString(m.Text)
						for _, a := range m.Args {
							text.WriteString(a.Value)
						}
					}
					for _, v := range c.Properties {
						text.WriteString(v)
					}
				}
				if gf.TypeName != f.TypeName || gf.Cause == nil || gf.Cause.TypeName != "SystemError" {
					t.Errorf("scrubbed fault lost its types: %+v", gf)
				}
			}
			if strings.Contains(text.String(), secret) {
				t.Errorf("secret survived: %s", text.String())
			}
			if !strings.Contains(text.String(), redacted) {
				t.Errorf("nothing was redacted: %s", text.String())
			}
			if tt.name == "other error" && !errors.Is(got, vcenter.ErrUnreachable) {
				t.Errorf("redacted error no longer matches what it wrapped")
			}
		})
	}
	if strings.Contains(f.Message, redacted) {
		t.Errorf("scrubbing changed the original fault")
	}
	if got := redactSecret(errors.New("abc"), "ab"); got.Error() != "abc" {
		t.Errorf("a secret shorter than %d characters redacted ordinary text: %v", minSecretLength, got)
	}
}
