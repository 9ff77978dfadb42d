// Package walletclient holds, captures and releases run fees through the
// wallet service's gRPC API.
package walletclient

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Client implements workflow.Wallet. Callers set deadlines on every call.
type Client struct {
	API walletv1.WalletServiceClient
}

// Reserve implements workflow.Wallet.
func (c Client) Reserve(ctx context.Context, h workflow.Hold) error {
	req := &walletv1.ReserveRequest{
		Key: h.Key, UserId: h.UserID.String(), AmountCents: h.AmountCents, ExpiresAt: timestamppb.New(h.ExpiresAt),
		Description: h.Description, ReferenceType: h.RefType, ReferenceId: h.RefID,
	}
	if h.APIKeyID != uuid.Nil {
		req.ApiKeyId, req.ApiKeyMonthlyLimitCents = h.APIKeyID.String(), h.APIKeyLimitCents
	}
	_, err := c.API.Reserve(ctx, req)
	switch rpcerr.Reason(err) {
	case rpcerr.InsufficientFunds:
		return workflow.ErrInsufficientFunds
	case rpcerr.SpendLimitExceeded:
		return workflow.ErrSpendLimitExceeded
	}
	if err != nil {
		return fmt.Errorf("wallet reserve: %w", err)
	}
	return nil
}

// Capture implements workflow.Wallet.
func (c Client) Capture(ctx context.Context, key string) error {
	_, err := c.API.Capture(ctx, &walletv1.CaptureRequest{Key: key})
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.FailedPrecondition, codes.NotFound:
		// Released or expired (or never made): nothing can be charged.
		return fmt.Errorf("wallet capture: %w: %w", workflow.ErrHoldGone, err)
	}
	return fmt.Errorf("wallet capture: %w", err)
}

// Release implements workflow.Wallet.
func (c Client) Release(ctx context.Context, key string) error {
	_, err := c.API.Release(ctx, &walletv1.ReleaseRequest{Key: key})
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		// NotFound: the reserve never took effect, so nothing is held.
		return nil
	}
	return fmt.Errorf("wallet release: %w", err)
}

var _ workflow.Wallet = Client{}
