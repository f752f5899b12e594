package config

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeListsEveryFlag checks that README.md's Configuration table
// names every flag the gateway parses (and no flag it does not), so that
// the README, --help and the code cannot drift apart.
func TestReadmeListsEveryFlag(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	start := strings.Index(section, "## Configuration\n")
	if start < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	section = section[start+len("## Configuration\n"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	documented := map[string]bool{}
	flagRE := regexp.MustCompile("`--([a-z0-9-]+)`")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cells := strings.Split(line, "|")
		for _, m := range flagRE.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	var usage bytes.Buffer
	Usage(&usage, "vasagw")
	parsed := map[string]bool{}
	for _, line := range strings.Split(usage.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "  --"); ok {
			parsed[strings.Fields(rest)[0]] = true
		}
	}
	for f := range parsed {
		if !documented[f] {
			t.Errorf("--%s is not in README.md's Configuration table", f)
		}
	}
	for f := range documented {
		if !parsed[f] {
			t.Errorf("README.md's Configuration table lists --%s, which the gateway does not parse", f)
		}
	}
}
