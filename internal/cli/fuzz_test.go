package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// FuzzResolveName: whatever the caller types, a name vasactl sends is
// vcenters/{vcenter}/{collection}/{id} with no empty or extra segment.
func FuzzResolveName(f *testing.F) {
	for _, s := range []string{"vp-1", "vcenters/east/vasaProviders/vp-1", "vcenters//vasaProviders/x", "a/b", "", "vcenters/x/tasks/y", "vasa:prov.1"} {
		f.Add(s)
	}
	a := &app{conn: connection{vcenter: "default"}}
	f.Fuzz(func(t *testing.T, arg string) {
		name, err := a.resolveName("vasaProviders", arg)
		if err != nil {
			return
		}
		parts := strings.Split(name, "/")
		if len(parts) != 4 || parts[0] != "vcenters" || parts[2] != "vasaProviders" || parts[1] == "" || parts[3] == "" {
			t.Fatalf("resolveName(%q) = %q", arg, name)
		}
	})
}

// FuzzWriteStatus: an error from the gateway, however odd its details,
// prints without panicking, and cannot forge vasactl's output: no control
// characters, and every line after the first is indented under it.
func FuzzWriteStatus(f *testing.F) {
	seed := func(details ...proto.Message) []byte {
		st := &spb.Status{Code: int32(codes.FailedPrecondition), Message: "m"}
		for _, d := range details {
			a, err := anypb.New(d)
			if err != nil {
				f.Fatal(err)
			}
			st.Details = append(st.Details, a)
		}
		b, err := proto.Marshal(st)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(seed())
	f.Add(seed(&errdetails.ErrorInfo{Reason: "INVALID_CERTIFICATE", Metadata: map[string]string{"resource": "vcenters/x/vasaProviders/y\n\x1b[2J", "certificateSha256Fingerprint": "AB"}},
		&errdetails.LocalizedMessage{Message: "line one\nError: forged"},
		&errdetails.Help{Links: []*errdetails.Help_Link{{Description: "d\r\n", Url: "u\x07"}}},
		&vasagwv1.VimFault{TypeName: "T\n", Properties: map[string]string{"k\n": "v\x1b"}, FaultCause: &vasagwv1.VimFault{TypeName: "C"}}))
	f.Add(seed(&errdetails.ErrorInfo{Reason: "CERTIFICATE_NOT_TRUSTED", Metadata: map[string]string{"certificateSha256Fingerprint": "AA:BB"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "filter\n", Description: "bad"}}},
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{Description: "x"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st spb.Status
		if proto.Unmarshal(b, &st) != nil {
			return
		}
		var out bytes.Buffer
		writeStatus(&out, status.FromProto(&st), hints{vcenter: "default", resume: "vasactl providers recover x"})
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if !strings.HasPrefix(lines[0], "Error: ") {
			t.Fatalf("first line %q", lines[0])
		}
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "  ") {
				t.Fatalf("line %q is not indented under the error:\n%s", l, out.String())
			}
		}
		for _, r := range out.String() {
			if r != '\n' && (unicode.IsControl(r) || r == 0x7f) {
				t.Fatalf("control character %U in:\n%q", r, out.String())
			}
		}
	})
}

// TestExitStatus: the documented table, code by code.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		code codes.Code
		want int
		text string
	}{
		{"ok", codes.OK, 0, "OK"},
		{"cancelled", codes.Canceled, 11, "CANCELLED"},
		{"invalid argument", codes.InvalidArgument, 13, "INVALID_ARGUMENT"},
		{"deadline", codes.DeadlineExceeded, 14, "DEADLINE_EXCEEDED"},
		{"not found", codes.NotFound, 15, "NOT_FOUND"},
		{"already exists", codes.AlreadyExists, 16, "ALREADY_EXISTS"},
		{"permission denied", codes.PermissionDenied, 17, "PERMISSION_DENIED"},
		{"resource exhausted", codes.ResourceExhausted, 18, "RESOURCE_EXHAUSTED"},
		{"failed precondition", codes.FailedPrecondition, 19, "FAILED_PRECONDITION"},
		{"aborted", codes.Aborted, 20, "ABORTED"},
		{"unimplemented", codes.Unimplemented, 22, "UNIMPLEMENTED"},
		{"internal", codes.Internal, 23, "INTERNAL"},
		{"unavailable", codes.Unavailable, 24, "UNAVAILABLE"},
		{"unauthenticated", codes.Unauthenticated, 26, "UNAUTHENTICATED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := ExitStatus(c.code); got != c.want {
				t.Errorf("ExitStatus(%v) = %d, want %d", c.code, got, c.want)
			}
			if got := codeText(c.code.String()); got != c.text {
				t.Errorf("codeText(%v) = %q, want %q", c.code, got, c.text)
			}
			if row := fmt.Sprintf("%d %s", c.want, c.text); c.code != codes.OK && !strings.Contains(exitStatusHelp, row) {
				t.Errorf("%q is not in the help table", row)
			}
		})
	}
}
