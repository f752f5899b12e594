package service

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.einride.tech/aip/filtering"
	expr "google.golang.org/genproto/googleapis/api/expr/v1alpha1"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// maxFilterLength bounds the filter a caller may send, so that parsing and
// evaluating one stays cheap.
const maxFilterLength = 2048

// providerFilter is a parsed AIP-160 filter over VasaProvider fields. The
// zero value (and nil) matches every provider.
type providerFilter struct {
	text  string
	match func(*vasagwv1.VasaProvider) bool
}

// matches reports whether p passes the filter.
func (f *providerFilter) matches(p *vasagwv1.VasaProvider) bool {
	if f == nil || f.match == nil {
		return true
	}
	return f.match(p)
}

// The filterable fields, as the contract names them.
const (
	filterStatus            = "status"
	filterCertificateStatus = "certificate_status"
	filterCertificateExpiry = "certificate_expire_time"
	filterVasaVersion       = "vasa_version"
	filterDisplayName       = "display_name"
)

// providerFilterDeclarations are the identifiers a filter may use: the
// fields above, the two enums' value names, and the standard functions
// (AND, OR, NOT, comparisons, `:`, timestamp(), duration()).
var providerFilterDeclarations = func() *filtering.Declarations {
	d, err := filtering.NewDeclarations(
		filtering.DeclareStandardFunctions(),
		// A sequence ("a b") is AIP-160's fuzzy conjunction; here an AND.
		filtering.DeclareFunction(filtering.FunctionFuzzyAnd,
			filtering.NewFunctionOverload(filtering.FunctionFuzzyAnd+"_bool", filtering.TypeBool, filtering.TypeBool, filtering.TypeBool)),
		filtering.DeclareEnumIdent(filterStatus, vasagwv1.VasaProvider_Status(0).Type()),
		filtering.DeclareEnumIdent(filterCertificateStatus, vasagwv1.VasaProvider_CertificateStatus(0).Type()),
		filtering.DeclareIdent(filterCertificateExpiry, filtering.TypeTimestamp),
		filtering.DeclareIdent(filterVasaVersion, filtering.TypeString),
		filtering.DeclareIdent(filterDisplayName, filtering.TypeString),
	)
	if err != nil {
		panic("service: filter declarations: " + err.Error())
	}
	return d
}()

// enumConstants are the enum value names a filter may compare against.
var enumConstants = func() map[string]bool {
	m := make(map[string]bool)
	for name := range vasagwv1.VasaProvider_Status_value {
		m[name] = true
	}
	for name := range vasagwv1.VasaProvider_CertificateStatus_value {
		m[name] = true
	}
	return m
}()

// parseProviderFilter parses and type-checks an AIP-160 filter with
// go.einride.tech/aip and compiles it to a predicate. Any problem is
// INVALID_ARGUMENT INVALID_REQUEST naming the field `filter`.
//
// Semantics beyond AIP-160's grammar: strings compare exactly, and `=` /
// `!=` accept a leading or trailing `*` as a wildcard (`display_name =
// "array-*"`); `:` on a string is a substring test (`display_name:"arr"`),
// and `field:*` tests presence; `vasa_version` orders by its dotted numbers
// (`vasa_version >= "3.0"`); `certificate_expire_time` compares with an
// RFC 3339 string or `timestamp("...")`. A comparison with a field the
// provider does not report (no certificate expiry) is false.
func parseProviderFilter(text string) (f *providerFilter, err error) {
	if strings.TrimSpace(text) == "" {
		return &providerFilter{}, nil
	}
	if len(text) > maxFilterLength {
		return nil, invalidRequest("filter", fmt.Sprintf("filter is longer than %d bytes", maxFilterLength))
	}
	defer func() {
		// The parser and checker are third-party code fed caller input: a
		// panic in them is a bad filter, not a crashed call.
		if r := recover(); r != nil {
			f, err = nil, invalidRequest("filter", "filter is not a valid AIP-160 expression")
		}
	}()
	parsed, perr := filtering.ParseFilterString(text, providerFilterDeclarations)
	if perr != nil {
		return nil, invalidRequest("filter", "filter is not valid: "+perr.Error())
	}
	c := &filterCompiler{}
	n, k, cerr := c.compile(parsed.CheckedExpr.GetExpr())
	if cerr == nil && k != kindBool {
		cerr = fmt.Errorf("filter must be a condition")
	}
	if cerr != nil {
		return nil, invalidRequest("filter", "filter is not supported: "+cerr.Error())
	}
	return &providerFilter{text: text, match: func(p *vasagwv1.VasaProvider) bool { return n(p).b }}, nil
}

