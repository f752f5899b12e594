// Package arch_test holds the layering test: the dependency rules of
// STYLE.md ("The shape") as a table, checked against what the packages
// really import.
package arch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is this module's path; the table names packages without it.
const module = "github.com/vasagw/vasagw"

// A layer is one row of the table: a package of this module (or, ending
// in "/...", a tree of them), the packages of this module it may import,
// and the packages from outside it must not use.
type layer struct {
	pkg string
	// may lists the module packages pkg may import directly ("gen/..."
	// is any generated package). Nothing may import a cmd/ package.
	may []string
	// noImports lists packages (and their subpackages) from outside the
	// module that pkg must not import directly.
	noImports []string
	// noDeps lists packages (and their subpackages) that pkg must not
	// depend on at all, however indirectly.
	noDeps []string
	// why is the rule in words, for the failure message.
	why string
}

// layers is the dependency flow
//
//	cmd/* -> internal/server -> internal/rest (and siblings) -> gRPC in process
//	      -> internal/service -> internal/vcenter -> govmomi
//
// with telemetry, auth and config beside it. Every package of the module
// needs a row: a new package fails the test until it has one. A REST-side
// sibling (internal/vijson, internal/console) gets the row of
// internal/rest; shared state behind a service-declared interface
// (internal/store/...) a row that may import nothing of the server side.
// Only the rules for non-test code: tests may assemble anything.
var layers = []layer{
	{pkg: "cmd/server", may: []string{"internal/config", "internal/server"},
		why: "main is thin: configuration and one Run"},
	{pkg: "cmd/smssim", may: []string{"internal/smssim"},
		why: "the simulator binary serves the simulator"},
	{pkg: "cmd/vasactl", may: []string{"internal/cli"},
		why: "main is thin: signals and one Run"},
	{pkg: "internal/cli", may: []string{"gen/..."}, noDeps: []string{"github.com/vmware/govmomi"},
		why: "vasactl is a gRPC client of the gateway: it reaches the gateway only over the API"},
	{pkg: "internal/server", may: []string{"gen/...", "internal/config", "internal/rest", "internal/vijson", "internal/console", "internal/telemetry", "internal/service", "internal/auth", "internal/vcenter", "internal/smssim", "internal/store/redisstore"},
		why: "the server wires every layer together"},
	{pkg: "internal/rest", may: []string{"gen/...", "internal/service", "internal/telemetry", "internal/apidocs"},
		why: "the REST side reaches vCenter only through the gRPC service, so every call passes the same interceptors"},
	{pkg: "internal/vijson", may: []string{"gen/...", "internal/service", "internal/telemetry"},
		why: "the VI/JSON facade, a sibling of internal/rest, reaches vCenter only through the gRPC service"},
	{pkg: "internal/console", noDeps: []string{"google.golang.org/grpc"},
		why: "the console is a page and its assets: it calls the REST API from the browser, with the caller's credentials, and holds no connection of its own"},
	{pkg: "internal/telemetry", may: []string{"internal/service", "internal/vcenter"},
		why: "telemetry measures the upstream calls the service makes"},
	{pkg: "internal/config", may: []string{"internal/auth"}, noImports: []string{"google.golang.org/grpc"},
		why: "configuration reads values; it serves nothing"},
	{pkg: "internal/service", may: []string{"gen/...", "internal/vcenter", "internal/auth"}, noImports: []string{"net/http"},
		why: "the service speaks gRPC and knows nothing of HTTP, the REST side, the server or the configuration"},
	{pkg: "internal/store/redisstore", may: []string{"internal/service"}, noImports: []string{"google.golang.org/grpc", "net/http"},
		why: "the shared state implements the interfaces the service declares, with plain Go types; it serves nothing"},
	{pkg: "internal/store/redisstore/redistest", why: "the test Redis stands alone"},
	{pkg: "internal/auth", why: "caller authentication stands alone"},
	{pkg: "internal/auth/authtest", why: "test credentials stand alone"},
	{pkg: "internal/vcenter", noDeps: []string{"google.golang.org/grpc"},
		why: "the SMS client knows nothing of gRPC or of the gateway's HTTP side"},
	{pkg: "internal/smssim", why: "the simulator stands alone"},
	{pkg: "internal/apidocs", why: "the OpenAPI document stands alone"},
	{pkg: "deploy/prometheus", why: "example alert rules; the package holds only their test"},
	{pkg: "gen/...", may: []string{"gen/..."}, why: "generated code imports only generated code"},
	{pkg: "internal/arch", why: "this test"},
}

// pkgInfo is what the test reads of `go list -json`.
type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

func TestLayering(t *testing.T) {
	t.Parallel()
	pkgs := listPackages(t)
	used := make(map[string]bool)
	for _, p := range pkgs {
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		row := rowOf(rel)
		if row == nil {
			t.Errorf("%s has no row in the layering table (internal/arch/arch_test.go): add one saying what it may import", rel)
			continue
		}
		used[row.pkg] = true
		for _, imp := range p.Imports {
			if in, ok := relative(imp); ok {
				if strings.HasPrefix(in, "cmd/") || !slices.ContainsFunc(row.may, func(m string) bool { return matches(m, in) }) {
					t.Errorf("%s imports %s: not allowed (%s; it may import %s)", rel, in, row.why, mayList(row))
				}
				continue
			}
			for _, no := range row.noImports {
				if matches(no, imp) {
					t.Errorf("%s imports %s: not allowed (%s)", rel, imp, row.why)
				}
			}
		}
		for _, no := range row.noDeps {
			var hits []string
			for _, dep := range p.Deps {
				if matches(no, dep) {
					hits = append(hits, dep)
				}
			}
			if len(hits) > 0 {
				t.Errorf("%s depends on %s (%s): not allowed (%s)", rel, no, summary(hits), row.why)
			}
		}
	}
	for _, p := range pkgs {
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
	}
	for _, l := range layers {
		if !used[l.pkg] {
			t.Errorf("the layering table has a row for %s, which matches no package: remove it or fix its name", l.pkg)
		}
	}
}

// listPackages runs `go list -e -json ./...` at the module root.
func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// -e: a package that does not build (an import cycle, say) is still
	// listed, so that the table's verdict comes with the compiler's.
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// relative returns a module package's path without the module, and false
// for a package from outside the module.
func relative(importPath string) (string, bool) {
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return rel, ok
}

// rowOf returns the row of a module package: its own, else the tree row
// ("x/...") that holds it.
func rowOf(rel string) *layer {
	for i := range layers {
		if layers[i].pkg == rel {
			return &layers[i]
		}
	}
	for i := range layers {
		if tree, ok := strings.CutSuffix(layers[i].pkg, "/..."); ok && strings.HasPrefix(rel, tree+"/") {
			return &layers[i]
		}
	}
	return nil
}

// matches reports whether path is pattern, one of its subpackages, or in
// the tree a pattern ending in "/..." names.
func matches(pattern, path string) bool {
	pattern = strings.TrimSuffix(pattern, "/...")
	return path == pattern || strings.HasPrefix(path, pattern+"/")
}

func mayList(l *layer) string {
	if len(l.may) == 0 {
		return "nothing of this module"
	}
	return strings.Join(l.may, ", ")
}

// summary names the first of paths and how many more there are.
func summary(paths []string) string {
	if len(paths) == 1 {
		return paths[0]
	}
	return fmt.Sprintf("%s and %d more", paths[0], len(paths)-1)
}
