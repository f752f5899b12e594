package vijson

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/json"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	// The sms types register themselves (as "sms:Name") with vim25/types.
	_ "github.com/vmware/govmomi/sms/types"
)

// VI/JSON's discriminator members, as govmomi's vim25/types names them.
const (
	typeNameMember  = "_typeName"
	valueNameMember = "_value"
)

// primitiveTypes are VI/JSON's names for boxed primitives (`{"_typeName":
// "string","_value":...}`), as govmomi's vim25/types decoder knows them.
var primitiveTypes = map[string]reflect.Type{
	"boolean":  reflect.TypeFor[bool](),
	"byte":     reflect.TypeFor[uint8](),
	"short":    reflect.TypeFor[int16](),
	"int":      reflect.TypeFor[int32](),
	"long":     reflect.TypeFor[int64](),
	"float":    reflect.TypeFor[float32](),
	"double":   reflect.TypeFor[float64](),
	"string":   reflect.TypeFor[string](),
	"binary":   reflect.TypeFor[[]byte](),
	"dateTime": reflect.TypeFor[time.Time](),
}

// LookupType finds the Go type of a VI/JSON `_typeName`. vCenter (and
// govmomi's encoder) write SMS types by their plain name
// ("InvalidCertificate"), while govmomi registers them as "sms:Name"; the
// lookup tries the SMS name first, then vim25's, then the primitives.
func LookupType(name string) (reflect.Type, bool) {
	if name == "" || strings.Contains(name, ":") {
		return nil, false
	}
	lookup := vimtypes.TypeFunc()
	if t, ok := lookup("sms:" + name); ok {
		return t, true
	}
	if t, ok := lookup(name); ok {
		return t, true
	}
	t, ok := primitiveTypes[name]
	return t, ok
}

// NewDecoder returns govmomi's VI/JSON decoder (vim25/json with the
// `_typeName` discriminator) with a type lookup that knows SMS types by
// their plain names, as vCenter writes them. It reads the bodies the
// facade receives and, in tests, the answers it sends.
func NewDecoder(r io.Reader) *json.Decoder {
	d := json.NewDecoder(r)
	d.SetDiscriminator(typeNameMember, valueNameMember, json.DiscriminatorToTypeFunc(LookupType))
	return d
}

// encode renders v as VI/JSON with govmomi's own encoder: `_typeName` on
// the root value and every data object, the plain type name (as vCenter
// writes it).
//
// An array result is a plain JSON array, as vCenter sends it: `_typeName`
// on each data object in it, not on the array (the encoder would box a
// root slice as `{"_typeName":"[]T","_value":...}`).
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 {
		enc := json.NewEncoder(&buf)
		enc.SetDiscriminator(typeNameMember, valueNameMember, json.DiscriminatorEncodeTypeNameAllObjects)
		enc.SetTypeToDiscriminatorFunc(vimtypes.VmomiTypeName)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if err := vimtypes.NewJSONEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