// kind is the type of a compiled filter node's value.
type kind int

const (
	kindBool kind = iota
	kindString
	kindVersion // a string that orders by dotted numbers
	kindInt
	kindFloat
	kindTime
	kindDuration
	kindEnum
)

// value is one node's result. absent is set for a field the provider does
// not report; every comparison with it is false.
type value struct {
	b      bool
	s      string
	i      int64
	f      float64
	t      time.Time
	d      time.Duration
	absent bool
}

type node func(*vasagwv1.VasaProvider) value

// filterCompiler turns a checked expression into nested closures, so
// that evaluating a filter against a provider allocates nothing and cannot
// fail.
type filterCompiler struct{}

func (c *filterCompiler) compile(e *expr.Expr) (node, kind, error) {
	switch k := e.GetExprKind().(type) {
	case *expr.Expr_ConstExpr:
		return constant(k.ConstExpr)
	case *expr.Expr_IdentExpr:
		return c.ident(k.IdentExpr.GetName())
	case *expr.Expr_CallExpr:
		return c.call(k.CallExpr)
	}
	return nil, 0, fmt.Errorf("only the fields %s, %s, %s, %s and %s can be used",
		filterStatus, filterCertificateStatus, filterCertificateExpiry, filterVasaVersion, filterDisplayName)
}

func constant(k *expr.Constant) (node, kind, error) {
	switch v := k.GetConstantKind().(type) {
	case *expr.Constant_BoolValue:
		return func(*vasagwv1.VasaProvider) value { return value{b: v.BoolValue} }, kindBool, nil
	case *expr.Constant_StringValue:
		return func(*vasagwv1.VasaProvider) value { return value{s: v.StringValue} }, kindString, nil
	case *expr.Constant_Int64Value:
		return func(*vasagwv1.VasaProvider) value { return value{i: v.Int64Value} }, kindInt, nil
	case *expr.Constant_DoubleValue:
		return func(*vasagwv1.VasaProvider) value { return value{f: v.DoubleValue} }, kindFloat, nil
	}
	return nil, 0, fmt.Errorf("unsupported literal")
}

func (c *filterCompiler) ident(name string) (node, kind, error) {
	switch name {
	case filterStatus:
		return func(p *vasagwv1.VasaProvider) value { return value{s: p.GetStatus().String()} }, kindEnum, nil
	case filterCertificateStatus:
		return func(p *vasagwv1.VasaProvider) value { return value{s: p.GetCertificateStatus().String()} }, kindEnum, nil
	case filterCertificateExpiry:
		return func(p *vasagwv1.VasaProvider) value {
			if p.GetCertificateExpireTime() == nil {
				return value{absent: true}
			}
			return value{t: p.GetCertificateExpireTime().AsTime()}
		}, kindTime, nil
	case filterVasaVersion:
		return func(p *vasagwv1.VasaProvider) value { return value{s: p.GetVasaVersion()} }, kindVersion, nil
	case filterDisplayName:
		return func(p *vasagwv1.VasaProvider) value { return value{s: p.GetDisplayName()} }, kindString, nil
	}
	if enumConstants[name] {
		return func(*vasagwv1.VasaProvider) value { return value{s: name} }, kindEnum, nil
	}
	return nil, 0, fmt.Errorf("unknown identifier %q", name)
}

