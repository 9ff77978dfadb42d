package grpcapi

import (
	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Policy says who may call each method (docs/trust-model.md). Hold
// operations move a user's money without the user's token, so only the
// workflow service may call them; the Stripe webhook comes only through the
// gateway, and its payload is still verified against Stripe's signature.
func Policy() callauth.Policy {
	user := callauth.Rule{Callers: []string{"gateway"}, Access: callauth.UserRequired}
	// The routes an API key with wallet:read reaches (docs/trust-model.md).
	walletRead := callauth.Rule{Callers: []string{"gateway"}, Access: callauth.UserRequired, Scope: apikey.ScopeWalletRead}
	admin := callauth.Rule{Callers: []string{"gateway"}, Access: callauth.AdminRequired}
	workflow := callauth.Rule{Callers: []string{"workflow"}, Access: callauth.ServiceOnly}
	return callauth.Policy{
		walletv1.WalletService_GetWallet_FullMethodName:             walletRead,
		walletv1.WalletService_ListTransactions_FullMethodName:      walletRead,
		walletv1.WalletService_CreateTopUp_FullMethodName:           user,
		walletv1.WalletService_GetTopUp_FullMethodName:              user,
		walletv1.WalletService_HandleStripeEvent_FullMethodName:     {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
		walletv1.WalletService_Reserve_FullMethodName:               workflow,
		walletv1.WalletService_Capture_FullMethodName:               workflow,
		walletv1.WalletService_Release_FullMethodName:               workflow,
		walletv1.WalletService_AdminAdjustBalance_FullMethodName:    admin,
		walletv1.WalletService_AdminListTransactions_FullMethodName: admin,
		walletv1.WalletService_AdminGetWallets_FullMethodName:       admin,
		walletv1.WalletService_AdminListAuditEvents_FullMethodName:  admin,
		walletv1.WalletService_AdminGetStats_FullMethodName:         admin,
		// The key list's spend column: a login's token only (no Scope).
		walletv1.WalletService_GetAPIKeySpend_FullMethodName: user,
		// The portal's spend chart: a login's token only (no Scope).
		walletv1.WalletService_GetSpendByDay_FullMethodName: user,
		// Wallet automation: a login's token only (no API key reaches
		// settings, cards or the admin views).
		walletv1.WalletService_GetWalletSettings_FullMethodName:          user,
		walletv1.WalletService_UpdateWalletSettings_FullMethodName:       user,
		walletv1.WalletService_CreatePaymentMethodSession_FullMethodName: user,
		walletv1.WalletService_DeletePaymentMethod_FullMethodName:        user,
		walletv1.WalletService_AdminGetAutomation_FullMethodName:         admin,
		walletv1.WalletService_AdminListDisputes_FullMethodName:          admin,
		walletv1.WalletService_AdminListDebts_FullMethodName:             admin,
	}
}
