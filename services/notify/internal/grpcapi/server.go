package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/validation"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// Server implements notifyv1.NotifyServiceServer.
type Server struct {
	notifyv1.UnimplementedNotifyServiceServer
	Service  *notify.Service
	Webhooks *webhooks.Service
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

// PublishEvent implements notifyv1.NotifyServiceServer.
func (s *Server) PublishEvent(ctx context.Context, req *notifyv1.PublishEventRequest) (*notifyv1.PublishEventResponse, error) {
	caller, _ := callauth.CallerFrom(ctx)
	uid, err := uuid.Parse(req.GetUserId())
	if err != nil {
		return nil, toStatus(validation.Field("user_id", "must be a user id (a UUID)"))
	}
	r := webhooks.PublishRequest{Producer: caller.Service, IdempotencyKey: req.GetIdempotencyKey(), UserID: uid,
		Type: req.GetType(), Data: req.GetDataJson()}
	if ms := req.GetOccurredAtUnixMs(); ms > 0 {
		r.OccurredAt = time.UnixMilli(ms).UTC()
	}
	id, created, err := s.Webhooks.PublishEvent(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.PublishEventResponse{EventId: id.String(), Created: created}, nil
}
