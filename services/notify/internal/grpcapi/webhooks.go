package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// WebhookServer implements notifyv1.WebhookServiceServer. Every user
// method acts for the caller's verified user only; an id that is not
// theirs is NotFound.
type WebhookServer struct {
	notifyv1.UnimplementedWebhookServiceServer
	Webhooks *webhooks.Service
}

// user is the verified user of the call (the policy requires one).
func user(ctx context.Context) (uuid.UUID, error) {
	p, ok := callauth.UserFrom(ctx)
	if !ok {
		return uuid.Nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "a user's access token is required")
	}
	id, err := uuid.Parse(p.UserID)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "the access token names no user")
	}
	return id, nil
}

// requireAdmin checks the admin role again here, beside the policy.
func requireAdmin(ctx context.Context) error {
	if p, ok := callauth.UserFrom(ctx); !ok || !p.Admin || p.KeyID != "" {
		return rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "admin role required")
	}
	return nil
}

// userAnd returns the call's user and the endpoint id the caller sent:
// anything that is not a UUID is NotFound, as someone else's id would be.
func userAnd(ctx context.Context, raw string) (uuid.UUID, uuid.UUID, error) {
	uid, err := user(ctx)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, uuid.Nil, toStatus(webhooks.ErrNotFound)
	}
	return uid, id, nil
}

// CreateEndpoint implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) CreateEndpoint(ctx context.Context, r *notifyv1.CreateEndpointRequest) (*notifyv1.CreateEndpointResponse, error) {
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	ep, secret, err := s.Webhooks.CreateEndpoint(ctx, uid, webhooks.NewEndpoint{URL: r.GetUrl(), Events: r.GetEvents(), Description: r.GetDescription()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.CreateEndpointResponse{Endpoint: endpointPB(ep, false), Secret: secret}, nil
}

// ListEndpoints implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) ListEndpoints(ctx context.Context, r *notifyv1.ListEndpointsRequest) (*notifyv1.ListEndpointsResponse, error) {
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	eps, next, err := s.Webhooks.ListEndpoints(ctx, uid, int(r.GetLimit()), r.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &notifyv1.ListEndpointsResponse{NextCursor: next}
	for _, ep := range eps {
		out.Endpoints = append(out.Endpoints, endpointPB(ep, false))
	}
	return out, nil
}

// UpdateEndpoint implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) UpdateEndpoint(ctx context.Context, r *notifyv1.UpdateEndpointRequest) (*notifyv1.UpdateEndpointResponse, error) {
	uid, id, err := userAnd(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	c := webhooks.EndpointChange{URL: r.Url, Description: r.Description, Enabled: r.Enabled}
	if r.GetEvents() != nil {
		c.Events, c.EventsSet = r.GetEvents().GetTypes(), true
	}
	ep, err := s.Webhooks.UpdateEndpoint(ctx, uid, id, c)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.UpdateEndpointResponse{Endpoint: endpointPB(ep, false)}, nil
}

// DeleteEndpoint implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) DeleteEndpoint(ctx context.Context, r *notifyv1.DeleteEndpointRequest) (*notifyv1.DeleteEndpointResponse, error) {
	uid, id, err := userAnd(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	if err := s.Webhooks.DeleteEndpoint(ctx, uid, id); err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.DeleteEndpointResponse{}, nil
}

// RotateSecret implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) RotateSecret(ctx context.Context, r *notifyv1.RotateSecretRequest) (*notifyv1.RotateSecretResponse, error) {
	uid, id, err := userAnd(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	secret, until, err := s.Webhooks.RotateSecret(ctx, uid, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.RotateSecretResponse{Secret: secret, PreviousExpiresAt: timestamppb.New(until)}, nil
}

// SendTest implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) SendTest(ctx context.Context, r *notifyv1.SendTestRequest) (*notifyv1.SendTestResponse, error) {
	uid, id, err := userAnd(ctx, r.GetId())
	if err != nil {
		return nil, err
	}
	d, err := s.Webhooks.SendTest(ctx, uid, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.SendTestResponse{Delivery: deliveryPB(d)}, nil
}

// ListDeliveries implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) ListDeliveries(ctx context.Context, r *notifyv1.ListDeliveriesRequest) (*notifyv1.ListDeliveriesResponse, error) {
	uid, id, err := userAnd(ctx, r.GetEndpointId())
	if err != nil {
		return nil, err
	}
	if _, err := s.Webhooks.Endpoint(ctx, uid, id); err != nil {
		return nil, toStatus(err)
	}
	ds, next, err := s.deliveries(ctx, uid, id, r.GetStatus(), r.GetLimit(), r.GetCursor())
	if err != nil {
		return nil, err
	}
	return &notifyv1.ListDeliveriesResponse{Deliveries: ds, NextCursor: next}, nil
}

// RetryDelivery implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) RetryDelivery(ctx context.Context, r *notifyv1.RetryDeliveryRequest) (*notifyv1.RetryDeliveryResponse, error) {
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	id, ok := webhooks.ParseDeliveryID(r.GetId())
	if !ok {
		return nil, toStatus(webhooks.ErrNotFound)
	}
	d, err := s.Webhooks.RetryDelivery(ctx, uid, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &notifyv1.RetryDeliveryResponse{Delivery: deliveryPB(d)}, nil
}

// AdminListEndpoints implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) AdminListEndpoints(ctx context.Context, r *notifyv1.AdminListEndpointsRequest) (*notifyv1.AdminListEndpointsResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	uid, err := uuid.Parse(r.GetUserId())
	if err != nil {
		return nil, toStatus(validation.Field("user_id", "must be a user id (a UUID)"))
	}
	// A user has at most MaxEndpoints: one page holds them all.
	eps, _, err := s.Webhooks.ListEndpoints(ctx, uid, 0, "")
	if err != nil {
		return nil, toStatus(err)
	}
	out := &notifyv1.AdminListEndpointsResponse{}
	for _, ep := range eps {
		out.Endpoints = append(out.Endpoints, endpointPB(ep, true))
	}
	return out, nil
}

