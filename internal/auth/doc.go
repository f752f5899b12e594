// Package auth decides who a caller of the gateway is and what it may do.
//
// A caller proves who it is with a bearer token (a JWT verified against a
// JWKS file or an OpenID Connect issuer, see [TokenVerifier]) or with a
// client certificate that the TLS handshake has already verified (mutual
// TLS). An [Authenticator] turns those credentials into a [Caller] and looks
// its roles up in a [Policy]: role [RoleViewer] reads providers and tasks
// (vSphere's StorageViews.View), role [RoleOperator] also reconnects
// providers (StorageViews.ConfigureService). An [Interceptor] runs in front
// of every gRPC method: it authenticates, checks the role the method needs,
// and puts the caller in the context, where [CallerFrom] finds it for the
// audit log.
//
// Refusals are gRPC statuses with a google.rpc.ErrorInfo of domain
// vasagw.io: UNAUTHENTICATED when credentials are missing or invalid (the
// token itself is never echoed), PERMISSION_DENIED with the missing role
// when the caller lacks it.
//
// The REST facade authenticates its callers itself (only the HTTP server
// sees their client certificates) and forwards the result to the gRPC
// server over an in-process connection, sealed by a [Sealer] so that no
// caller can forge it.
package auth
