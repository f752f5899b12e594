package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// Reasons (ErrorInfo.reason) that vasactl adds advice for.
const (
	reasonInvalidCertificate    = "INVALID_CERTIFICATE"
	reasonCertificateNotTrusted = "CERTIFICATE_NOT_TRUSTED"
	metadataFingerprint         = "certificateSha256Fingerprint"
	metadataResource            = "resource"
)

// hints carry what advice in an error message needs.
type hints struct {
	vcenter string
	// resume, when set, is the command that resumes a failed recovery.
	resume string
}

// statusFacts are the details of a gateway status vasactl reads.
type statusFacts struct {
	message  string // LocalizedMessage, else the status message
	reason   string
	domain   string
	metadata map[string]string
	details  []any
}

func factsOf(st *status.Status) statusFacts {
	f := statusFacts{message: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			f.reason, f.domain, f.metadata = d.GetReason(), d.GetDomain(), d.GetMetadata()
		case *errdetails.LocalizedMessage:
			if d.GetMessage() != "" {
				f.message = d.GetMessage()
			}
		default:
			f.details = append(f.details, d)
		}
	}
	return f
}

// writeStatus prints a gateway error for a person: the LocalizedMessage,
// the code and reason, then every detail that tells what to do (recovery
// steps from Help, precondition, retry delay, bad fields, the VimFault).
// For INVALID_CERTIFICATE it adds the `vasactl providers recover` command
// that does the three steps.
func writeStatus(w io.Writer, st *status.Status, h hints) {
	writeStatusAs(w, "Error", st, h)
}

// writeStatusAs is [writeStatus] with another label than "Error" (a
// provider's status fault, a task's error).
func writeStatusAs(w io.Writer, label string, st *status.Status, h hints) {
	f := factsOf(st)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", label, oneLine(f.message))
	if f.reason != "" {
		fmt.Fprintf(&b, "  reason:   %s (%s)\n", oneLine(f.reason), codeName(st))
	} else {
		fmt.Fprintf(&b, "  code:     %s\n", codeName(st))
	}
	resource := oneLine(f.metadata[metadataResource])
	fp := oneLine(f.metadata[metadataFingerprint])
	if resource != "" {
		fmt.Fprintf(&b, "  resource: %s\n", resource)
	}
	if fp != "" {
		fmt.Fprintf(&b, "  certificate SHA-256 fingerprint: %s\n", fp)
	}
	for _, d := range f.details {
		writeDetail(&b, d)
	}
	switch f.reason {
	case reasonInvalidCertificate:
		if resource != "" {
			fmt.Fprintf(&b, "  vasactl does these steps safely in one command (it checks the new certificate before it unregisters anything):\n")
			fmt.Fprintf(&b, "    vasactl providers recover %s --username USER --password-file FILE --wait\n", shortRef(resource))
		}
	case reasonCertificateNotTrusted:
		if fp != "" {
			fmt.Fprintf(&b, "  if that is the provider's certificate, run the command again with --certificate-fingerprint %s\n", fp)
		}
	}
	if h.resume != "" {
		fmt.Fprintf(&b, "  to resume from the failed step:\n    %s\n", oneLine(h.resume))
	}
	io.WriteString(w, b.String())
}

func writeDetail(b *strings.Builder, d any) {
	switch d := d.(type) {
	case *errdetails.Help:
		if len(d.GetLinks()) == 0 {
			return
		}
		b.WriteString("  to recover:\n")
		for i, l := range d.GetLinks() {
			fmt.Fprintf(b, "    %d. %s\n", i+1, oneLine(l.GetDescription()))
			if l.GetUrl() != "" {
				fmt.Fprintf(b, "       %s\n", oneLine(l.GetUrl()))
			}
		}
	case *errdetails.PreconditionFailure:
		for _, v := range d.GetViolations() {
			fmt.Fprintf(b, "  precondition: %s\n", oneLine(v.GetDescription()))
		}
	case *errdetails.RetryInfo:
		if d.GetRetryDelay() != nil {
			fmt.Fprintf(b, "  retry after: %s\n", d.GetRetryDelay().AsDuration())
		}
	case *errdetails.BadRequest:
		for _, v := range d.GetFieldViolations() {
			fmt.Fprintf(b, "  field %s: %s\n", oneLine(v.GetField()), oneLine(v.GetDescription()))
		}
	case *errdetails.ResourceInfo:
		if d.GetDescription() != "" {
			fmt.Fprintf(b, "  %s\n", oneLine(d.GetDescription()))
		}
	case *errdetails.QuotaFailure:
		for _, v := range d.GetViolations() {
			fmt.Fprintf(b, "  quota: %s\n", oneLine(v.GetDescription()))
		}
	case *vasagwv1.VimFault:
		writeVimFault(b, d, "  ")
	}
}

// writeVimFault prints the upstream fault's type and messages, and its
// scalar properties except the certificate PEM (its fingerprint is shown).
func writeVimFault(b *strings.Builder, f *vasagwv1.VimFault, indent string) {
	fmt.Fprintf(b, "%svCenter fault: %s\n", indent, oneLine(f.GetTypeName()))
	for _, m := range f.GetFaultMessage() {
		if m.GetMessage() != "" {
			fmt.Fprintf(b, "%s  %s\n", indent, oneLine(m.GetMessage()))
		}
	}
	keys := make([]string, 0, len(f.GetProperties()))
	for k := range f.GetProperties() {
		if k != "certificate" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s  %s: %s\n", indent, oneLine(k), oneLine(f.GetProperties()[k]))
	}
	if c := f.GetFaultCause(); c != nil {
		writeVimFault(b, c, indent+"  ")
	}
}

// codeName is the code as the gRPC spec spells it (FAILED_PRECONDITION).
func codeName(st *status.Status) string {
	return codeText(st.Code().String())
}

// codeText turns grpc-go's code names (FailedPrecondition) into the spec's.
func codeText(s string) string {
	switch s {
	case "OK":
		return s
	case "Canceled":
		return "CANCELLED" // the spelling of the gRPC spec
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// oneLine keeps a message on one line, so that it cannot forge output.
// Control characters (a terminal escape, say) are dropped.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// statusOf is the status a Task or VCenter carries as google.rpc.Status.
func statusOf(s *spb.Status) *status.Status { return status.FromProto(s) }
