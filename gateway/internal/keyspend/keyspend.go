// Package keyspend lists a user's API keys with what each has spent this
// month: identity owns the keys, the wallet the money, and the API
// (GET /v1/api-keys) and the user portal show both.
package keyspend

import (
	"context"

	"google.golang.org/grpc"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Keys is identity's call (identityv1.IdentityServiceClient has it).
type Keys interface {
	ListAPIKeys(ctx context.Context, in *identityv1.ListAPIKeysRequest, opts ...grpc.CallOption) (*identityv1.ListAPIKeysResponse, error)
}

// Spend is the wallet's call (walletv1.WalletServiceClient has it).
type Spend interface {
	GetAPIKeySpend(ctx context.Context, in *walletv1.GetAPIKeySpendRequest, opts ...grpc.CallOption) (*walletv1.GetAPIKeySpendResponse, error)
}

// Key is one key and its fees this UTC month, in cents.
type Key struct {
	Key   *identityv1.APIKey
	Spent int64
}

// List returns one page of the keys of the user whose token ctx carries,
// each with its spend, and the next page's cursor ("" for none).
func List(ctx context.Context, keys Keys, spend Spend, limit int32, cursor string) ([]Key, string, error) {
	r, err := keys.ListAPIKeys(ctx, &identityv1.ListAPIKeysRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(r.GetKeys()))
	for i, k := range r.GetKeys() {
		ids[i] = k.GetId()
	}
	spent := map[string]int64{}
	if len(ids) > 0 {
		sp, err := spend.GetAPIKeySpend(ctx, &walletv1.GetAPIKeySpendRequest{ApiKeyIds: ids})
		if err != nil {
			return nil, "", err
		}
		for _, x := range sp.GetSpends() {
			spent[x.GetApiKeyId()] = x.GetSpentCents()
		}
	}
	out := make([]Key, len(ids))
	for i, k := range r.GetKeys() {
		out[i] = Key{Key: k, Spent: spent[k.GetId()]}
	}
	return out, r.GetNextCursor(), nil
}
