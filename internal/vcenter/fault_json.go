package vcenter

import (
	"bytes"
	"encoding/json"
	"reflect"
	"unicode/utf8"

	vimjson "github.com/vmware/govmomi/vim25/json"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// maxStructuredBytes bounds the VI/JSON of one structured fault property.
const maxStructuredBytes = 16 << 10

// structuredProperties returns the non-scalar fields of the fault struct
// v (and of the fault structs it embeds, MethodFault aside) by their
// vSphere names, each encoded as VI/JSON with govmomi's vim25/types
// encoder; nil when there are none. A property whose name, or any member
// name inside it, looks like a secret is left out, as is one larger than
// [maxStructuredBytes] or that does not encode.
func structuredProperties(v reflect.Value) map[string]string {
	var out map[string]string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			fv := v.Field(i)
			if sf.Anonymous {
				if sf.Type != methodFaultType && fv.Kind() == reflect.Struct {
					walk(fv)
				}
				continue
			}
			name := propertyName(sf)
			if name == "" || isSecret(name) || fv.IsZero() {
				continue
			}
			if _, scalar := scalarString(fv); scalar {
				continue
			}
			if s, ok := viJSON(fv); ok {
				if out == nil {
					out = make(map[string]string)
				}
				out[name] = s
			}
		}
	}
	walk(v)
	return out
}

// viJSON encodes a field's value as VI/JSON the way it is encoded as a
// member of its fault: govmomi's vim25/types discriminator on every data
// object but not on the root value, so that an array is a plain JSON array
// (the encoder boxes a root slice as `{"_typeName":"[]T","_value":...}`).
// It refuses what holds a secret-looking member.
func viJSON(fv reflect.Value) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	var buf bytes.Buffer
	enc := vimjson.NewEncoder(&buf)
	enc.SetDiscriminator("_typeName", "_value", vimjson.DiscriminatorEncodeTypeNameAllObjects)
	enc.SetTypeToDiscriminatorFunc(vimtypes.VmomiTypeName)
	if err := enc.Encode(fv.Interface()); err != nil {
		return "", false
	}
	b := bytes.TrimSpace(buf.Bytes())
	if len(b) == 0 || len(b) > maxStructuredBytes || !utf8.Valid(b) {
		return "", false
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil || holdsSecret(generic) {
		return "", false
	}
	return string(b), true
}

// holdsSecret reports whether a decoded JSON value has a member whose name
// looks like a secret, at any depth.
func holdsSecret(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if isSecret(k) || holdsSecret(vv) {
				return true
			}
		}
	case []any:
		for _, vv := range x {
			if holdsSecret(vv) {
				return true
			}
		}
	}
	return false
}
