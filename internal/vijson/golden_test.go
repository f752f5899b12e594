package vijson_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// volatile are the members whose values differ from run to run (clocks,
// generated certificates, session keys); their values are pinned as
// "<volatile>", their presence is not.
var volatile = map[string]bool{
	"startTime": true, "completionTime": true, "loginTime": true, "lastActiveTime": true,
	"certificate": true, "certificateExpiryDate": true, "lastSyncTime": true,
}

// volatileIn are members volatile only in objects of one type.
var volatileIn = map[string]map[string]bool{
	"UserSession": {"key": true},
}

var (
	port        = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	gatewayTask = regexp.MustCompile(`vasagw-[0-9a-f-]{36}`)
	timestamp   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
)

// golden compares an answer with testdata/golden/NAME.json: the status,
// the content type and the body, member order aside.
func golden(t *testing.T, name string, a answer) {
	t.Helper()
	var got strings.Builder
	fmt.Fprintf(&got, "HTTP %d\nContent-Type: %s\n\n", a.code, a.header.Get("Content-Type"))
	if len(a.body) > 0 {
		var v any
		if err := json.Unmarshal(a.body, &v); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, a.body)
		}
		normalize(v, "")
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got.Write(b)
		got.WriteString("\n")
	}
	for _, secret := range []string{a.header.Get("vmware-api-session-id"), "pass"} {
		if secret != "" && strings.Contains(got.String(), secret) {
			t.Fatalf("golden %s would hold a secret", name)
		}
	}
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got.String() != string(want) {
		t.Errorf("answer differs from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got.String(), want)
	}
}

func normalize(v any, member string) any {
	switch x := v.(type) {
	case map[string]any:
		typeName, _ := x["_typeName"].(string)
		for k, vv := range x {
			if volatile[k] || volatileIn[typeName][k] {
				x[k] = "<volatile>"
				continue
			}
			x[k] = normalize(vv, k)
		}
	case []any:
		for i, vv := range x {
			x[i] = normalize(vv, member)
		}
	case string:
		x = gatewayTask.ReplaceAllString(port.ReplaceAllString(x, "127.0.0.1:PORT"), "vasagw-<uuid>")
		return timestamp.ReplaceAllString(x, "<time>")
	}
	return v
}
