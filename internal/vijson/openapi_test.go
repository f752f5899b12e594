package vijson

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var refPattern = regexp.MustCompile(`"#/components/schemas/([A-Za-z]+)"`)

// TestOpenAPIDocument checks that the document is OpenAPI 3 JSON whose
// references resolve, and that it documents every method the facade
// serves, under both path prefixes, with its fault answer. (CI also runs
// swagger-cli validate on it.)
func TestOpenAPIDocument(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Fatalf("openapi %q, info %+v", doc.OpenAPI, doc.Info)
	}
	ids := map[string]bool{}
	check := func(path string, codes ...string) {
		t.Helper()
		op, ok := doc.Paths[path]["post"]
		if !ok {
			t.Errorf("%s: not documented", path)
			return
		}
		if op.OperationID == "" || ids[op.OperationID] {
			t.Errorf("%s: operationId %q missing or not unique", path, op.OperationID)
		}
		ids[op.OperationID] = true
		for _, c := range codes {
			if _, ok := op.Responses[c]; !ok {
				t.Errorf("%s: no %s answer", path, c)
			}
		}
	}
	n := 0
	for _, prefix := range []string{"", "/vcenters/{vcenter}"} {
		for typ, mt := range managedTypes {
			id := mt.fixedID
			if id == "" {
				id = "{moId}"
			}
			for name := range mt.methods {
				check(prefix+"/sdk/vim25/{release}/sms/"+typ+"/"+id+"/"+name, "200", "500")
				n++
			}
		}
		check(prefix+"/sdk/vim25/{release}/SessionManager/SessionManager/Login", "200", "500")
		check(prefix+"/sdk/vim25/{release}/SessionManager/SessionManager/Logout", "204", "500")
		n += 2
	}
	if len(doc.Paths) != n {
		t.Errorf("%d paths documented, the facade serves %d", len(doc.Paths), n)
	}
	for _, m := range refPattern.FindAllStringSubmatch(string(openAPI), -1) {
		if _, ok := doc.Components.Schemas[m[1]]; !ok {
			t.Errorf("$ref to undefined schema %s", m[1])
		}
	}
}
