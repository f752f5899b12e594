package cli_test

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeVasactl is what each example of README.md's vasactl section prints,
// in order. An example without an expectation, or an expectation without
// its example, fails the test: the README and this list change together.
var readmeVasactl = []struct {
	args string // the example after `go run ./cmd/vasactl `
	want string // its output contains this
}{
	{"--plaintext providers list", "vp-2   array-b    disconnected"},
	{"--plaintext providers list --filter 'status = STATUS_DISCONNECTED AND certificate_status = CERTIFICATE_STATUS_VALID'", "vp-5   array-e   disconnected"},
	{"--plaintext providers get vp-3", "vasactl providers recover vp-3"},
	{"--plaintext -o json providers get vp-1", `"status": "STATUS_CONNECTED"`},
	{"--plaintext providers reconnect vp-2 --wait", "progress 100%\nsucceeded\n"},
	{"--plaintext -o yaml providers reconnect vp-1 --wait", "state: STATE_SUCCEEDED"},
	{"--plaintext providers sync vp-1 --wait", ": sync vcenters/default/vasaProviders/vp-1\n"},
	{"--plaintext vcenters list", "\ndefault   "},
	{"--plaintext tasks --help", "Follow a task until it ends"},
}

const readmeCommand = "go run ./cmd/vasactl "

// readmeVasactlExamples returns the vasactl lines of the first sh block of
// README.md's vasactl section.
func readmeVasactlExamples(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out             []string
		inSection, inSh bool
		done            bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() && !done {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inSection = strings.HasPrefix(line, "## vasactl")
		case inSection && line == "```sh":
			inSh = true
		case inSh && strings.HasPrefix(line, "```"):
			done = true
		case inSh && strings.HasPrefix(line, readmeCommand):
			out = append(out, strings.TrimPrefix(line, readmeCommand))
		case inSh:
			t.Errorf("README vasactl block: %q is not a vasactl example", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadmeVasactlExamples runs the README's vasactl examples verbatim
// (the built binary for `go run ./cmd/vasactl`) against a fresh gateway on
// the embedded simulator, which VASACTL_ADDR points at as the default
// localhost:9090 would.
func TestReadmeVasactlExamples(t *testing.T) {
	t.Parallel()
	examples := readmeVasactlExamples(t)
	if len(examples) != len(readmeVasactl) {
		t.Fatalf("README has %d vasactl examples, the test expects %d:\n%s", len(examples), len(readmeVasactl), strings.Join(examples, "\n"))
	}
	g := startGateway(t)
	for i, ex := range examples {
		want := readmeVasactl[i]
		if ex != want.args {
			t.Fatalf("README example %d is %q, the test expects %q", i+1, ex, want.args)
		}
		cmd := exec.Command(vasactlBinary(t), shellWords(t, ex)...)
		cmd.Env = append(childEnv(t), "VASACTL_ADDR="+g.addr)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("vasactl %s: %v\n%s", ex, err, out)
			continue
		}
		if !strings.Contains(string(out), want.want) {
			t.Errorf("vasactl %s: output lacks %q:\n%s", ex, want.want, out)
		}
	}
}

// shellWords splits an example as sh would: on blanks, with '...' quoting
// (the only quoting the README's vasactl examples use).
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quoted bool
	)
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			inWord = true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in README example %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
