package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/rpcerr"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// Webhook endpoints (shared/spec/api.md, "Outgoing webhooks"): notify's
// WebhookService, called with the user's token, keeps every endpoint and
// delivery to its owner (another user's id is its 404). The pages exist
// only when the gateway has the client (Deps.Webhooks).

// webhookEvents are the event types an endpoint may subscribe to.
var webhookEvents = []struct{ Name, Means string }{
	{"run.succeeded", "a run succeeded"},
	{"run.failed", "a run failed"},
	{"topup.paid", "a top-up was paid"},
	{"wallet.low_balance", "the balance fell below your low-balance threshold"},
}

// deliveryID is the shape of a delivery's id (its webhook-id, msg_…).
var deliveryID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// deliveryStatuses are the delivery filters.
var deliveryStatuses = []string{"pending", "succeeded", "failed"}

// webhooksView is the endpoints page: the list, the create form and, once,
// the secret of the endpoint just created.
type webhooksView struct {
	*Form
	Rows    []*notifyv1.WebhookEndpoint
	Events  []struct{ Name, Means string }
	Checked map[string]bool
	Created *notifyv1.WebhookEndpoint
	Secret  string
}

func (p *Portal) newWebhooksView() webhooksView {
	v := webhooksView{Form: p.newForm(), Events: webhookEvents, Checked: map[string]bool{}}
	for _, e := range webhookEvents {
		v.Checked[e.Name] = true
	}
	return v
}

func (p *Portal) webhooks(x *fiber.Ctx, s *web.Session) error {
	return p.renderWebhooks(x, s, http.StatusOK, p.newWebhooksView())
}

func (p *Portal) renderWebhooks(x *fiber.Ctx, s *web.Session, code int, v webhooksView) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Webhooks.ListEndpoints(ctx, &notifyv1.ListEndpointsRequest{Limit: pageSize})
	if err != nil {
		return err
	}
	v.Rows = r.GetEndpoints()
	return p.render(x, s, code, "webhooks", "Webhooks", "webhooks", v)
}

