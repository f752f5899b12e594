package smssim_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasagw/vasagw/internal/smssim"
)

// ExampleStart serves the simulator and reads a provider over SOAP the way a
// govmomi-style SMS client does: log in to vim25, then send the session
// cookie as the vcSessionCookie header to /sms/sdk.
func ExampleStart() {
	srv, err := smssim.Start(smssim.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	sc := soap.NewClient(srv.URL, false)
	defer sc.CloseIdleConnections()
	if err := sc.SetRootCAs(srv.CAFile); err != nil {
		panic(err)
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		panic(err)
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(srv.Username, srv.Password)); err != nil {
		panic(err)
	}
	sms := vc.NewServiceClient(smssim.Path, smssim.Namespace)
	sms.Cookie = vc.SessionCookie
	defer sms.CloseIdleConnections()

	res, err := methods.QueryProviderInfo(ctx, sms, &smstypes.QueryProviderInfo{
		This: vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vp-2"},
	})
	if err != nil {
		panic(err)
	}
	info := res.Returnval.(*smstypes.VasaProviderInfo)
	fmt.Println(info.Name, info.Status, info.VasaVersion)
	// Output: array-b disconnected 3.0
}
