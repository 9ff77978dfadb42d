// Package grpcapi serves the notify service's gRPC API: proto to domain
// mapping, the call policy and one error mapping.
package grpcapi

import (
	"github.com/meterflow/meterflow/platform/callauth"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// Policy says who may call each method (docs/trust-model.md): the
// services that send emails and publish events, with their service token
// only; the gateway for a user's webhook endpoints (the user's own token,
// never an API key's: no Scope) and for the admin's view of them (an
// admin's token, checked here too).
func Policy() callauth.Policy {
	user := callauth.Rule{Callers: []string{"gateway"}, Access: callauth.UserRequired}
	admin := callauth.Rule{Callers: []string{"gateway"}, Access: callauth.AdminRequired}
	return callauth.Policy{
		notifyv1.NotifyService_SendEmail_FullMethodName:     {Callers: []string{"identity", "wallet", "workflow"}, Access: callauth.ServiceOnly},
		notifyv1.NotifyService_PublishEvent_FullMethodName:  {Callers: []string{"wallet", "workflow"}, Access: callauth.ServiceOnly},
		notifyv1.NotifyService_PublishEvents_FullMethodName: {Callers: []string{"wallet", "workflow"}, Access: callauth.ServiceOnly},

		notifyv1.WebhookService_CreateEndpoint_FullMethodName: user,
		notifyv1.WebhookService_ListEndpoints_FullMethodName:  user,
		notifyv1.WebhookService_UpdateEndpoint_FullMethodName: user,
		notifyv1.WebhookService_DeleteEndpoint_FullMethodName: user,
		notifyv1.WebhookService_RotateSecret_FullMethodName:   user,
		notifyv1.WebhookService_SendTest_FullMethodName:       user,
		notifyv1.WebhookService_ListDeliveries_FullMethodName: user,
		notifyv1.WebhookService_RetryDelivery_FullMethodName:  user,

		notifyv1.WebhookService_AdminListEndpoints_FullMethodName:  admin,
		notifyv1.WebhookService_AdminListDeliveries_FullMethodName: admin,
	}
}
