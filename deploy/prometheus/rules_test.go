package prometheus

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ruleFile is the part of a Prometheus rule file this test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestRulesShape: the rules parse, every alert has a severity and a
// summary, the certificate warning looks 30 days ahead, and every metric
// the rules use is one the gateway exports.
func TestRulesShape(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("vasagw-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	exported, err := os.ReadFile("../../internal/telemetry/fleet.go")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	metric := regexp.MustCompile(`vasagw_[a-z_]+`)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: no severity label or no summary", r.Alert)
			}
			for _, m := range metric.FindAllString(r.Expr, -1) {
				if !strings.Contains(string(exported), `"`+m+`"`) {
					t.Errorf("alert %s uses %s, which internal/telemetry does not export", r.Alert, m)
				}
			}
			if r.Alert == "VasaProviderCertificateExpiresSoon" && !strings.Contains(r.Expr, "30 * 24 * 3600") {
				t.Errorf("the certificate warning does not look 30 days ahead: %s", r.Expr)
			}
		}
	}
	for _, want := range []string{"VasaProviderCertificateExpiresSoon", "VasaProviderCertificateExpired", "VasaProviderDown"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestRulesWithPromtool: promtool accepts the rules and their unit tests
// (vasagw-rules.test.yaml) pass. It skips without promtool, unless
// VASAGW_PROMTOOL_TESTS=required (.ci/run installs Debian's prometheus
// package for it).
func TestRulesWithPromtool(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("VASAGW_PROMTOOL_TESTS") == "required" {
			t.Fatal("promtool is not installed (.ci/run installs it)")
		}
		t.Skip("promtool is not installed; .ci/run installs it and sets VASAGW_PROMTOOL_TESTS=required")
	}
	for _, args := range [][]string{{"check", "rules", "vasagw-rules.yaml"}, {"test", "rules", "vasagw-rules.test.yaml"}} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