// AdminListDeliveries implements notifyv1.WebhookServiceServer.
func (s *WebhookServer) AdminListDeliveries(ctx context.Context, r *notifyv1.AdminListDeliveriesRequest) (*notifyv1.AdminListDeliveriesResponse, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	uid, err := uuid.Parse(r.GetUserId())
	if err != nil {
		return nil, toStatus(validation.Field("user_id", "must be a user id (a UUID)"))
	}
	var epID uuid.UUID
	if raw := r.GetEndpointId(); raw != "" {
		if epID, err = uuid.Parse(raw); err != nil {
			return nil, toStatus(validation.Field("endpoint_id", "must be an endpoint id (a UUID)"))
		}
	}
	ds, next, err := s.deliveries(ctx, uid, epID, r.GetStatus(), r.GetLimit(), r.GetCursor())
	if err != nil {
		return nil, err
	}
	return &notifyv1.AdminListDeliveriesResponse{Deliveries: ds, NextCursor: next}, nil
}

// deliveries lists a user's deliveries (one endpoint's when endpointID is
// set), with the status filter checked.
func (s *WebhookServer) deliveries(ctx context.Context, uid, endpointID uuid.UUID, status string, limit int32, cursor string) ([]*notifyv1.Delivery, string, error) {
	f := webhooks.DeliveryFilter{UserID: uid, EndpointID: endpointID, Status: webhooks.Status(status)}
	if status != "" && !f.Status.Valid() {
		return nil, "", toStatus(validation.Field("status", "must be pending, succeeded or failed"))
	}
	ds, next, err := s.Webhooks.ListDeliveries(ctx, f, int(limit), cursor)
	if err != nil {
		return nil, "", toStatus(err)
	}
	return deliveriesPB(ds), next, nil
}

func endpointPB(ep webhooks.Endpoint, withUser bool) *notifyv1.WebhookEndpoint {
	out := &notifyv1.WebhookEndpoint{Id: ep.ID.String(), Url: ep.URL, Events: ep.Events, Description: ep.Description,
		Enabled: ep.Enabled, DisabledReason: ep.DisabledReason, CreatedAt: timestamppb.New(ep.CreatedAt)}
	if withUser {
		out.UserId = ep.UserID.String()
	}
	return out
}

func deliveriesPB(ds []webhooks.Delivery) []*notifyv1.Delivery {
	out := make([]*notifyv1.Delivery, len(ds))
	for i, d := range ds {
		out[i] = deliveryPB(d)
	}
	return out
}

func deliveryPB(d webhooks.Delivery) *notifyv1.Delivery {
	return &notifyv1.Delivery{Id: webhooks.FormatDeliveryID(d.ID), EventType: d.EventType, Status: string(d.Status),
		Attempts: int32(d.Attempts), LastAttemptAt: ts(d.LastAttemptAt), NextAttemptAt: ts(d.NextAttemptAt),
		LastResponseStatus: int32(d.LastResponseStatus), LastError: d.LastError, CreatedAt: timestamppb.New(d.CreatedAt),
		EndpointId: d.EndpointID.String()}
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}
