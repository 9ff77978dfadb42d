package callauth

import (
	"context"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/meterflow/meterflow/platform/rpcerr"
)

// Access says which end-user credential a method needs.
type Access int

// Access levels.
const (
	// ServiceOnly methods need only a service token from an allowed caller.
	ServiceOnly Access = iota
	// UserRequired methods also need a valid access token of any user.
	UserRequired
	// AdminRequired methods also need an access token of an admin.
	AdminRequired
)

// Rule is who may call one gRPC method.
type Rule struct {
	Callers []string
	Access  Access
	// Scope is the API-key scope (apikey.Scope*) that lets the token of a
	// call made with an API key reach this user method. Empty: no key's
	// token does, whatever its scopes (the default, so a new method is
	// closed to keys until someone decides otherwise).
	Scope string
}

// Policy maps full gRPC method names ("/pkg.Service/Method") to rules.
// A method missing from the policy is refused: new methods are closed until
// someone decides who may call them.
type Policy map[string]Rule

// Caller is the authenticated origin of a call.
type Caller struct {
	Service string
	User    *Principal
}

type callerKey struct{}

// CallerFrom returns the authenticated caller stored by the interceptor.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// WithCaller returns ctx carrying c; for tests of handlers without the interceptor.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// UserFrom returns the verified user of the call, if any.
func UserFrom(ctx context.Context) (Principal, bool) {
	c, ok := CallerFrom(ctx)
	if !ok || c.User == nil {
		return Principal{}, false
	}
	return *c.User, true
}

// Server authenticates incoming calls of one service.
type Server struct {
	// Service is this service's name: the audience of its service tokens.
	Service string
	// Secret is INTERNAL_AUTH_SECRET: the secret this deployment signs
	// service tokens with, and the first one tried to verify them.
	Secret []byte
	// Previous, when set, is also accepted to verify service tokens
	// (INTERNAL_AUTH_SECRET_PREVIOUS): during a rotation, the processes
	// still running with the old secret keep reaching this one.
	Previous []byte
	// Users checks access tokens; a *CachingVerifier around an
	// AccessVerifier in the services.
	Users  UserVerifier
	Policy Policy

	initOnce sync.Once
	services serviceTokenCache
}

// UnaryInterceptor checks both credentials against the policy.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, "/grpc.health.v1.Health/") {
			return handler(ctx, req)
		}
		caller, err := s.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(context.WithValue(ctx, callerKey{}, caller), req)
	}
}

func (s *Server) authenticate(ctx context.Context, method string) (Caller, error) {
	rule, ok := s.Policy[method]
	if !ok {
		return Caller{}, rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "method is not open to any caller")
	}
	s.initOnce.Do(func() { s.services = newServiceTokenCache() })
	svc, err := s.services.verify(first(ctx, ServiceTokenKey), s.Service, s.Secret, s.Previous)
	if err != nil {
		return Caller{}, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "missing or invalid service token")
	}
	if !slices.Contains(rule.Callers, svc) {
		return Caller{}, rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "service "+svc+" may not call this method")
	}
	caller := Caller{Service: svc}
	if rule.Access == ServiceOnly {
		return caller, nil
	}
	raw, found := strings.CutPrefix(first(ctx, UserTokenKey), "Bearer ")
	if !found || raw == "" {
		return Caller{}, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "missing access token")
	}
	p, err := s.Users.Verify(ctx, raw)
	if err != nil {
		return Caller{}, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "invalid access token")
	}
	if rule.Access == AdminRequired && !p.Admin {
		return Caller{}, rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "admin role required")
	}
	if p.ViaAPIKey() && (rule.Scope == "" || !p.HasScope(rule.Scope)) {
		return Caller{}, rpcerr.New(codes.PermissionDenied, rpcerr.InsufficientScope, "the API key's scopes do not allow this method")
	}
	caller.User = &p
	return caller, nil
}

// first reads one incoming metadata value without copying the whole
// metadata map (as metadata.FromIncomingContext does on every call).
func first(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

type userTokenKey struct{}

// WithUserToken returns ctx whose outgoing calls forward the user's access token.
func WithUserToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, userTokenKey{}, token)
}

// Credentials attaches this service's token for target, and the user's
// access token when the context carries one (WithUserToken).
func (m *Minter) Credentials(target string) credentials.PerRPCCredentials {
	return perRPC{m: m, target: target}
}

type perRPC struct {
	m      *Minter
	target string
}

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := p.m.Token(p.target)
	if err != nil {
		return nil, err
	}
	md := map[string]string{ServiceTokenKey: tok}
	if ut, ok := ctx.Value(userTokenKey{}).(string); ok && ut != "" {
		md[UserTokenKey] = "Bearer " + ut
	}
	return md, nil
}

// RequireTransportSecurity is false: transport encryption inside the cluster
// is the mesh's or the network's job (docs/trust-model.md); the tokens are
// short-lived and bound to one audience.
func (perRPC) RequireTransportSecurity() bool { return false }

// UserTokenCacheSize is how many verified access tokens a service's Server
// remembers (about 600 bytes each: the token and its principal).
const UserTokenCacheSize = 10_000

// NewServer returns the authenticator of service: service tokens signed
// with secret (or a secret accepted by an option), access tokens checked
// by users and remembered until they expire (UserTokenCacheSize), method
// rules from policy.
func NewServer(service string, secret []byte, users AccessVerifier, policy Policy, opts ...ServerOption) *Server {
	cv, _ := NewCachingVerifier(users, UserTokenCacheSize) // size > 0: no error
	s := &Server{Service: service, Secret: secret, Users: cv, Policy: policy}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ServerOption changes a Server made by NewServer.
type ServerOption func(*Server)

// AcceptPrevious makes the server also accept service tokens signed with
// previous (INTERNAL_AUTH_SECRET_PREVIOUS; nothing when it is empty), so
// that INTERNAL_AUTH_SECRET rotates without a failed call: see
// docs/operations.md, "Rotating secrets". Tokens are still signed with the
// current secret only.
func AcceptPrevious(previous []byte) ServerOption {
	return func(s *Server) {
		if len(previous) > 0 {
			s.Previous = previous
		}
	}
}
