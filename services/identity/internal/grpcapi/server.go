package grpcapi

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/validation"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

// Server implements identityv1.IdentityServiceServer on the identity service.
type Server struct {
	identityv1.UnimplementedIdentityServiceServer
	svc     *identity.Service
	metrics *Metrics
}

// NewServer returns the gRPC server of svc, counting into m.
func NewServer(svc *identity.Service, m *Metrics) *Server {
	return &Server{svc: svc, metrics: m}
}

// SignUp implements identityv1.IdentityServiceServer.
func (s *Server) SignUp(ctx context.Context, req *identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
	ttl, err := refreshTTL(req.GetRefreshTtl())
	if err != nil {
		return nil, toStatus(err)
	}
	sess, err := s.svc.SignUp(ctx, req.GetEmail(), req.GetPassword(), ttl)
	if err != nil {
		return nil, toStatus(err)
	}
	s.metrics.signups.Inc()
	return &identityv1.SignUpResponse{User: toProtoUser(sess.User), Tokens: toProtoTokens(sess.Tokens)}, nil
}

// Login implements identityv1.IdentityServiceServer.
func (s *Server) Login(ctx context.Context, req *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	ttl, err := refreshTTL(req.GetRefreshTtl())
	if err != nil {
		return nil, toStatus(err)
	}
	sess, err := s.svc.Login(ctx, identity.LoginRequest{Email: req.GetEmail(), Password: req.GetPassword(), ClientIP: req.GetClientIp(), RefreshTTL: ttl})
	var terr *identity.ThrottledError
	switch {
	case err == nil:
		s.metrics.logins.WithLabelValues("success").Inc()
	case errors.Is(err, identity.ErrInvalidCredentials):
		s.metrics.logins.WithLabelValues("invalid").Inc()
	case errors.As(err, &terr):
		s.metrics.logins.WithLabelValues("throttled").Inc()
	case errors.Is(err, identity.ErrBusy):
		s.metrics.logins.WithLabelValues("busy").Inc()
	default:
		s.metrics.logins.WithLabelValues("error").Inc()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.LoginResponse{User: toProtoUser(sess.User), Tokens: toProtoTokens(sess.Tokens)}, nil
}

// refreshTTL reads a request's optional refresh_ttl (0 when absent).
func refreshTTL(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, validation.Field("refresh_ttl", "is not a valid duration")
	}
	return d.AsDuration(), nil
}

