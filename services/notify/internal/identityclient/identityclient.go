// Package identityclient looks up users' addresses through the identity
// service's gRPC API (GetUserContact, open to notify only).
package identityclient

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// Timeout bounds one lookup; a slow identity delays the email, which is
// retried, rather than holding a worker.
const Timeout = 5 * time.Second

// Client implements notify.Contacts.
type Client struct {
	API identityv1.IdentityServiceClient
}

var _ notify.Contacts = Client{}

// Contact implements notify.Contacts.
func (c Client) Contact(ctx context.Context, userID uuid.UUID) (notify.Contact, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	res, err := c.API.GetUserContact(ctx, &identityv1.GetUserContactRequest{UserId: userID.String()})
	if status.Code(err) == codes.NotFound {
		return notify.Contact{}, notify.ErrUserNotFound
	}
	if err != nil {
		return notify.Contact{}, fmt.Errorf("get user contact: %w", err)
	}
	return notify.Contact{Email: res.GetEmail(), Active: res.GetIsActive()}, nil
}
