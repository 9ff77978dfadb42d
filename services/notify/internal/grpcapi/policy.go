// Package grpcapi serves the notify service's gRPC API: proto to domain
// mapping, the call policy and one error mapping.
package grpcapi

import (
	"github.com/meterflow/meterflow/platform/callauth"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// Policy says who may call each method (docs/trust-model.md): the
// services that send emails, with their service token only. No user or
// gateway call reaches notify.
func Policy() callauth.Policy {
	return callauth.Policy{
		notifyv1.NotifyService_SendEmail_FullMethodName: {Callers: []string{"identity", "wallet", "workflow"}, Access: callauth.ServiceOnly},
	}
}
