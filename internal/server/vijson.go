package server

import (
	"context"

	"github.com/vasagw/vasagw/internal/auth"
	"github.com/vasagw/vasagw/internal/service"
	"github.com/vasagw/vasagw/internal/vcenter"
)

// newUserSessions is the registry of the vSphere sessions that callers of
// the VI/JSON facade open as themselves: a Login goes to the vCenter's own
// SDK URL, with the connection settings of the gateway's session, and the
// sessions are honoured only on the in-process connection.
func newUserSessions(session func(vcenterID string) (*vcenter.Session, bool)) (*service.UserSessions, error) {
	return service.NewUserSessions(service.UserSessionsOptions{
		Login: func(ctx context.Context, vcenterID, username, password string) (service.UserUpstream, error) {
			s, ok := session(vcenterID)
			if !ok {
				return nil, service.ErrUnknownVCenter
			}
			u, err := s.LoginUser(ctx, username, password)
			if err != nil {
				return nil, err
			}
			return u, nil
		},
		Trusted: isInProcess,
	})
}

// vsphereCaller makes a REST call in a vSphere user's own session the
// call of that user, for the gateway's authentication and audit: vCenter
// applies the user's privileges.
func vsphereCaller(ctx context.Context, _ string, userName string) context.Context {
	return context.WithValue(ctx, restAuthKey{}, restAuth{caller: auth.VSphereUser(userName)})
}
