package vijson

import (
	_ "embed"
	"net/http"
)

// openAPI is the facade's own OpenAPI 3 document (the gateway's API has
// its own at /openapi.json): every path, its parameters, answers and
// faults.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the facade's OpenAPI document.
func OpenAPI() []byte { return openAPI }

// serveOpenAPI answers GET /sdk/openapi.json.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
