package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// keyScopes lists the only routes an API key reaches, each with the scope
// it needs (shared/spec/api.md, "API keys"). Every other route that needs
// a user refuses keys with 403 insufficient_scope, whatever the key's
// scopes and its user's role: the admin routes, key management, the
// account, top-ups, webhook endpoints, and any route added later until it
// is listed here. The services hold the same rule (callauth.Rule.Scope).
var keyScopes = map[string]string{
	"GET /v1/workflows":             apikey.ScopeWorkflowsRead,
	"POST /v1/workflows/:slug/runs": apikey.ScopeRunsWrite,
	"GET /v1/runs":                  apikey.ScopeRunsRead,
	"GET /v1/runs/:id":              apikey.ScopeRunsRead,
	"GET /v1/wallet":                apikey.ScopeWalletRead,
	"GET /v1/wallet/transactions":   apikey.ScopeWalletRead,
}

// KeyScopes returns the routes API keys reach ("GET /v1/runs/{id}",
// OpenAPI style) and the scope each needs, for the tests that hold the
// OpenAPI document's x-api-key-scope to it.
func KeyScopes() map[string]string {
	out := make(map[string]string, len(keyScopes))
	for route, scope := range keyScopes {
		method, path, _ := strings.Cut(route, " ")
		out[method+" "+OpenAPIPath(path)] = scope
	}
	return out
}

// routeScope is the scope a key needs for the matched route ("" for none
// that opens it). HEAD is GET's twin.
func routeScope(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil {
		return ""
	}
	method := c.Method()
	if method == fiber.MethodHead {
		method = fiber.MethodGet
	}
	return keyScopes[method+" "+r.Path]
}

var errInsufficientScope = problem.New(http.StatusForbidden, rpcerr.InsufficientScope,
	"API keys do not reach this route, or the key lacks the scope it needs.")

// requireKey authenticates an API key (apikeyauth: checksum before any
// lookup, then identity, cached) and checks the route's scope: a bad key
// is 401 invalid_api_key wherever it is sent, a good one outside its
// scopes 403 insufficient_scope. The principal carries the short-lived
// token identity issued for the key, which the services verify.
func (s *Server) requireKey(c *fiber.Ctx, key string) error {
	if s.d.APIKeys == nil {
		return problem.New(http.StatusUnauthorized, rpcerr.InvalidAPIKey, "API keys are not accepted here.")
	}
	a, err := s.d.APIKeys.Authenticate(c.UserContext(), strings.Clone(key))
	if errors.Is(err, apikeyauth.ErrInvalid) {
		return problem.New(http.StatusUnauthorized, rpcerr.InvalidAPIKey, "The API key is revoked, expired, unknown or malformed.")
	}
	if err != nil {
		return err
	}
	if scope := routeScope(c); scope == "" || !slices.Contains(a.Scopes, scope) {
		return errInsufficientScope
	}
	c.Locals(localPrincipal, callauth.Principal{
		UserID: a.UserID, ExpiresAt: a.ExpiresAt, Token: a.Token, KeyID: a.KeyID, Scopes: a.Scopes,
		EmailVerified: a.EmailVerified,
	})
	return c.Next()
}
