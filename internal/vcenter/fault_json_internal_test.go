package vcenter

import (
	"reflect"
	"strings"
	"testing"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

func TestStructuredProperties(t *testing.T) {
	t.Parallel()
	obj := vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-2"}
	tests := []struct {
		name  string
		fault vimtypes.BaseMethodFault
		want  map[string]string
	}{
		{
			name: "NoPermission's missingPrivileges, as a plain array of data objects",
			fault: &vimtypes.NoPermission{Object: &obj, PrivilegeId: "StorageViews.ConfigureService", MissingPrivileges: []vimtypes.NoPermissionEntityPrivileges{
				{Entity: obj, PrivilegeIds: []string{"StorageViews.ConfigureService"}},
			}},
			want: map[string]string{"missingPrivileges": `[{"_typeName":"NoPermissionEntityPrivileges","entity":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vp-2"},"privilegeIds":["StorageViews.ConfigureService"]}]`},
		},
		{name: "scalars only", fault: &smstypes.InvalidCertificate{Certificate: "PEM"}},
		{name: "no fault", fault: &vimtypes.SystemError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := fromMethodFault(tt.fault, "", 0).Structured
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Structured = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVIJSONRefusesSecretsAndSize(t *testing.T) {
	t.Parallel()
	if s, ok := viJSON(reflect.ValueOf(smstypes.VasaProviderSpec{Username: "u", Password: "p"})); ok {
		t.Errorf("a value with a password member encoded: %s", s)
	}
	if s, ok := viJSON(reflect.ValueOf([]string{strings.Repeat("x", maxStructuredBytes)})); ok {
		t.Errorf("an oversized value encoded (%d bytes)", len(s))
	}
	if s, ok := viJSON(reflect.ValueOf([]string{"a", "b"})); !ok || s != `["a","b"]` {
		t.Errorf("viJSON([a b]) = %q, %v", s, ok)
	}
}
