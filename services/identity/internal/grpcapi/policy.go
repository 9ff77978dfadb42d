// Package grpcapi exposes the identity service over gRPC: proto ↔ domain
// mapping, the call policy, and one toStatus for every error.
package grpcapi

import (
	"github.com/meterflow/meterflow/platform/callauth"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// Policy says who may call each method (docs/trust-model.md). Admin
// methods are also checked against the stored user in the service.
func Policy() callauth.Policy {
	return callauth.Policy{
		identityv1.IdentityService_SignUp_FullMethodName:               {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_Login_FullMethodName:                {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_Refresh_FullMethodName:              {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_Logout_FullMethodName:               {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_GetUser_FullMethodName:              {Callers: []string{"gateway"}, Access: callauth.UserRequired},
		identityv1.IdentityService_AdminListUsers_FullMethodName:       {Callers: []string{"gateway"}, Access: callauth.AdminRequired},
		identityv1.IdentityService_AdminUpdateUser_FullMethodName:      {Callers: []string{"gateway"}, Access: callauth.AdminRequired},
		identityv1.IdentityService_AdminListAuditEvents_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.AdminRequired},
		identityv1.IdentityService_AdminGetUserStats_FullMethodName:    {Callers: []string{"gateway"}, Access: callauth.AdminRequired},
		identityv1.IdentityService_GetSigningKeys_FullMethodName:       {Callers: []string{"gateway", "wallet", "workflow", "notify"}, Access: callauth.ServiceOnly},
		// Keys are managed with a login's token only: no Scope, so a key's
		// token is refused (a key cannot mint or revoke keys).
		identityv1.IdentityService_CreateAPIKey_FullMethodName:       {Callers: []string{"gateway"}, Access: callauth.UserRequired},
		identityv1.IdentityService_ListAPIKeys_FullMethodName:        {Callers: []string{"gateway"}, Access: callauth.UserRequired},
		identityv1.IdentityService_RevokeAPIKey_FullMethodName:       {Callers: []string{"gateway"}, Access: callauth.UserRequired},
		identityv1.IdentityService_AuthenticateAPIKey_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		// Notify looks up where to send a user's email at send time.
		identityv1.IdentityService_GetUserContact_FullMethodName: {Callers: []string{"notify"}, Access: callauth.ServiceOnly},
		// The account lifecycle: the links' routes carry no access token;
		// the /me ones take a login's token only (no Scope: an API key
		// never changes a password, sends emails or ends logins).
		identityv1.IdentityService_VerifyEmail_FullMethodName:          {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_RequestPasswordReset_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_ConfirmPasswordReset_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		identityv1.IdentityService_ResendVerification_FullMethodName:   {Callers: []string{"gateway"}, Access: callauth.UserRequired},
		identityv1.IdentityService_ChangePassword_FullMethodName:       {Callers: []string{"gateway"}, Access: callauth.UserRequired},
		identityv1.IdentityService_LogoutAll_FullMethodName:            {Callers: []string{"gateway"}, Access: callauth.UserRequired},
	}
}
