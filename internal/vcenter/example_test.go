package vcenter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"

	"github.com/vasagw/vasagw/internal/smssim"
	"github.com/vasagw/vasagw/internal/vcenter"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

// The Client is used like govmomi's pbm client: log in with vim25, then
// call the SMS endpoint with the same session.
func ExampleNewClient() {
	srv, err := smssim.Start(smssim.Options{}) // a vCenter with SMS, for the example
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	sc := soap.NewClient(srv.URL, false)
	if err := sc.SetRootCAs(srv.CAFile); err != nil {
		log.Fatal(err)
	}
	defer sc.CloseIdleConnections()
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		log.Fatal(err)
	}
	if err := session.NewManager(vc).Login(ctx, url.UserPassword(srv.Username, srv.Password)); err != nil {
		log.Fatal(err)
	}

	c, err := vcenter.NewClient(ctx, vc)
	if err != nil {
		log.Fatal(err)
	}
	refs, err := c.QueryProvider(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, ref := range refs[:3] {
		info, err := c.QueryProviderInfo(ctx, ref)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s %s\n", ref.Value, info.Name, info.Status)
	}

	_, err = c.ReconnectProvider(ctx, vcenter.ProviderRef("vp-3"))
	var f *vcenter.Fault
	if errors.As(err, &f) {
		fmt.Println(f.TypeName, f.Messages[0].Key)
	}
	// Output:
	// vp-1 array-a connected
	// vp-2 array-b disconnected
	// vp-3 array-c disconnected
	// InvalidCertificate com.vmware.vim.sms.provider.certificate.expired
}

// A Session is what the gateway holds per vCenter: it logs in on first use
// and again whenever vCenter drops the session.
func ExampleSession() {
	srv, err := smssim.Start(smssim.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	s, err := vcenter.NewSession(vcenter.SessionConfig{
		URL:      srv.URL,
		Username: srv.Username,
		Password: func() (string, error) { return srv.Password, nil }, // e.g. re-read a password file
		CAFile:   srv.CAFile,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	p, err := s.Provider(ctx, "vp-6")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name, "VASA", p.VasaVersion, p.Status)

	srv.DropSessions() // vCenter forgets the session: the next call logs in again
	taskID, err := s.Reconnect(ctx, "vp-1")
	if err != nil {
		log.Fatal(err)
	}
	task, err := s.Task(ctx, taskID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.TargetType, task.Target, srv.Logins(), "logins")
	// Output:
	// legacy-f VASA 1.0 connected
	// VasaProvider vp-1 2 logins
}
