package rest

import (
	"net/http"

	"github.com/vasagw/vasagw/internal/apidocs"
)

// ServeOpenAPI serves the REST API's generated OpenAPI v2 document.
func ServeOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(apidocs.OpenAPIv2)
}
