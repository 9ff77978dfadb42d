package api

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/keyspend"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// apiKeyJSON is the contract's ApiKey; Key (the secret) only in the
// answer that created it.
type apiKeyJSON struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Prefix                 string   `json:"prefix"`
	Scopes                 []string `json:"scopes"`
	ExpiresAt              *string  `json:"expires_at"`
	MonthlySpendLimitCents *int64   `json:"monthly_spend_limit_cents"`
	SpentThisMonthCents    int64    `json:"spent_this_month_cents"`
	LastUsedAt             *string  `json:"last_used_at"`
	RevokedAt              *string  `json:"revoked_at"`
	CreatedAt              *string  `json:"created_at"`
	Key                    string   `json:"key,omitempty"`
}

func toAPIKey(k *identityv1.APIKey, spent int64) apiKeyJSON {
	scopes := k.GetScopes()
	if scopes == nil {
		scopes = []string{}
	}
	return apiKeyJSON{
		ID: k.GetId(), Name: k.GetName(), Prefix: k.GetPrefix(), Scopes: scopes,
		ExpiresAt: timeJSON(k.GetExpiresAt()), MonthlySpendLimitCents: k.MonthlySpendLimitCents,
		SpentThisMonthCents: spent, LastUsedAt: timeJSON(k.GetLastUsedAt()),
		RevokedAt: timeJSON(k.GetRevokedAt()), CreatedAt: timeJSON(k.GetCreatedAt()),
	}
}

type apiKeyBody struct {
	Name                   string   `json:"name"`
	Scopes                 []string `json:"scopes"`
	ExpiresAt              *string  `json:"expires_at"`
	MonthlySpendLimitCents *int64   `json:"monthly_spend_limit_cents"`
}

// createAPIKey is POST /v1/api-keys: a login's token only (keyauth.go
// keeps keys out), the rules in identity; the secret is in this answer and
// nowhere else.
func (s *Server) createAPIKey(c *fiber.Ctx) error {
	var b apiKeyBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	req := &identityv1.CreateAPIKeyRequest{Name: b.Name, Scopes: b.Scopes, MonthlySpendLimitCents: b.MonthlySpendLimitCents}
	if b.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *b.ExpiresAt)
		if err != nil {
			return validationField("expires_at", "must be an RFC 3339 time, e.g. 2030-01-31T00:00:00Z")
		}
		req.ExpiresAt = timestamppb.New(t)
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.CreateAPIKey(ctx, req)
	if err != nil {
		return err
	}
	out := toAPIKey(resp.GetKey(), 0)
	out.Key = resp.GetSecret()
	return c.Status(http.StatusCreated).JSON(out)
}

// listAPIKeys is GET /v1/api-keys: the caller's keys from identity, each
// with its spend this month from the wallet, which owns the money.
func (s *Server) listAPIKeys(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	keys, next, err := keyspend.List(ctx, s.d.Identity, s.d.Wallet, limit, cursor)
	if err != nil {
		return err
	}
	items := make([]apiKeyJSON, len(keys))
	for i, k := range keys {
		items[i] = toAPIKey(k.Key, k.Spent)
	}
	return c.JSON(newList(items, next))
}

// revokeAPIKey is DELETE /v1/api-keys/{id}: 204 also when it was revoked
// already; 404 for an id that is not the caller's. The identity client
// drops the key from every replica's cache (apikeyauth.Invalidating).
func (s *Server) revokeAPIKey(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.RevokeAPIKey(ctx, &identityv1.RevokeAPIKeyRequest{Id: id}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