func (c *filterCompiler) call(call *expr.Expr_Call) (node, kind, error) {
	args := make([]node, len(call.GetArgs()))
	kinds := make([]kind, len(call.GetArgs()))
	for i, a := range call.GetArgs() {
		n, k, err := c.compile(a)
		if err != nil {
			return nil, 0, err
		}
		args[i], kinds[i] = n, k
	}
	fn := call.GetFunction()
	arity := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d arguments", fn, n)
		}
		return nil
	}
	switch fn {
	case filtering.FunctionAnd, filtering.FunctionFuzzyAnd, filtering.FunctionOr:
		if len(args) < 2 {
			return nil, 0, arity(2)
		}
		for _, k := range kinds {
			if k != kindBool {
				return nil, 0, fmt.Errorf("%s needs conditions on both sides", fn)
			}
		}
		or := fn == filtering.FunctionOr
		return func(p *vasagwv1.VasaProvider) value {
			for _, a := range args {
				if a(p).b == or {
					return value{b: or}
				}
			}
			return value{b: !or}
		}, kindBool, nil
	case filtering.FunctionNot:
		if err := arity(1); err != nil {
			return nil, 0, err
		}
		if kinds[0] != kindBool {
			return nil, 0, fmt.Errorf("NOT needs a condition")
		}
		a := args[0]
		return func(p *vasagwv1.VasaProvider) value { return value{b: !a(p).b} }, kindBool, nil
	case filtering.FunctionTimestamp:
		if err := arity(1); err != nil {
			return nil, 0, err
		}
		if kinds[0] != kindString && kinds[0] != kindVersion {
			return nil, 0, fmt.Errorf("timestamp takes a string")
		}
		a := args[0]
		return func(p *vasagwv1.VasaProvider) value {
			t, err := time.Parse(time.RFC3339, a(p).s)
			if err != nil {
				return value{absent: true}
			}
			return value{t: t}
		}, kindTime, nil
	case filtering.FunctionDuration:
		if err := arity(1); err != nil {
			return nil, 0, err
		}
		if kinds[0] != kindString && kinds[0] != kindVersion {
			return nil, 0, fmt.Errorf("duration takes a string")
		}
		a := args[0]
		return func(p *vasagwv1.VasaProvider) value {
			d, err := time.ParseDuration(a(p).s)
			if err != nil {
				return value{absent: true}
			}
			return value{d: d}
		}, kindDuration, nil
	case filtering.FunctionEquals, filtering.FunctionNotEquals,
		filtering.FunctionLessThan, filtering.FunctionLessEquals,
		filtering.FunctionGreaterThan, filtering.FunctionGreaterEquals:
		if err := arity(2); err != nil {
			return nil, 0, err
		}
		return comparison(fn, args[0], kinds[0], args[1], kinds[1])
	case filtering.FunctionHas:
		if err := arity(2); err != nil {
			return nil, 0, err
		}
		return has(args[0], kinds[0], args[1], kinds[1])
	}
	return nil, 0, fmt.Errorf("function %q is not supported", fn)
}

