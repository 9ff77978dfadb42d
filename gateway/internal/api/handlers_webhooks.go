package api

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// webhookEndpointJSON is the contract's WebhookEndpoint; Secret only in
// the answer that created it; UserID only in the admin's answers.
type webhookEndpointJSON struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabled_reason"`
	CreatedAt      *string  `json:"created_at"`
	UserID         string   `json:"user_id,omitempty"`
	Secret         string   `json:"secret,omitempty"`
}

func toWebhookEndpoint(e *notifyv1.WebhookEndpoint) webhookEndpointJSON {
	events := e.GetEvents()
	if events == nil {
		events = []string{}
	}
	return webhookEndpointJSON{ID: e.GetId(), URL: e.GetUrl(), Events: events, Description: e.GetDescription(),
		Enabled: e.GetEnabled(), DisabledReason: strOrNull(e.GetDisabledReason()), CreatedAt: timeJSON(e.GetCreatedAt()),
		UserID: e.GetUserId()}
}

// deliveryJSON is the contract's Delivery (id = the webhook-id).
type deliveryJSON struct {
	ID                 string  `json:"id"`
	EventType          string  `json:"event_type"`
	Status             string  `json:"status"`
	Attempts           int32   `json:"attempts"`
	LastAttemptAt      *string `json:"last_attempt_at"`
	NextAttemptAt      *string `json:"next_attempt_at"`
	LastResponseStatus *int32  `json:"last_response_status"`
	LastError          *string `json:"last_error"`
	CreatedAt          *string `json:"created_at"`
	EndpointID         string  `json:"endpoint_id"`
}

func toDelivery(d *notifyv1.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.GetId(), EventType: d.GetEventType(), Status: d.GetStatus(), Attempts: d.GetAttempts(),
		LastAttemptAt: timeJSON(d.GetLastAttemptAt()), NextAttemptAt: timeJSON(d.GetNextAttemptAt()),
		LastError: strOrNull(d.GetLastError()), CreatedAt: timeJSON(d.GetCreatedAt()), EndpointID: d.GetEndpointId()}
	if st := d.GetLastResponseStatus(); st != 0 {
		out.LastResponseStatus = &st
	}
	return out
}

func toDeliveries(ds []*notifyv1.Delivery) []deliveryJSON {
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = toDelivery(d)
	}
	return out
}

