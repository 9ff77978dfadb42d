package grpcapi

import (
	"context"

	"github.com/google/uuid"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// GetAPIKeySpend implements walletv1.WalletServiceServer. Ids that are not
// UUIDs name no key of the caller's and spent nothing.
func (s *Server) GetAPIKeySpend(ctx context.Context, r *walletv1.GetAPIKeySpendRequest) (*walletv1.GetAPIKeySpendResponse, error) {
	uid, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(r.GetApiKeyIds()))
	for i, raw := range r.GetApiKeyIds() {
		ids[i], _ = uuid.Parse(raw) // uuid.Nil for junk: no key has it
	}
	spends, err := s.svc.APIKeySpend(ctx, uid, ids)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &walletv1.GetAPIKeySpendResponse{Spends: make([]*walletv1.APIKeySpend, len(spends))}
	for i, sp := range spends {
		out.Spends[i] = &walletv1.APIKeySpend{ApiKeyId: r.GetApiKeyIds()[i], Month: sp.Month.Format("2006-01"), SpentCents: sp.SpentCents}
	}
	return out, nil
}