// comparison compiles one of = != < <= > >= for the operand kinds the
// checker accepted.
func comparison(fn string, l node, lk kind, r node, rk kind) (node, kind, error) {
	var order func(a, b value) (int, bool) // false: not comparable at run time
	equality := fn == filtering.FunctionEquals || fn == filtering.FunctionNotEquals
	switch {
	case lk == kindTime && (rk == kindString || rk == kindVersion):
		rr := r
		r = func(p *vasagwv1.VasaProvider) value {
			t, err := time.Parse(time.RFC3339, rr(p).s)
			if err != nil {
				return value{absent: true}
			}
			return value{t: t}
		}
		order = func(a, b value) (int, bool) { return a.t.Compare(b.t), true }
	case lk == kindTime && rk == kindTime:
		order = func(a, b value) (int, bool) { return a.t.Compare(b.t), true }
	case lk == kindDuration && rk == kindDuration:
		order = func(a, b value) (int, bool) { return cmp.Compare(a.d, b.d), true }
	case lk == kindInt && rk == kindInt:
		order = func(a, b value) (int, bool) { return cmp.Compare(a.i, b.i), true }
	case lk == kindFloat && rk == kindFloat:
		order = func(a, b value) (int, bool) { return cmp.Compare(a.f, b.f), true }
	case lk == kindFloat && rk == kindInt:
		order = func(a, b value) (int, bool) { return cmp.Compare(a.f, float64(b.i)), true }
	case lk == kindBool && rk == kindBool && equality:
		order = func(a, b value) (int, bool) {
			if a.b == b.b {
				return 0, true
			}
			return 1, true
		}
	case lk == kindEnum && rk == kindEnum && equality:
		order = func(a, b value) (int, bool) { return strings.Compare(a.s, b.s), true }
	case isString(lk) && isString(rk):
		version := lk == kindVersion || rk == kindVersion
		if equality {
			order = func(a, b value) (int, bool) {
				if wildcardMatch(a.s, b.s) {
					return 0, true
				}
				return 1, true
			}
		} else if version {
			order = func(a, b value) (int, bool) { return compareVersions(a.s, b.s), true }
		} else {
			order = func(a, b value) (int, bool) { return strings.Compare(a.s, b.s), true }
		}
	default:
		return nil, 0, fmt.Errorf("%s cannot compare these values", fn)
	}
	test := map[string]func(int) bool{
		filtering.FunctionEquals:        func(c int) bool { return c == 0 },
		filtering.FunctionNotEquals:     func(c int) bool { return c != 0 },
		filtering.FunctionLessThan:      func(c int) bool { return c < 0 },
		filtering.FunctionLessEquals:    func(c int) bool { return c <= 0 },
		filtering.FunctionGreaterThan:   func(c int) bool { return c > 0 },
		filtering.FunctionGreaterEquals: func(c int) bool { return c >= 0 },
	}[fn]
	return func(p *vasagwv1.VasaProvider) value {
		a, b := l(p), r(p)
		if a.absent || b.absent {
			return value{}
		}
		c, ok := order(a, b)
		return value{b: ok && test(c)}
	}, kindBool, nil
}

// has compiles `:`: presence with `*`, else a substring test on strings.
func has(l node, lk kind, r node, rk kind) (node, kind, error) {
	if !isString(rk) {
		return nil, 0, fmt.Errorf(": takes a string on its right")
	}
	switch {
	case lk == kindTime:
		return func(p *vasagwv1.VasaProvider) value {
			return value{b: r(p).s == "*" && !l(p).absent}
		}, kindBool, nil
	case isString(lk) || lk == kindEnum:
		return func(p *vasagwv1.VasaProvider) value {
			a, b := l(p).s, r(p).s
			if b == "*" {
				return value{b: a != ""}
			}
			return value{b: strings.Contains(a, b)}
		}, kindBool, nil
	}
	return nil, 0, fmt.Errorf(": cannot test this value")
}

func isString(k kind) bool { return k == kindString || k == kindVersion }

// wildcardMatch compares s with pattern, where pattern may start or end
// with `*` (AIP-160's prefix and suffix wildcards).
func wildcardMatch(s, pattern string) bool {
	if pattern == "*" {
		return true
	}
	prefix := strings.HasSuffix(pattern, "*")
	suffix := strings.HasPrefix(pattern, "*")
	core := pattern
	if prefix {
		core = core[:len(core)-1]
	}
	if suffix && core != "" {
		core = core[1:]
	}
	switch {
	case prefix && suffix:
		return strings.Contains(s, core)
	case prefix:
		return strings.HasPrefix(s, core)
	case suffix:
		return strings.HasSuffix(s, core)
	}
	return s == pattern
}

// compareVersions orders dotted version strings by their numbers ("10.0" >
// "2.0"); a part that is not a number compares as text.
func compareVersions(a, b string) int {
	as, bs := strings.Split(strings.TrimSpace(a), "."), strings.Split(strings.TrimSpace(b), ".")
	for i := range max(len(as), len(bs)) {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		var c int
		if xerr == nil && yerr == nil {
			c = cmp.Compare(xn, yn)
		} else {
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
