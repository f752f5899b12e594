// Package apidocs holds the OpenAPI v2 document of the REST API, generated
// from proto/ by buf (protoc-gen-openapiv2 writes vasagw.swagger.json into
// this directory; see buf.gen.yaml) and embedded so the gateway can serve
// it at /openapi.json. Only this file is written by hand.
package apidocs

import _ "embed"

// OpenAPIv2 is the generated OpenAPI (Swagger) 2.0 document, JSON.
//
//go:embed vasagw.swagger.json
var OpenAPIv2 []byte
