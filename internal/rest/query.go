package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/vasagw/vasagw/internal/service"
)

// knownField reports whether a query key ("pageSize", "page_size",
// "a.b.c", or "labels[key]" for a map) names a field of md.
func knownField(md protoreflect.MessageDescriptor, key string) bool {
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if md == nil {
			return false
		}
		fd := md.Fields().ByTextName(p)
		if fd == nil {
			fd = md.Fields().ByJSONName(p)
		}
		if fd == nil {
			return false
		}
		if i < len(parts)-1 {
			md = fd.Message()
		}
	}
	return true
}

// verbRoutes maps each custom verb of the API's routes (the `:reconnect`
// of `POST /v1/{name=...}:reconnect`) to the HTTP method its route takes,
// read from the google.api.http options of the services' descriptors, so
// that it cannot fall behind the protos.
func verbRoutes(files ...protoreflect.FileDescriptor) map[string]string {
	verbs := make(map[string]string)
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			methods := f.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				rule, _ := proto.GetExtension(methods.Get(j).Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				method, path := httpRule(rule)
				if k := strings.LastIndexByte(path, ':'); k > strings.LastIndexByte(path, '/') && k > strings.LastIndexByte(path, '}') {
					verbs[path[k+1:]] = method
				}
			}
		}
	}
	return verbs
}

// httpRule returns the method and path template of a google.api.http rule.
func httpRule(r *annotations.HttpRule) (method, path string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
}

// wrongVerbMethod reports, for a path whose last segment ends in a bare
// `:verb` of the API, the method that verb's route takes when the request
// uses another. Without it grpc-gateway reads `GET .../vp-2:reconnect` as a
// Get of a provider named "vp-2:reconnect" and answers 404; a moId's own
// `:` arrives escaped as %3A, so a bare one is always a verb.
func wrongVerbMethod(r *http.Request, verbs map[string]string) (string, bool) {
	p := r.URL.EscapedPath()
	last := p[strings.LastIndexByte(p, '/')+1:]
	k := strings.LastIndexByte(last, ':')
	if k < 0 {
		return "", false
	}
	want, ok := verbs[last[k+1:]]
	if !ok || want == r.Method || (want == http.MethodGet && r.Method == http.MethodHead) {
		return "", false
	}
	return want, true
}

// noFilter excludes no field: path-bound parameters are refused before.
var noFilter = utilities.NewDoubleArray(nil)

// route is what a REST route reads from where: its request message, the
// fields bound from the path, and the body binding ("*", a field, or none).
type route struct {
	request protoreflect.MessageDescriptor
	path    map[string]bool
	body    string
}

// pathVarRE finds the variables of a path template: `{name=vcenters/*}`.
var pathVarRE = regexp.MustCompile(`\{([a-zA-Z0-9_.]+)(=[^}]*)?\}`)

// routeTable maps "METHOD /template" (as grpc-gateway's Pattern.String
// spells a matched route) to what the route reads, from the google.api.http
// options of the services' descriptors.
func routeTable(files ...protoreflect.FileDescriptor) map[string]route {
	routes := make(map[string]route)
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			methods := f.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				m := methods.Get(j)
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				method, path := httpRule(rule)
				rt := route{request: m.Input(), path: make(map[string]bool), body: rule.GetBody()}
				for _, v := range pathVarRE.FindAllStringSubmatch(path, -1) {
					rt.path[strings.Split(v[1], ".")[0]] = true
				}
				routes[method+" "+path] = rt
			}
		}
	}
	return routes
}

// queryMiddleware refuses, on a matched route, a query parameter that the
// route would ignore, as an unknown field in a JSON body is refused: one
// that names no field of the request, a field bound from the path, or any
// parameter at all on a route that takes its fields from the body.
func queryMiddleware(routes map[string]route, fail func(http.ResponseWriter, *http.Request, error)) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			pat, ok := runtime.HTTPPattern(r.Context())
			rt, known := routes[r.Method+" "+pat.String()]
			if r.URL.RawQuery == "" || !ok || !known {
				next(w, r, params)
				return
			}
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				fail(w, r, service.InvalidRequest("query", "the query string does not parse"))
				return
			}
			keys := make([]string, 0, len(q))
			for k := range q {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				top := k
				if i := strings.IndexAny(top, ".["); i >= 0 {
					top = top[:i]
				}
				var why string
				switch {
				case rt.body == "*":
					why = "this method takes its fields in the JSON body"
				case !knownField(rt.request, k):
					why = "this method has no such parameter"
				case rt.path[protoName(rt.request, top)]:
					why = "this field is set by the path"
				case rt.body != "" && protoName(rt.request, top) == rt.body:
					why = "this field is set by the body"
				default:
					continue
				}
				fail(w, r, service.InvalidRequest(k, fmt.Sprintf("query parameter %q: %s", k, why)))
				return
			}
			// Parse each parameter alone into a scratch request, so that a
			// value that does not parse is blamed on its own parameter
			// (grpc-gateway's own parse reports every failure as one
			// detail-less INVALID_ARGUMENT). grpc-gateway's process-wide
			// SetQueryParameterParser would do the same from inside, at
			// the price of a package variable written by every mux built.
			if mt, err := protoregistry.GlobalTypes.FindMessageByName(rt.request.FullName()); err == nil {
				var def runtime.DefaultQueryParser
				for _, k := range keys {
					if err := def.Parse(mt.New().Interface(), url.Values{k: q[k]}, noFilter); err != nil {
						fail(w, r, service.InvalidRequest(k, fmt.Sprintf("query parameter %q: invalid value %q", k, strings.Join(q[k], ","))))
						return
					}
				}
			}
			next(w, r, params)
		}
	}
}

// protoName returns the proto name of md's field named (by proto or JSON
// name) name, or name itself.
func protoName(md protoreflect.MessageDescriptor, name string) string {
	fd := md.Fields().ByTextName(name)
	if fd == nil {
		fd = md.Fields().ByJSONName(name)
	}
	if fd == nil {
		return name
	}
	return string(fd.Name())
}
