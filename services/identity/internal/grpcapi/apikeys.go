package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/validation"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

// CreateAPIKey implements identityv1.IdentityServiceServer.
func (s *Server) CreateAPIKey(ctx context.Context, req *identityv1.CreateAPIKeyRequest) (*identityv1.CreateAPIKeyResponse, error) {
	r := identity.NewAPIKey{Name: req.GetName(), Scopes: req.GetScopes(), MonthlySpendLimitCents: req.MonthlySpendLimitCents}
	if ts := req.GetExpiresAt(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return nil, toStatus(validation.Field("expires_at", "must be a valid time"))
		}
		t := ts.AsTime()
		r.ExpiresAt = &t
	}
	k, secret, err := s.svc.CreateAPIKey(ctx, callerID(ctx), r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.CreateAPIKeyResponse{Key: toProtoAPIKey(k), Secret: secret}, nil
}

// ListAPIKeys implements identityv1.IdentityServiceServer.
func (s *Server) ListAPIKeys(ctx context.Context, req *identityv1.ListAPIKeysRequest) (*identityv1.ListAPIKeysResponse, error) {
	page, err := s.svc.ListAPIKeys(ctx, callerID(ctx), int(req.GetLimit()), req.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &identityv1.ListAPIKeysResponse{NextCursor: page.NextCursor, Keys: make([]*identityv1.APIKey, len(page.Items))}
	for i, k := range page.Items {
		out.Keys[i] = toProtoAPIKey(k)
	}
	return out, nil
}

// RevokeAPIKey implements identityv1.IdentityServiceServer. A malformed id
// names no key: NotFound, as another user's.
func (s *Server) RevokeAPIKey(ctx context.Context, req *identityv1.RevokeAPIKeyRequest) (*identityv1.RevokeAPIKeyResponse, error) {
	id, err := uuid.Parse(req.GetId())
	if err != nil || len(req.GetId()) != 36 {
		return nil, toStatus(identity.ErrAPIKeyNotFound)
	}
	k, err := s.svc.RevokeAPIKey(ctx, callerID(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.RevokeAPIKeyResponse{Key: toProtoAPIKey(k)}, nil
}

// AuthenticateAPIKey implements identityv1.IdentityServiceServer.
func (s *Server) AuthenticateAPIKey(ctx context.Context, req *identityv1.AuthenticateAPIKeyRequest) (*identityv1.AuthenticateAPIKeyResponse, error) {
	a, err := s.svc.AuthenticateAPIKey(ctx, req.GetKeyHash())
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.AuthenticateAPIKeyResponse{
		AccessToken: a.Token, ExpiresAt: timestamppb.New(a.ExpiresAt),
		UserId: a.UserID.String(), KeyId: a.KeyID.String(), Scopes: a.Scopes, EmailVerified: a.EmailVerified,
	}, nil
}

func toProtoAPIKey(k identity.APIKey) *identityv1.APIKey {
	return &identityv1.APIKey{
		Id: k.ID.String(), Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, ExpiresAt: tsOrNil(k.ExpiresAt),
		MonthlySpendLimitCents: k.MonthlySpendLimitCents, LastUsedAt: tsOrNil(k.LastUsedAt),
		RevokedAt: tsOrNil(k.RevokedAt), CreatedAt: timestamppb.New(k.CreatedAt),
	}
}

func tsOrNil(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}
