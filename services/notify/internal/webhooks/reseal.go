package webhooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// KeyRing is a Sealer that seals under key ids (secretbox.Keyring): it
// tells a value sealed with the current key from one sealed with an
// older key of the ring.
type KeyRing interface {
	Sealer
	SealedWithCurrent(sealed []byte) bool
	CurrentID() string
}

// ResealStore is what Reseal needs of the store.
type ResealStore interface {
	// EndpointsAfter lists up to limit endpoints with an id above after,
	// by id.
	EndpointsAfter(ctx context.Context, after uuid.UUID, limit int) ([]Endpoint, error)
	// UpdateEndpoint as Store's; userID uuid.Nil matches any owner.
	UpdateEndpoint(ctx context.Context, userID, id uuid.UUID, change func(*Endpoint) error) (Endpoint, error)
}

// ResealResult says what Reseal did.
type ResealResult struct {
	// KeyID names the key the secrets are sealed with now.
	KeyID string
	// Resealed counts the endpoints whose secrets were sealed again;
	// Current those whose secrets already were under KeyID.
	Resealed, Current int
	// Unreadable lists the endpoints whose secret no key of the ring
	// opens: their attempts fail until their owner rotates the secret.
	Unreadable []uuid.UUID
}

// errCurrent ends the transaction of an endpoint that needs nothing.
var errCurrent = errors.New("sealed with the current key")

// resealBatch is how many endpoints Reseal reads at once.
const resealBatch = 500

// Reseal seals every endpoint's secrets (and a rotation's previous one)
// again under the ring's current key: the last step of rotating
// WEBHOOK_SECRETS_KEY (docs/operations.md, "Rotating secrets"), after which
// the old key can leave WEBHOOK_SECRETS_KEYS_PREVIOUS. The secrets
// themselves do not change. Each endpoint is locked, decided and written
// in its own transaction, so a rotation by its owner meanwhile wins and
// running it twice does no harm.
func Reseal(ctx context.Context, store ResealStore, keys KeyRing) (ResealResult, error) {
	res := ResealResult{KeyID: keys.CurrentID()}
	after := uuid.Nil
	for {
		eps, err := store.EndpointsAfter(ctx, after, resealBatch)
		if err != nil {
			return res, err
		}
		for _, ep := range eps {
			_, err := store.UpdateEndpoint(ctx, uuid.Nil, ep.ID, func(cur *Endpoint) error { return reseal(cur, keys) })
			switch {
			case errors.Is(err, errCurrent):
				res.Current++
			case errors.Is(err, errUnreadable):
				res.Unreadable = append(res.Unreadable, ep.ID)
			case errors.Is(err, ErrNotFound): // deleted meanwhile
			case err != nil:
				return res, fmt.Errorf("reseal endpoint %s: %w", ep.ID, err)
			default:
				res.Resealed++
			}
		}
		if len(eps) < resealBatch {
			return res, nil
		}
		after = eps[len(eps)-1].ID
	}
}

var errUnreadable = errors.New("secret unreadable")

// reseal seals ep's secrets again under the current key.
func reseal(ep *Endpoint, keys KeyRing) error {
	ctx := secretContext(ep.ID)
	changed := false
	for _, sealed := range []*[]byte{&ep.SecretSealed, &ep.PreviousSecretSealed} {
		if *sealed == nil || keys.SealedWithCurrent(*sealed) {
			continue
		}
		plain, err := keys.Open(*sealed, ctx)
		if err != nil {
			return errUnreadable
		}
		if *sealed, err = keys.Seal(plain, ctx); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return errCurrent
	}
	return nil
}
