package service

import (
	"strings"
	"testing"

	"github.com/vasagw/vasagw/internal/vcenter"
)

// TestVimFaultStructuredProperties: a fault's VI/JSON-encoded properties
// reach the VimFault detail whole, never one named like a secret, and are
// left out whole when they do not fit the detail's budget.
func TestVimFaultStructuredProperties(t *testing.T) {
	t.Parallel()
	const privileges = `[{"_typeName":"NoPermissionEntityPrivileges","privilegeIds":["StorageViews.ConfigureService"]}]`
	f := &vcenter.Fault{TypeName: "NoPermission", Structured: map[string]string{
		"missingPrivileges": privileges,
		"sessionCookie":     `["x"]`,
	}}
	got := vimFault(f).GetViJsonProperties()
	if len(got) != 1 || got["missingPrivileges"] != privileges {
		t.Errorf("vi_json_properties = %v", got)
	}
	big := &vcenter.Fault{TypeName: "NoPermission", Structured: map[string]string{"missingPrivileges": `["` + strings.Repeat("x", maxVimFaultBytes) + `"]`}}
	if got := vimFault(big).GetViJsonProperties(); len(got) != 0 {
		t.Errorf("an oversized property was kept (%d bytes)", len(got["missingPrivileges"]))
	}
}
