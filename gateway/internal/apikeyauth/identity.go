package apikeyauth

import (
	"context"

	"google.golang.org/grpc"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// Invalidating wraps the gateway's identity client so that every change
// that must stop API keys, whoever makes it through this gateway (the
// API's key revocation, an admin disabling a user in the API or the
// console), invalidates the cached keys at once, here and on every replica.
type Invalidating struct {
	identityv1.IdentityServiceClient
	Keys *Authenticator
}

// RevokeAPIKey implements identityv1.IdentityServiceClient.
func (c Invalidating) RevokeAPIKey(ctx context.Context, in *identityv1.RevokeAPIKeyRequest, opts ...grpc.CallOption) (*identityv1.RevokeAPIKeyResponse, error) {
	resp, err := c.IdentityServiceClient.RevokeAPIKey(ctx, in, opts...)
	if err == nil {
		c.Keys.KeyRevoked(ctx, resp.GetKey().GetId())
	}
	return resp, err
}

// AdminUpdateUser implements identityv1.IdentityServiceClient.
func (c Invalidating) AdminUpdateUser(ctx context.Context, in *identityv1.AdminUpdateUserRequest, opts ...grpc.CallOption) (*identityv1.AdminUpdateUserResponse, error) {
	resp, err := c.IdentityServiceClient.AdminUpdateUser(ctx, in, opts...)
	if err == nil && in.IsActive != nil && !in.GetIsActive() {
		c.Keys.UserDisabled(ctx, resp.GetUser().GetId())
	}
	return resp, err
}
