package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// GetWalletSettings implements walletv1.WalletServiceServer.
func (s *Server) GetWalletSettings(ctx context.Context, _ *walletv1.GetWalletSettingsRequest) (*walletv1.GetWalletSettingsResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.GetSettings(ctx, uid)
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.GetWalletSettingsResponse{Settings: settingsPB(st, 0)}, nil
}

// UpdateWalletSettings implements walletv1.WalletServiceServer.
func (s *Server) UpdateWalletSettings(ctx context.Context, r *walletv1.UpdateWalletSettingsRequest) (*walletv1.UpdateWalletSettingsResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.svc.UpdateSettings(ctx, uid, wallet.SettingsUpdate{
		LowBalanceThresholdCents: r.LowBalanceThresholdCents, ClearLowBalance: r.GetClearLowBalanceThreshold(),
		AutoTopUpEnabled: r.AutoTopupEnabled, AutoTopUpThresholdCents: r.AutoTopupThresholdCents, AutoTopUpAmountCents: r.AutoTopupAmountCents,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.UpdateWalletSettingsResponse{Settings: settingsPB(st, 0)}, nil
}

// CreatePaymentMethodSession implements walletv1.WalletServiceServer.
func (s *Server) CreatePaymentMethodSession(ctx context.Context, r *walletv1.CreatePaymentMethodSessionRequest) (*walletv1.CreatePaymentMethodSessionResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	url, err := s.svc.CreatePaymentMethodSession(ctx, uid, r.GetSuccessUrl(), r.GetCancelUrl())
	if err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.CreatePaymentMethodSessionResponse{CheckoutUrl: url}, nil
}

// DeletePaymentMethod implements walletv1.WalletServiceServer.
func (s *Server) DeletePaymentMethod(ctx context.Context, _ *walletv1.DeletePaymentMethodRequest) (*walletv1.DeletePaymentMethodResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeletePaymentMethod(ctx, uid); err != nil {
		return nil, toStatus(err)
	}
	return &walletv1.DeletePaymentMethodResponse{}, nil
}

// AdminGetAutomation implements walletv1.WalletServiceServer.
func (s *Server) AdminGetAutomation(ctx context.Context, r *walletv1.AdminGetAutomationRequest) (*walletv1.AdminGetAutomationResponse, error) {
	uid, err := parseUserID("user_id", r.GetUserId())
	if err != nil {
		return nil, toStatus(err)
	}
	a, err := s.svc.AdminGetAutomation(ctx, uid)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.AdminGetAutomationResponse{Settings: settingsPB(a.Settings, a.MonthlyCapCents), ChargedThisMonthCents: a.ChargedThisMonthCents}
	if !a.InDebtSince.IsZero() {
		out.InDebtSince = timestamppb.New(a.InDebtSince)
	}
	for _, r := range a.AutoTopUps {
		c := r.Crossing
		pb := &walletv1.AutoTopUp{CrossingId: c.ID.String(), Outcome: c.Outcome, ThresholdCents: c.ThresholdCents,
			AvailableCents: c.AvailableCents, CreatedAt: timestamppb.New(c.CreatedAt)}
		if t := r.TopUp; t != nil {
			pb.TopupId, pb.AmountCents, pb.Status, pb.PaymentIntentId, pb.FailureReason = t.ID.String(), t.AmountCents, t.Status, t.PaymentIntentID, t.FailureReason
		}
		out.AutoTopups = append(out.AutoTopups, pb)
	}
	for _, d := range a.Disputes {
		out.Disputes = append(out.Disputes, disputePB(d))
	}
	return out, nil
}

// AdminListDisputes implements walletv1.WalletServiceServer.
func (s *Server) AdminListDisputes(ctx context.Context, r *walletv1.AdminListDisputesRequest) (*walletv1.AdminListDisputesResponse, error) {
	rows, next, err := s.svc.AdminListDisputes(ctx, r.GetOpenOnly(), int(r.GetLimit()), r.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.AdminListDisputesResponse{NextCursor: next}
	for _, d := range rows {
		out.Disputes = append(out.Disputes, disputePB(d))
	}
	return out, nil
}

// AdminListDebts implements walletv1.WalletServiceServer.
func (s *Server) AdminListDebts(ctx context.Context, r *walletv1.AdminListDebtsRequest) (*walletv1.AdminListDebtsResponse, error) {
	rows, next, err := s.svc.AdminListDebts(ctx, int(r.GetLimit()), r.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.AdminListDebtsResponse{NextCursor: next}
	for _, d := range rows {
		out.Debts = append(out.Debts, &walletv1.Debt{UserId: d.Wallet.UserID.String(), BalanceCents: d.Wallet.BalanceCents,
			HeldCents: d.Wallet.HeldCents, InDebtSince: timestamppb.New(d.InDebtSince)})
	}
	return out, nil
}

// settingsPB maps settings; monthlyCap is set for admin views only.
func settingsPB(st wallet.Settings, monthlyCap int64) *walletv1.WalletSettings {
	a := st.AutoTopUp
	out := &walletv1.WalletSettings{
		LowBalanceThresholdCents: st.LowBalanceThresholdCents,
		AutoTopup: &walletv1.AutoTopUpSettings{Enabled: a.Enabled, ThresholdCents: a.ThresholdCents, AmountCents: a.AmountCents,
			Failures: int32(a.Failures), MonthlyCapCents: monthlyCap},
	}
	if a.LastError != "" {
		out.AutoTopup.LastError = &a.LastError
	}
	if c := st.Card; c != nil {
		out.PaymentMethod = &walletv1.PaymentMethod{Brand: c.Brand, Last4: c.Last4, ExpMonth: int32(c.ExpMonth), ExpYear: int32(c.ExpYear)}
	}
	return out
}

func disputePB(d wallet.Dispute) *walletv1.Dispute {
	out := &walletv1.Dispute{Id: d.ID.String(), StripeDisputeId: d.StripeID, UserId: d.UserID.String(), TopupId: d.TopUpID.String(),
		PaymentIntentId: d.PaymentIntentID, AmountCents: d.AmountCents, Currency: d.Currency, Status: d.Status,
		HeldCents: d.HeldCents, CreatedAt: timestamppb.New(d.CreatedAt)}
	if !d.ClosedAt.IsZero() {
		out.ClosedAt = timestamppb.New(d.ClosedAt)
	}
	return out
}