// Refresh implements identityv1.IdentityServiceServer.
func (s *Server) Refresh(ctx context.Context, req *identityv1.RefreshRequest) (*identityv1.RefreshResponse, error) {
	toks, err := s.svc.Refresh(ctx, req.GetRefreshToken())
	switch {
	case err == nil:
		s.metrics.refresh.WithLabelValues("success").Inc()
	case errors.Is(err, identity.ErrInvalidToken):
		s.metrics.refresh.WithLabelValues("invalid").Inc()
		if errors.Is(err, identity.ErrTokenReused) {
			s.metrics.reuse.Inc()
		}
	default:
		s.metrics.refresh.WithLabelValues("error").Inc()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.RefreshResponse{Tokens: toProtoTokens(toks)}, nil
}

// Logout implements identityv1.IdentityServiceServer.
func (s *Server) Logout(ctx context.Context, req *identityv1.LogoutRequest) (*identityv1.LogoutResponse, error) {
	if err := s.svc.Logout(ctx, req.GetRefreshToken()); err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.LogoutResponse{}, nil
}

// GetUser implements identityv1.IdentityServiceServer.
func (s *Server) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	caller := callerID(ctx)
	id := caller // no id asks for the caller
	if req.GetId() != "" {
		id = userID(req.GetId())
	}
	u, err := s.svc.GetUser(ctx, caller, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.GetUserResponse{User: toProtoUser(u)}, nil
}

// GetUserContact implements identityv1.IdentityServiceServer.
func (s *Server) GetUserContact(ctx context.Context, req *identityv1.GetUserContactRequest) (*identityv1.GetUserContactResponse, error) {
	u, err := s.svc.Contact(ctx, userID(req.GetUserId()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.GetUserContactResponse{Email: u.Email, EmailVerified: u.EmailVerified(), IsActive: u.IsActive}, nil
}

// AdminListUsers implements identityv1.IdentityServiceServer.
func (s *Server) AdminListUsers(ctx context.Context, req *identityv1.AdminListUsersRequest) (*identityv1.AdminListUsersResponse, error) {
	page, err := s.svc.ListUsers(ctx, callerID(ctx), req.GetQuery(), int(req.GetLimit()), req.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &identityv1.AdminListUsersResponse{NextCursor: page.NextCursor, Users: make([]*identityv1.User, len(page.Items))}
	for i, u := range page.Items {
		out.Users[i] = toProtoUser(u)
	}
	return out, nil
}

// AdminUpdateUser implements identityv1.IdentityServiceServer.
func (s *Server) AdminUpdateUser(ctx context.Context, req *identityv1.AdminUpdateUserRequest) (*identityv1.AdminUpdateUserResponse, error) {
	u, err := s.svc.UpdateUser(ctx, callerID(ctx), identity.UserChange{
		ID: userID(req.GetId()), IsActive: req.IsActive, IsAdmin: req.IsAdmin, Reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.AdminUpdateUserResponse{User: toProtoUser(u)}, nil
}

// AdminListAuditEvents implements identityv1.IdentityServiceServer.
func (s *Server) AdminListAuditEvents(ctx context.Context, req *identityv1.AdminListAuditEventsRequest) (*identityv1.AdminListAuditEventsResponse, error) {
	page, err := s.svc.ListAuditEvents(ctx, callerID(ctx), req.GetTargetId(), int(req.GetLimit()), req.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &identityv1.AdminListAuditEventsResponse{NextCursor: page.NextCursor, Events: make([]*identityv1.AuditEvent, len(page.Items))}
	for i, e := range page.Items {
		out.Events[i] = &identityv1.AuditEvent{
			Id: e.ID.String(), ActorId: e.ActorID, Action: e.Action, TargetType: e.TargetType, TargetId: e.TargetID,
			Reason: e.Reason, BeforeJson: e.Before, AfterJson: e.After, CreatedAt: timestamppb.New(e.CreatedAt),
		}
	}
	return out, nil
}

// AdminGetUserStats implements identityv1.IdentityServiceServer.
func (s *Server) AdminGetUserStats(ctx context.Context, _ *identityv1.AdminGetUserStatsRequest) (*identityv1.AdminGetUserStatsResponse, error) {
	st, err := s.svc.UserStats(ctx, callerID(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &identityv1.AdminGetUserStatsResponse{
		UsersTotal: st.Total, UsersActive: st.Active, Admins: st.Admins,
		NewUsersToday: st.NewToday, NewUsers_30D: st.New30d,
	}, nil
}

// GetSigningKeys implements identityv1.IdentityServiceServer.
func (s *Server) GetSigningKeys(ctx context.Context, _ *identityv1.GetSigningKeysRequest) (*identityv1.GetSigningKeysResponse, error) {
	keys, err := s.svc.SigningKeys(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &identityv1.GetSigningKeysResponse{Keys: make([]*identityv1.SigningKey, len(keys))}
	for i, k := range keys {
		pk := &identityv1.SigningKey{Kid: k.Kid, PublicKey: k.PublicKey}
		if k.RetiredAt != nil {
			pk.RetiredAt = timestamppb.New(*k.RetiredAt)
		}
		out.Keys[i] = pk
	}
	return out, nil
}

// callerID is the verified user of the call; the call policy guarantees
// one for user and admin methods.
func callerID(ctx context.Context) uuid.UUID {
	p, _ := callauth.UserFrom(ctx)
	return userID(p.UserID)
}

// userID parses a user id of a request (the canonical 36-character form
// only, as the gateway). A malformed id names no user, so it becomes
// uuid.Nil, which no user has (ids are random): the service then answers
// as for any unknown id (NotFound, or for a caller Unauthorized /
// Forbidden), as the gateway answers 404 for a malformed id in a path, and
// a non-admin cannot tell junk from someone else's id.
func userID(s string) uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil
	}
	return id
}

func toProtoUser(u identity.User) *identityv1.User {
	return &identityv1.User{
		Id: u.ID.String(), Email: u.Email, IsAdmin: u.IsAdmin, IsActive: u.IsActive, EmailVerified: u.EmailVerified(),
		CreatedAt: timestamppb.New(u.CreatedAt),
	}
}

func toProtoTokens(t identity.Tokens) *identityv1.TokenPair {
	return &identityv1.TokenPair{AccessToken: t.Access, RefreshToken: t.Refresh, ExpiresIn: int64(t.ExpiresIn.Seconds())}
}
