package smssim

// A read-only user for tests of per-user vCenter sessions: it logs in like
// any user, and [Server.AddReadOnlyUser] has its mutating SMS calls fault
// NoPermission.
const (
	ReadOnlyUsername = "readonly"
	ReadOnlyPassword = "readonly-pass"
	// ConfigureServicePrivilege is the vSphere privilege the SMS mutating
	// methods need, named in the NoPermission of a denied user.
	ConfigureServicePrivilege = "StorageViews.ConfigureService"
)

// AddUser lets username log in to vim25 with password, beside the
// [Server]'s own user. Its SMS calls are allowed unless
// [Simulator.DenyUser] says otherwise.
func (s *Server) AddUser(username, password string) {
	s.users.Store(username, password)
}

// AddReadOnlyUser adds [ReadOnlyUsername] with [ReadOnlyPassword], whose
// mutating SMS calls fault NoPermission for [ConfigureServicePrivilege].
func (s *Server) AddReadOnlyUser() {
	s.AddUser(ReadOnlyUsername, ReadOnlyPassword)
	s.Sim.DenyUser(ReadOnlyUsername, ConfigureServicePrivilege)
}

func (s *Server) validUser(username, password string) bool {
	p, ok := s.users.Load(username)
	return ok && p.(string) == password
}
