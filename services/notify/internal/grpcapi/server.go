package grpcapi

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
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
	r, err := publishRequest(caller.Service, req)
	if err != nil {
		return nil, toStatus(err)
	}
	if trace := req.GetTrace(); len(trace) > 0 {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(trace))
	}
	id, created, err := s.Webhooks.PublishEvent(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.PublishEventResponse{EventId: id.String(), Created: created}, nil
}

// PublishEvents implements notifyv1.NotifyServiceServer: each event is
// mapped and answered as PublishEvent would (a refusal in its result,
// with PublishEvent's code, reason and message); a failure of the store
// fails the call.
func (s *Server) PublishEvents(ctx context.Context, req *notifyv1.PublishEventsRequest) (*notifyv1.PublishEventsResponse, error) {
	caller, _ := callauth.CallerFrom(ctx)
	events := req.GetEvents()
	if len(events) == 0 || len(events) > webhooks.MaxBatch {
		return nil, toStatus(validation.Field("events", fmt.Sprintf("must hold 1 to %d events", webhooks.MaxBatch)))
	}
	results := make([]*notifyv1.PublishEventResult, len(events))
	rs := make([]webhooks.PublishRequest, 0, len(events))
	traces := make([]map[string]string, 0, len(events))
	at := make([]int, 0, len(events))
	for i, e := range events {
		r, err := publishRequest(caller.Service, e)
		if err != nil {
			results[i] = refusal(toStatus(err))
			continue
		}
		rs, traces, at = append(rs, r), append(traces, e.GetTrace()), append(at, i)
	}
	if len(rs) > 0 {
		out, err := s.Webhooks.PublishEvents(ctx, rs, traces)
		if err != nil {
			return nil, toStatus(err)
		}
		for j, o := range out {
			if o.Err != nil {
				results[at[j]] = refusal(toStatus(o.Err))
				continue
			}
			results[at[j]] = &notifyv1.PublishEventResult{EventId: o.EventID.String(), Created: o.Created}
		}
	}
	return &notifyv1.PublishEventsResponse{Results: results}, nil
}

// publishRequest is req, from the calling service producer, as the
// webhooks service takes it; a validation error when its user id is not
// a UUID.
func publishRequest(producer string, req *notifyv1.PublishEventRequest) (webhooks.PublishRequest, error) {
	uid, err := uuid.Parse(req.GetUserId())
	if err != nil {
		return webhooks.PublishRequest{}, validation.Field("user_id", "must be a user id (a UUID)")
	}
	r := webhooks.PublishRequest{Producer: producer, IdempotencyKey: req.GetIdempotencyKey(), UserID: uid,
		Type: req.GetType(), Data: req.GetDataJson()}
	if ms := req.GetOccurredAtUnixMs(); ms > 0 {
		r.OccurredAt = time.UnixMilli(ms).UTC()
	}
	return r, nil
}

// refusal is one event's refusal as a result: the status PublishEvent
// would have answered.
func refusal(err error) *notifyv1.PublishEventResult {
	st := status.Convert(err)
	return &notifyv1.PublishEventResult{Code: int32(st.Code()), Reason: rpcerr.Reason(err), Message: st.Message()}
}
