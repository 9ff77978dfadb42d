package auditlog

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Names of the services' audit logs, as Event.Source and in cursors.
const (
	SourceIdentity = "identity"
	SourceWallet   = "wallet"
	SourceWorkflow = "workflow"
)

// SourceNames lists the services' audit logs in a fixed order.
var SourceNames = []string{SourceIdentity, SourceWallet, SourceWorkflow}

// protoEvent is the shape the three services' AuditEvent messages share.
type protoEvent interface {
	GetId() string
	GetActorId() string
	GetAction() string
	GetTargetType() string
	GetTargetId() string
	GetReason() string
	GetBeforeJson() []byte
	GetAfterJson() []byte
	GetCreatedAt() *timestamppb.Timestamp
}

func toEvents[E protoEvent](events []E) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		out[i] = Event{
			ID: e.GetId(), ActorID: e.GetActorId(), Action: e.GetAction(),
			TargetType: e.GetTargetType(), TargetID: e.GetTargetId(), Reason: e.GetReason(),
			Before: e.GetBeforeJson(), After: e.GetAfterJson(), CreatedAt: e.GetCreatedAt().AsTime(),
		}
	}
	return out
}

// Clients are the services whose audit logs are merged. The calls carry
// whatever the context carries (the admin's token, the service token of
// the connection), so the services check the admin role themselves.
type Clients struct {
	Identity identityv1.IdentityServiceClient
	Wallet   walletv1.WalletServiceClient
	Workflow workflowv1.WorkflowServiceClient
}

// Sources returns the audit logs to merge, filtered by targetID ("" for
// all; a user id for identity and wallet, a workflow slug for workflow).
// only names one source (SourceIdentity, ...); "" selects all three.
// An unknown name selects none.
func (c Clients) Sources(targetID, only string) []Source {
	all := []Source{
		{Name: SourceIdentity, Fetch: func(ctx context.Context, cursor string, limit int) ([]Event, string, error) {
			r, err := c.Identity.AdminListAuditEvents(ctx, &identityv1.AdminListAuditEventsRequest{TargetId: targetID, Limit: int32(limit), Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return toEvents(r.GetEvents()), r.GetNextCursor(), nil
		}},
		{Name: SourceWallet, Fetch: func(ctx context.Context, cursor string, limit int) ([]Event, string, error) {
			r, err := c.Wallet.AdminListAuditEvents(ctx, &walletv1.AdminListAuditEventsRequest{TargetId: targetID, Limit: int32(limit), Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return toEvents(r.GetEvents()), r.GetNextCursor(), nil
		}},
		{Name: SourceWorkflow, Fetch: func(ctx context.Context, cursor string, limit int) ([]Event, string, error) {
			r, err := c.Workflow.AdminListAuditEvents(ctx, &workflowv1.AdminListAuditEventsRequest{TargetId: targetID, Limit: int32(limit), Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return toEvents(r.GetEvents()), r.GetNextCursor(), nil
		}},
	}
	if only == "" {
		return all
	}
	for _, s := range all {
		if s.Name == only {
			return []Source{s}
		}
	}
	return nil
}