type webhookEndpointBody struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// createWebhookEndpoint is POST /v1/webhook-endpoints: the rules in
// notify; the secret is in this answer and nowhere else.
func (s *Server) createWebhookEndpoint(c *fiber.Ctx) error {
	var b webhookEndpointBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Enabled != nil {
		return validationField("enabled", "is not accepted when creating an endpoint (a new endpoint is enabled)")
	}
	req := &notifyv1.CreateEndpointRequest{}
	if b.URL != nil {
		req.Url = *b.URL
	}
	if b.Events != nil {
		req.Events = *b.Events
	}
	if b.Description != nil {
		req.Description = *b.Description
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.CreateEndpoint(ctx, req)
	if err != nil {
		return err
	}
	out := toWebhookEndpoint(resp.GetEndpoint())
	out.Secret = resp.GetSecret()
	return c.Status(http.StatusCreated).JSON(out)
}

// listWebhookEndpoints is GET /v1/webhook-endpoints.
func (s *Server) listWebhookEndpoints(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.ListEndpoints(ctx, &notifyv1.ListEndpointsRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	items := make([]webhookEndpointJSON, len(resp.GetEndpoints()))
	for i, e := range resp.GetEndpoints() {
		items[i] = toWebhookEndpoint(e)
	}
	return c.JSON(newList(items, resp.GetNextCursor()))
}

// updateWebhookEndpoint is PATCH /v1/webhook-endpoints/{id}.
func (s *Server) updateWebhookEndpoint(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	var b webhookEndpointBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	req := &notifyv1.UpdateEndpointRequest{Id: id, Url: b.URL, Description: b.Description, Enabled: b.Enabled}
	if b.Events != nil {
		req.Events = &notifyv1.EventTypes{Types: *b.Events}
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.UpdateEndpoint(ctx, req)
	if err != nil {
		return err
	}
	return c.JSON(toWebhookEndpoint(resp.GetEndpoint()))
}

// deleteWebhookEndpoint is DELETE /v1/webhook-endpoints/{id}.
func (s *Server) deleteWebhookEndpoint(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Webhooks.DeleteEndpoint(ctx, &notifyv1.DeleteEndpointRequest{Id: id}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// rotateWebhookSecret is POST /v1/webhook-endpoints/{id}/rotate-secret:
// the new secret, and until when the old one still signs.
func (s *Server) rotateWebhookSecret(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.RotateSecret(ctx, &notifyv1.RotateSecretRequest{Id: id})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"secret": resp.GetSecret(), "previous_secret_expires_at": timeJSON(resp.GetPreviousExpiresAt())})
}

// testWebhookEndpoint is POST /v1/webhook-endpoints/{id}/test: 202 with
// the ping's Delivery, which the deliveries list then follows.
func (s *Server) testWebhookEndpoint(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.SendTest(ctx, &notifyv1.SendTestRequest{Id: id})
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(toDelivery(resp.GetDelivery()))
}

// listWebhookDeliveries is GET /v1/webhook-endpoints/{id}/deliveries.
func (s *Server) listWebhookDeliveries(c *fiber.Ctx) error {
	id, limit, cursor, status, err := deliveryListParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.ListDeliveries(ctx, &notifyv1.ListDeliveriesRequest{EndpointId: id, Status: status, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	return c.JSON(newList(toDeliveries(resp.GetDeliveries()), resp.GetNextCursor()))
}

// retryWebhookDelivery is POST /v1/webhook-deliveries/{id}/retry: 202
// with the delivery, pending again; 409 already_pending while it is.
func (s *Server) retryWebhookDelivery(c *fiber.Ctx) error {
	id, err := deliveryIDParam(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.RetryDelivery(ctx, &notifyv1.RetryDeliveryRequest{Id: id})
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(toDelivery(resp.GetDelivery()))
}

// deliveryListParams reads a deliveries listing's path id, ?limit=,
// ?cursor= and ?status=.
func deliveryListParams(c *fiber.Ctx) (id string, limit int32, cursor, status string, err error) {
	if id, err = pathUUID(c, "id"); err != nil {
		return "", 0, "", "", err
	}
	if limit, cursor, err = listParams(c); err != nil {
		return "", 0, "", "", err
	}
	status, err = oneOf(c, "status", "pending", "succeeded", "failed")
	return id, limit, cursor, status, err
}

// deliveryIDParam reads a delivery id ("msg_" and 26 base32 characters);
// anything else names no delivery: 404.
func deliveryIDParam(c *fiber.Ctx) (string, error) {
	v := c.Params("id")
	raw, ok := strings.CutPrefix(v, "msg_")
	if !ok || len(raw) != 26 || strings.Trim(raw, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != "" {
		return "", problem.New(http.StatusNotFound, rpcerr.NotFound, "No such delivery.")
	}
	return strings.Clone(v), nil
}

// adminListWebhookEndpoints is GET /v1/admin/users/{id}/webhook-endpoints.
func (s *Server) adminListWebhookEndpoints(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.AdminListEndpoints(ctx, &notifyv1.AdminListEndpointsRequest{UserId: id})
	if err != nil {
		return err
	}
	items := make([]webhookEndpointJSON, len(resp.GetEndpoints()))
	for i, e := range resp.GetEndpoints() {
		items[i] = toWebhookEndpoint(e)
	}
	return c.JSON(newList(items, ""))
}

// adminListWebhookDeliveries is GET /v1/admin/users/{id}/webhook-deliveries
// (?endpoint_id=, ?status=): the user's recent deliveries.
func (s *Server) adminListWebhookDeliveries(c *fiber.Ctx) error {
	id, limit, cursor, status, err := deliveryListParams(c)
	if err != nil {
		return err
	}
	endpoint, err := queryUUID(c, "endpoint_id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Webhooks.AdminListDeliveries(ctx, &notifyv1.AdminListDeliveriesRequest{UserId: id, EndpointId: endpoint,
		Status: status, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	return c.JSON(newList(toDeliveries(resp.GetDeliveries()), resp.GetNextCursor()))
}
