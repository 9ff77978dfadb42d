// Package grpcapi maps the wallet.v1 gRPC API to the wallet package: proto
// to domain and back, the call policy, and one toStatus for errors.
package grpcapi

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Server implements walletv1.WalletServiceServer. Every error leaves
// through toStatus; an internal one carries its cause, which grpcservice's
// interceptor logs once with the trace id.
type Server struct {
	walletv1.UnimplementedWalletServiceServer
	svc *wallet.Service
}

// NewServer returns the gRPC API over svc.
func NewServer(svc *wallet.Service) *Server { return &Server{svc: svc} }

func caller(ctx context.Context) (uuid.UUID, error) {
	p, ok := callauth.UserFrom(ctx)
	if !ok {
		return uuid.Nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "missing user")
	}
	id, err := uuid.Parse(p.UserID)
	if err != nil {
		return uuid.Nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "access token subject is not a user id")
	}
	return id, nil
}

// parseUserID reads a user (or API key) id a trusted caller names (the
// workflow service, an admin): anything but a UUID in its canonical form
// is a validation error on field.
func parseUserID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil || len(s) != 36 {
		return uuid.Nil, validation.Field(field, "must be a UUID")
	}
	return id, nil
}

// GetWallet implements walletv1.WalletServiceServer.
func (s *Server) GetWallet(ctx context.Context, _ *walletv1.GetWalletRequest) (*walletv1.GetWalletResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.svc.GetWallet(ctx, uid)
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.GetWalletResponse{Wallet: walletPB(w)}, nil
}

