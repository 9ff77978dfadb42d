package grpcapi

import (
	"context"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/validation"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// Server implements notifyv1.NotifyServiceServer.
type Server struct {
	notifyv1.UnimplementedNotifyServiceServer
	Service *notify.Service
}

// SendEmail implements notifyv1.NotifyServiceServer.
func (s *Server) SendEmail(ctx context.Context, req *notifyv1.SendEmailRequest) (*notifyv1.SendEmailResponse, error) {
	caller, _ := callauth.CallerFrom(ctx)
	r := notify.Request{
		Producer: caller.Service, IdempotencyKey: req.GetIdempotencyKey(), Template: req.GetTemplate(),
		ToAddress: req.GetToAddress(), Data: req.GetData(),
	}
	if raw := req.GetToUserId(); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil || id == uuid.Nil {
			return nil, toStatus(validation.Field("to_user_id", "must be a user id (a UUID)"))
		}
		r.ToUserID = id
	}
	id, created, err := s.Service.Queue(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.SendEmailResponse{EmailId: id.String(), Created: created}, nil
}
