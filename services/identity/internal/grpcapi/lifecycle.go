package grpcapi

import (
	"context"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/callauth"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

// VerifyEmail implements identityv1.IdentityServiceServer.
func (s *Server) VerifyEmail(ctx context.Context, req *identityv1.VerifyEmailRequest) (*identityv1.VerifyEmailResponse, error) {
	if err := s.svc.VerifyEmail(ctx, req.GetToken()); err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.VerifyEmailResponse{}, nil
}

// ResendVerification implements identityv1.IdentityServiceServer.
func (s *Server) ResendVerification(ctx context.Context, _ *identityv1.ResendVerificationRequest) (*identityv1.ResendVerificationResponse, error) {
	if err := s.svc.ResendVerification(ctx, callerID(ctx)); err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.ResendVerificationResponse{}, nil
}

// RequestPasswordReset implements identityv1.IdentityServiceServer.
func (s *Server) RequestPasswordReset(ctx context.Context, req *identityv1.RequestPasswordResetRequest) (*identityv1.RequestPasswordResetResponse, error) {
	if err := s.svc.RequestPasswordReset(ctx, req.GetEmail()); err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.RequestPasswordResetResponse{}, nil
}

// ConfirmPasswordReset implements identityv1.IdentityServiceServer.
func (s *Server) ConfirmPasswordReset(ctx context.Context, req *identityv1.ConfirmPasswordResetRequest) (*identityv1.ConfirmPasswordResetResponse, error) {
	if err := s.svc.ConfirmPasswordReset(ctx, req.GetToken(), req.GetPassword()); err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.ConfirmPasswordResetResponse{}, nil
}

// ChangePassword implements identityv1.IdentityServiceServer. The login
// that survives is the access token's sid; a token without one (issued
// before sid existed) keeps no login.
func (s *Server) ChangePassword(ctx context.Context, req *identityv1.ChangePasswordRequest) (*identityv1.ChangePasswordResponse, error) {
	p, _ := callauth.UserFrom(ctx)
	session, err := uuid.Parse(p.SessionID)
	if err != nil {
		session = uuid.Nil
	}
	err = s.svc.ChangePassword(ctx, identity.PasswordChange{
		UserID: callerID(ctx), SessionID: session, ClientIP: req.GetClientIp(),
		CurrentPassword: req.GetCurrentPassword(), NewPassword: req.GetNewPassword(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.ChangePasswordResponse{}, nil
}

// LogoutAll implements identityv1.IdentityServiceServer.
func (s *Server) LogoutAll(ctx context.Context, _ *identityv1.LogoutAllRequest) (*identityv1.LogoutAllResponse, error) {
	if err := s.svc.LogoutAll(ctx, callerID(ctx)); err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.LogoutAllResponse{}, nil
}
