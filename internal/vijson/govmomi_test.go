package vijson_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// TestGovmomiJSONClient drives the facade with govmomi's own VI/JSON client
// (soap.Client with UseJSON) and its generated sms/methods, unchanged:
// the request bodies it sends (with `_typeName` and `_this`) are accepted,
// and answers decode with its stock decoder except where an SMS type sits
// in an interface-typed member. Its URL is
// {sdk}/{namespace}/{version}/{moType}/{moId}/{method}, so the namespace
// is vim25 and the version carries the "/sms" that the SMS paths add.
func TestGovmomiJSONClient(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.url + "/sdk")
	if err != nil {
		t.Fatal(err)
	}
	c := soap.NewClient(u, false)
	c.Namespace = "urn:vim25"
	c.Version = "8.0.1.0/sms"
	c.UseJSON(true)
	ctx := context.Background()

	res, err := methods.VasaProviderReconnect_Task(ctx, c, &smstypes.VasaProviderReconnect_Task{This: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Returnval.Type != "SmsTask" || res.Returnval.Value == "" {
		t.Fatalf("reconnect returned %v", res.Returnval)
	}
	info, err := methods.QuerySmsTaskInfo(ctx, c, &smstypes.QuerySmsTaskInfo{This: res.Returnval})
	if err != nil {
		t.Fatal(err)
	}
	if info.Returnval.Task != res.Returnval {
		t.Fatalf("task info %+v", info.Returnval)
	}
	// An SMS data object in an interface-typed member (QueryProviderInfo's
	// SmsProviderInfo, an SMS fault) is where govmomi's stock decoder stops:
	// it knows SMS types only as "sms:Name", while vCenter, and so the
	// facade, writes "Name". It would fail the same way against vCenter;
	// vijson.NewDecoder is that decoder with a lookup that knows both.
	_, err = methods.QueryProviderInfo(ctx, c, &smstypes.QueryProviderInfo{This: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-1"}})
	if err == nil || !strings.Contains(err.Error(), "invalid discriminator type: VasaProviderInfo") {
		t.Fatalf("QueryProviderInfo through govmomi's stock decoder: %v (if govmomi now knows SMS types by their plain names, update README.md)", err)
	}
	_, err = methods.QueryProviderInfo(ctx, c, &smstypes.QueryProviderInfo{This: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-404"}})
	if !soap.IsSoapFault(err) {
		t.Fatalf("unknown provider: %v, want a fault", err)
	}
	if _, ok := soap.ToSoapFault(err).VimFault().(vimtypes.ManagedObjectNotFound); !ok {
		t.Fatalf("unknown provider: %#v, want ManagedObjectNotFound", soap.ToSoapFault(err).VimFault())
	}
}