// ListTransactions implements walletv1.WalletServiceServer.
func (s *Server) ListTransactions(ctx context.Context, r *walletv1.ListTransactionsRequest) (*walletv1.ListTransactionsResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rows, next, err := s.svc.ListTransactions(ctx, uid, r.GetKind(), int(r.GetLimit()), r.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.ListTransactionsResponse{Transactions: transactionsPB(rows), NextCursor: next}, nil
}

// CreateTopUp implements walletv1.WalletServiceServer.
func (s *Server) CreateTopUp(ctx context.Context, r *walletv1.CreateTopUpRequest) (*walletv1.CreateTopUpResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.svc.CreateTopUp(ctx, wallet.CreateTopUpRequest{
		UserID: uid, AmountCents: r.GetAmountCents(), SuccessURL: r.GetSuccessUrl(), CancelURL: r.GetCancelUrl(), IdempotencyKey: r.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.CreateTopUpResponse{TopUp: topUpPB(t)}, nil
}

// GetTopUp implements walletv1.WalletServiceServer.
func (s *Server) GetTopUp(ctx context.Context, r *walletv1.GetTopUpRequest) (*walletv1.GetTopUpResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := uuid.Parse(r.GetId())
	if err != nil { // no top-up has this id: the same answer as another user's
		return nil, toStatus(fmt.Errorf("get top-up: %w", wallet.ErrNotFound))
	}
	t, err := s.svc.GetTopUp(ctx, uid, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.GetTopUpResponse{TopUp: topUpPB(t)}, nil
}

// HandleStripeEvent implements walletv1.WalletServiceServer.
func (s *Server) HandleStripeEvent(ctx context.Context, r *walletv1.HandleStripeEventRequest) (*walletv1.HandleStripeEventResponse, error) {
	if err := s.svc.HandleStripeEvent(ctx, r.GetPayload(), r.GetSignature()); err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.HandleStripeEventResponse{}, nil
}

// Reserve implements walletv1.WalletServiceServer.
func (s *Server) Reserve(ctx context.Context, r *walletv1.ReserveRequest) (*walletv1.ReserveResponse, error) {
	uid, err := parseUserID("user_id", r.GetUserId())
	if err != nil {
		return nil, toStatus(err)
	}
	req := wallet.ReserveRequest{
		Key: r.GetKey(), UserID: uid, AmountCents: r.GetAmountCents(),
		Description: r.GetDescription(), ReferenceType: r.GetReferenceType(), ReferenceID: r.GetReferenceId(),
		APIKeyLimitCents: r.ApiKeyMonthlyLimitCents,
	}
	if raw := r.GetApiKeyId(); raw != "" {
		if req.APIKeyID, err = parseUserID("api_key_id", raw); err != nil {
			return nil, toStatus(err)
		}
	}
	if r.GetExpiresAt() != nil {
		req.ExpiresAt = r.GetExpiresAt().AsTime()
	}
	h, err := s.svc.Reserve(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.ReserveResponse{Hold: holdPB(h)}, nil
}

// Capture implements walletv1.WalletServiceServer.
func (s *Server) Capture(ctx context.Context, r *walletv1.CaptureRequest) (*walletv1.CaptureResponse, error) {
	h, t, err := s.svc.Capture(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.CaptureResponse{Hold: holdPB(h), Transaction: transactionPB(t)}, nil
}

// Release implements walletv1.WalletServiceServer.
func (s *Server) Release(ctx context.Context, r *walletv1.ReleaseRequest) (*walletv1.ReleaseResponse, error) {
	h, err := s.svc.Release(ctx, r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.ReleaseResponse{Hold: holdPB(h)}, nil
}

// AdminAdjustBalance implements walletv1.WalletServiceServer.
func (s *Server) AdminAdjustBalance(ctx context.Context, r *walletv1.AdminAdjustBalanceRequest) (*walletv1.AdminAdjustBalanceResponse, error) {
	actor, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	uid, err := parseUserID("user_id", r.GetUserId())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.svc.Adjust(ctx, wallet.AdjustRequest{
		ActorID: actor, UserID: uid, AmountCents: r.GetAmountCents(), Reason: r.GetReason(), IdempotencyKey: r.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.AdminAdjustBalanceResponse{Transaction: transactionPB(t)}, nil
}

// AdminListTransactions implements walletv1.WalletServiceServer.
func (s *Server) AdminListTransactions(ctx context.Context, r *walletv1.AdminListTransactionsRequest) (*walletv1.AdminListTransactionsResponse, error) {
	f := wallet.TransactionFilter{Kind: r.GetKind(), Query: r.GetQuery(), Limit: int(r.GetLimit())}
	if r.GetUserId() != "" {
		id, err := parseUserID("user_id", r.GetUserId())
		if err != nil {
			return nil, toStatus(err)
		}
		f.UserID = &id
	}
	if r.GetCreatedFrom() != nil {
		f.CreatedFrom = r.GetCreatedFrom().AsTime()
	}
	if r.GetCreatedTo() != nil {
		f.CreatedTo = r.GetCreatedTo().AsTime()
	}
	rows, next, err := s.svc.AdminListTransactions(ctx, f, r.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.AdminListTransactionsResponse{Transactions: transactionsPB(rows), NextCursor: next}, nil
}

// AdminGetWallets implements walletv1.WalletServiceServer.
func (s *Server) AdminGetWallets(ctx context.Context, r *walletv1.AdminGetWalletsRequest) (*walletv1.AdminGetWalletsResponse, error) {
	ids := make([]uuid.UUID, 0, len(r.GetUserIds()))
	for _, raw := range r.GetUserIds() {
		id, err := parseUserID("user_ids", raw)
		if err != nil {
			return nil, toStatus(err)
		}
		ids = append(ids, id)
	}
	ws, err := s.svc.AdminGetWallets(ctx, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.AdminGetWalletsResponse{Wallets: make([]*walletv1.Wallet, len(ws))}
	for i, w := range ws {
		out.Wallets[i] = walletPB(w)
	}
	return out, nil
}

// AdminListAuditEvents implements walletv1.WalletServiceServer.
func (s *Server) AdminListAuditEvents(ctx context.Context, r *walletv1.AdminListAuditEventsRequest) (*walletv1.AdminListAuditEventsResponse, error) {
	rows, next, err := s.svc.ListAuditEvents(ctx, r.GetTargetId(), int(r.GetLimit()), r.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.AdminListAuditEventsResponse{NextCursor: next, Events: make([]*walletv1.AuditEvent, len(rows))}
	for i, e := range rows {
		out.Events[i] = &walletv1.AuditEvent{
			Id: e.ID.String(), ActorId: e.ActorID.String(), Action: e.Action, TargetType: e.TargetType, TargetId: e.TargetID,
			Reason: e.Reason, BeforeJson: e.Before, AfterJson: e.After, CreatedAt: timestamppb.New(e.CreatedAt),
		}
	}
	return out, nil
}

func walletPB(w wallet.Wallet) *walletv1.Wallet {
	return &walletv1.Wallet{UserId: w.UserID.String(), BalanceCents: w.BalanceCents, HeldCents: w.HeldCents, AvailableCents: w.AvailableCents(), Currency: w.Currency}
}

func transactionPB(t wallet.Transaction) *walletv1.Transaction {
	return &walletv1.Transaction{
		Id: t.ID.String(), UserId: t.UserID.String(), Kind: t.Kind, AmountCents: t.AmountCents, BalanceAfterCents: t.BalanceAfterCents,
		Description: t.Description, ReferenceType: t.ReferenceType, ReferenceId: t.ReferenceID, CreatedAt: timestamppb.New(t.CreatedAt),
	}
}

func transactionsPB(rows []wallet.Transaction) []*walletv1.Transaction {
	out := make([]*walletv1.Transaction, len(rows))
	for i, t := range rows {
		out[i] = transactionPB(t)
	}
	return out
}

func holdPB(h wallet.Hold) *walletv1.Hold {
	out := &walletv1.Hold{Id: h.ID.String(), Key: h.Key, UserId: h.UserID.String(), AmountCents: h.AmountCents, Status: h.Status, ExpiresAt: timestamppb.New(h.ExpiresAt)}
	if h.APIKeyID != uuid.Nil {
		out.ApiKeyId = h.APIKeyID.String()
	}
	return out
}

func topUpPB(t wallet.TopUp) *walletv1.TopUp {
	return &walletv1.TopUp{Id: t.ID.String(), CheckoutSessionId: t.CheckoutSessionID, CheckoutUrl: t.CheckoutURL, AmountCents: t.AmountCents, Status: t.UserStatus(), CreatedAt: timestamppb.New(t.CreatedAt)}
}
