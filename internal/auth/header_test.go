package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vasagw/vasagw/internal/auth"
)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  string
		want    string
		wantErr error
	}{
		{name: "jwt", header: "Bearer aaa.bbb.ccc", want: "aaa.bbb.ccc"},
		{name: "scheme in any case", header: "bEaReR aaa.bbb.ccc", want: "aaa.bbb.ccc"},
		{name: "several spaces", header: "Bearer    abc", want: "abc"},
		{name: "token68 padding and symbols", header: "Bearer a-b_c~d+e/f.g==", want: "a-b_c~d+e/f.g=="},
		{name: "empty", header: "", wantErr: auth.ErrNoAuthorization},
		{name: "basic", header: "Basic dXNlcjpwYXNz", wantErr: auth.ErrNotBearer},
		{name: "scheme only", header: "Bearer", wantErr: auth.ErrMalformedAuthorization},
		{name: "scheme and space", header: "Bearer ", wantErr: auth.ErrMalformedAuthorization},
		{name: "tab separator", header: "Bearer\tabc", wantErr: auth.ErrNotBearer},
		{name: "two tokens", header: "Bearer abc def", wantErr: auth.ErrMalformedAuthorization},
		{name: "trailing space", header: "Bearer abc ", wantErr: auth.ErrMalformedAuthorization},
		{name: "only padding", header: "Bearer ==", wantErr: auth.ErrMalformedAuthorization},
		{name: "padding inside", header: "Bearer a=b", wantErr: auth.ErrMalformedAuthorization},
		{name: "control character", header: "Bearer abc\x00", wantErr: auth.ErrMalformedAuthorization},
		{name: "non-ASCII", header: "Bearer abcé", wantErr: auth.ErrMalformedAuthorization},
		{name: "too long", header: "Bearer " + strings.Repeat("a", 16<<10+1), wantErr: auth.ErrMalformedAuthorization},
		{name: "longest", header: "Bearer " + strings.Repeat("a", 16<<10), want: strings.Repeat("a", 16<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.ParseAuthorization(tt.header)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("token %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseAuthorization checks that no header makes the parser panic,
// that a token it returns is a token68 taken verbatim from the header, and
// that an error never carries the header's content.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer aaa.bbb.ccc", "bearer x", "Basic dXNlcjpwYXNz", "", "Bearer ", "Bearer a=b", "Bearer  ab=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := auth.ParseAuthorization(header)
		if err != nil {
			if token != "" {
				t.Fatalf("token %q returned with error %v", token, err)
			}
			if len(header) > 8 && strings.Contains(err.Error(), header) {
				t.Fatalf("error %q echoes the header", err)
			}
			return
		}
		if token == "" || !strings.HasSuffix(header, token) || len(token) > 16<<10 {
			t.Fatalf("header %q gave token %q", header, token)
		}
		if strings.ContainsAny(token, " \t\r\n\x00") {
			t.Fatalf("token %q has whitespace", token)
		}
		if !strings.EqualFold(header[:6], "Bearer") {
			t.Fatalf("header %q is not Bearer but gave a token", header)
		}
		// The token alone after a canonical scheme parses to itself.
		again, err := auth.ParseAuthorization("Bearer " + token)
		if err != nil || again != token {
			t.Fatalf("round trip of %q: %q, %v", token, again, err)
		}
	})
}