func (p *Portal) createWebhook(x *fiber.Ctx, s *web.Session) error {
	v := p.newWebhooksView()
	v.Checked = map[string]bool{}
	req := &notifyv1.CreateEndpointRequest{
		Url: strings.TrimSpace(x.FormValue("url")), Description: strings.TrimSpace(x.FormValue("description")),
	}
	v.Values["url"], v.Values["description"] = req.Url, req.Description
	for _, e := range webhookEvents {
		if x.FormValue("event_"+e.Name) != "" {
			v.Checked[e.Name] = true
			req.Events = append(req.Events, e.Name)
		}
	}
	if req.Url == "" {
		v.fail("url", "Enter the URL that receives the events, e.g. https://example.com/hooks/meterflow.")
	}
	if len(req.Events) == 0 {
		v.fail("events", "Choose at least one event.")
	}
	if v.failed() {
		return p.renderWebhooks(x, s, http.StatusBadRequest, v)
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Webhooks.CreateEndpoint(ctx, req)
	if err != nil {
		if err := v.refused(err, map[string]string{"url": "url", "events": "events", "description": "description"}); err != nil {
			return err
		}
		return p.renderWebhooks(x, s, problem.FromError(err).Status, v)
	}
	// The secret is in this answer only: not stored, not in a redirect.
	done := p.newWebhooksView()
	done.Created, done.Secret = r.GetEndpoint(), r.GetSecret()
	return p.renderWebhooks(x, s, http.StatusCreated, done)
}

// ownEndpoint finds one of the user's endpoints (at most 5); 404 for any
// other id.
func (p *Portal) ownEndpoint(x *fiber.Ctx, s *web.Session) (*notifyv1.WebhookEndpoint, error) {
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return nil, web.ErrNotFound
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Webhooks.ListEndpoints(ctx, &notifyv1.ListEndpointsRequest{Limit: pageSize})
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(r.GetEndpoints(), func(e *notifyv1.WebhookEndpoint) bool { return strings.EqualFold(e.GetId(), id) }); i >= 0 {
		return r.GetEndpoints()[i], nil
	}
	return nil, web.ErrNotFound
}

// webhookView is one endpoint with its deliveries; Secret is a rotated
// secret, shown once.
type webhookView struct {
	Endpoint   *notifyv1.WebhookEndpoint
	Deliveries []*notifyv1.Delivery
	Next       string
	Paged      bool
	Filter     url.Values
	Statuses   []string
	Status     string
	Secret     string
}

func (p *Portal) webhook(x *fiber.Ctx, s *web.Session) error {
	e, err := p.ownEndpoint(x, s)
	if err != nil {
		return err
	}
	return p.renderWebhook(x, s, http.StatusOK, e, "")
}

func (p *Portal) renderWebhook(x *fiber.Ctx, s *web.Session, code int, e *notifyv1.WebhookEndpoint, secret string) error {
	status := oneOf(x.Query("status"), deliveryStatuses)
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Webhooks.ListDeliveries(ctx, &notifyv1.ListDeliveriesRequest{EndpointId: e.GetId(), Status: status, Limit: pageSize, Cursor: x.Query("cursor")})
	if err != nil {
		return err
	}
	v := webhookView{
		Endpoint: e, Deliveries: r.GetDeliveries(), Next: r.GetNextCursor(), Paged: x.Query("cursor") != "",
		Filter: filterOf("status", status), Statuses: deliveryStatuses, Status: status, Secret: secret,
	}
	return p.render(x, s, code, "webhook", "Webhook endpoint", "webhooks", v)
}

// webhookAction runs one change of an endpoint and returns to its page
// with done as the notice.
func (p *Portal) webhookAction(x *fiber.Ctx, s *web.Session, do func(e *notifyv1.WebhookEndpoint) (string, error)) error {
	e, err := p.ownEndpoint(x, s)
	if err != nil {
		return err
	}
	done, err := do(e)
	if err != nil {
		return err
	}
	return p.site.FlashRedirect(x, s, done, p.site.Base()+"/webhooks/"+e.GetId())
}

func (p *Portal) testWebhook(x *fiber.Ctx, s *web.Session) error {
	return p.webhookAction(x, s, func(e *notifyv1.WebhookEndpoint) (string, error) {
		ctx, cancel := p.call(x, s)
		defer cancel()
		_, err := p.d.Webhooks.SendTest(ctx, &notifyv1.SendTestRequest{Id: e.GetId()})
		return "A ping event is on its way. It shows below once it is delivered.", err
	})
}

func (p *Portal) toggleWebhook(x *fiber.Ctx, s *web.Session) error {
	return p.webhookAction(x, s, func(e *notifyv1.WebhookEndpoint) (string, error) {
		enable := !e.GetEnabled()
		ctx, cancel := p.call(x, s)
		defer cancel()
		_, err := p.d.Webhooks.UpdateEndpoint(ctx, &notifyv1.UpdateEndpointRequest{Id: e.GetId(), Enabled: &enable})
		if enable {
			return "The endpoint is enabled.", err
		}
		return "The endpoint is disabled: no events are sent to it.", err
	})
}

func (p *Portal) retryDelivery(x *fiber.Ctx, s *web.Session) error {
	return p.webhookAction(x, s, func(*notifyv1.WebhookEndpoint) (string, error) {
		id := x.Params("delivery") // the webhook-id, "msg_…"
		if !deliveryID.MatchString(id) {
			return "", web.ErrNotFound
		}
		ctx, cancel := p.call(x, s)
		defer cancel()
		// notify answers 404 for a delivery of another user.
		_, err := p.d.Webhooks.RetryDelivery(ctx, &notifyv1.RetryDeliveryRequest{Id: id})
		if rpcerr.Reason(err) == rpcerr.AlreadyPending {
			return "That delivery is still pending: it is retried on its own.", nil
		}
		return "The delivery is attempted again.", err
	})
}

func (p *Portal) rotateWebhookSecret(x *fiber.Ctx, s *web.Session) error {
	e, err := p.ownEndpoint(x, s)
	if err != nil {
		return err
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Webhooks.RotateSecret(ctx, &notifyv1.RotateSecretRequest{Id: e.GetId()})
	if err != nil {
		return err
	}
	// The new secret is shown in this answer only.
	return p.renderWebhook(x, s, http.StatusOK, e, r.GetSecret())
}

func (p *Portal) deleteWebhookConfirm(x *fiber.Ctx, s *web.Session) error {
	e, err := p.ownEndpoint(x, s)
	if err != nil {
		return err
	}
	return p.render(x, s, http.StatusOK, "webhook_delete", "Delete the endpoint", "webhooks", e)
}

func (p *Portal) deleteWebhook(x *fiber.Ctx, s *web.Session) error {
	e, err := p.ownEndpoint(x, s)
	if err != nil {
		return err
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	if _, err := p.d.Webhooks.DeleteEndpoint(ctx, &notifyv1.DeleteEndpointRequest{Id: e.GetId()}); err != nil {
		return err
	}
	return p.site.FlashRedirect(x, s, "The endpoint and its deliveries are deleted.", p.site.Base()+"/webhooks")
}
