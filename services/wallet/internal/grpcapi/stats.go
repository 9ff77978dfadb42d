package grpcapi

import (
	"context"
	"time"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// AdminGetStats implements walletv1.WalletServiceServer.
func (s *Server) AdminGetStats(ctx context.Context, req *walletv1.AdminGetStatsRequest) (*walletv1.AdminGetStatsResponse, error) {
	st, err := s.svc.Stats(ctx, int(req.GetDays()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.AdminGetStatsResponse{
		TotalBalanceCents: st.TotalBalanceCents, TotalHeldCents: st.TotalHeldCents, OpenHoldsCount: st.OpenHolds,
		DepositsTodayCents: st.DepositsTodayCents, FeesTodayCents: st.FeesTodayCents,
		Deposits_30DCents: st.Deposits30dCents, Fees_30DCents: st.Fees30dCents, Currency: s.svc.Currency(),
		ByDay: make([]*walletv1.MoneyDay, len(st.ByDay)),
	}
	for i, d := range st.ByDay {
		out.ByDay[i] = &walletv1.MoneyDay{Date: d.Day.Format(time.DateOnly), DepositsCents: d.DepositsCents, FeesCents: d.FeesCents}
	}
	return out, nil
}

// GetSpendByDay implements walletv1.WalletServiceServer: the caller's own
// fees only.
func (s *Server) GetSpendByDay(ctx context.Context, req *walletv1.GetSpendByDayRequest) (*walletv1.GetSpendByDayResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	days, err := s.svc.SpendByDay(ctx, uid, int(req.GetDays()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.GetSpendByDayResponse{Days: make([]*walletv1.SpendDay, len(days)), Currency: s.svc.Currency()}
	for i, d := range days {
		out.Days[i] = &walletv1.SpendDay{Date: d.Day.Format(time.DateOnly), SpentCents: d.SpentCents}
		out.TotalCents += d.SpentCents
	}
	return out, nil
}
