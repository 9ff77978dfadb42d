package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestWebhookEndpointRules: what CreateEndpoint and UpdateEndpoint accept,
// the limit of 5, and that the secret is shown only at creation.
func TestWebhookEndpointRules(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	ctx := hh.as(t, user)
	bad := []*notifyv1.CreateEndpointRequest{
		{Url: "https://hooks.example/x"},
		{Url: "https://hooks.example/x", Events: []string{"run.created"}},
		{Url: "https://hooks.example/x", Events: []string{"ping"}},
		{Url: "https://hooks.example/x", Events: []string{"run.failed", "run.failed"}},
		{Url: "https://hooks.example/x", Events: []string{"run.failed"}, Description: strings.Repeat("x", 501)},
		{Url: "", Events: []string{"run.failed"}},
		{Url: "https://hooks.example/" + strings.Repeat("x", 2048), Events: []string{"run.failed"}},
	}
	for _, r := range bad {
		_, err := hh.hooks.CreateEndpoint(ctx, r)
		if status.Code(err) != codes.InvalidArgument || rpcerr.Reason(err) != rpcerr.ValidationFailed {
			t.Errorf("CreateEndpoint(%v) = %v, want validation_failed", r, err)
		}
	}
	var first *notifyv1.CreateEndpointResponse
	for i := range 5 {
		res := hh.create(t, user, "https://hooks.example/"+string(rune('a'+i)), "run.failed", "run.succeeded")
		if i == 0 {
			first = res
		}
		if !strings.HasPrefix(res.GetSecret(), "whsec_") || !res.GetEndpoint().GetEnabled() {
			t.Fatalf("create = %v", res)
		}
		if got := res.GetEndpoint().GetEvents(); len(got) != 2 || got[0] != "run.succeeded" {
			t.Fatalf("events = %v, want the contract's order", got)
		}
	}
	_, err := hh.hooks.CreateEndpoint(ctx, &notifyv1.CreateEndpointRequest{Url: "https://hooks.example/f", Events: []string{"run.failed"}})
	if status.Code(err) != codes.FailedPrecondition || rpcerr.Reason(err) != rpcerr.LimitReached {
		t.Fatalf("sixth endpoint: %v, want limit_reached", err)
	}
	list, err := hh.hooks.ListEndpoints(ctx, &notifyv1.ListEndpointsRequest{Limit: 2})
	if err != nil || len(list.GetEndpoints()) != 2 || list.GetNextCursor() == "" {
		t.Fatalf("first page = %v, %v", list, err)
	}
	if list.GetEndpoints()[0].GetUrl() != "https://hooks.example/e" {
		t.Fatalf("not newest first: %v", list.GetEndpoints()[0])
	}

	id := first.GetEndpoint().GetId()
	desc, url := "billing system", "https://billing.example/hooks"
	up, err := hh.hooks.UpdateEndpoint(ctx, &notifyv1.UpdateEndpointRequest{Id: id, Url: &url, Description: &desc,
		Events: &notifyv1.EventTypes{Types: []string{"topup.paid"}}})
	if err != nil || up.GetEndpoint().GetUrl() != url || up.GetEndpoint().GetDescription() != desc || len(up.GetEndpoint().GetEvents()) != 1 {
		t.Fatalf("update = %v, %v", up, err)
	}
	if _, err := hh.hooks.UpdateEndpoint(ctx, &notifyv1.UpdateEndpointRequest{Id: id, Events: &notifyv1.EventTypes{}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("update to no events = %v", err)
	}
	off := false
	up, err = hh.hooks.UpdateEndpoint(ctx, &notifyv1.UpdateEndpointRequest{Id: id, Enabled: &off})
	if err != nil || up.GetEndpoint().GetEnabled() || up.GetEndpoint().GetDisabledReason() == "" {
		t.Fatalf("disable = %v, %v", up, err)
	}
	if _, err := hh.hooks.DeleteEndpoint(ctx, &notifyv1.DeleteEndpointRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := hh.hooks.DeleteEndpoint(ctx, &notifyv1.DeleteEndpointRequest{Id: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("second delete = %v", err)
	}
	hh.create(t, user, "https://hooks.example/f", "run.failed") // room again

	// The secret is stored sealed, never as its text.
	var sealed []byte
	if err := hh.pool.QueryRow(context.Background(), `SELECT secret_sealed FROM webhook_endpoints LIMIT 1`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "whsec_") {
		t.Fatal("a secret is stored in clear")
	}
}

// TestWebhookUserIsolation: another user's endpoint or delivery id is
// NotFound on every call, and the admin calls need an admin.
func TestWebhookUserIsolation(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	ada := hh.identity.addUser("ada@example.com", true)
	eve := hh.identity.addUser("eve@example.com", true)
	rcv := startReceiver(t, always(500))
	ep := hh.create(t, ada, rcv.URL, "run.succeeded")
	id := ep.GetEndpoint().GetId()
	hh.publish(t, ada, "run.succeeded", map[string]any{"id": "r1"})
	d := hh.waitDelivery(t, ada, id, settled)

	as := hh.as(t, eve)
	on := true
	calls := map[string]func() error{
		"update": func() error {
			_, err := hh.hooks.UpdateEndpoint(as, &notifyv1.UpdateEndpointRequest{Id: id, Enabled: &on})
			return err
		},
		"delete": func() error {
			_, err := hh.hooks.DeleteEndpoint(as, &notifyv1.DeleteEndpointRequest{Id: id})
			return err
		},
		"rotate": func() error { _, err := hh.hooks.RotateSecret(as, &notifyv1.RotateSecretRequest{Id: id}); return err },
		"test":   func() error { _, err := hh.hooks.SendTest(as, &notifyv1.SendTestRequest{Id: id}); return err },
		"deliveries": func() error {
			_, err := hh.hooks.ListDeliveries(as, &notifyv1.ListDeliveriesRequest{EndpointId: id})
			return err
		},
		"retry": func() error {
			_, err := hh.hooks.RetryDelivery(as, &notifyv1.RetryDeliveryRequest{Id: d.GetId()})
			return err
		},
		"bad id": func() error {
			_, err := hh.hooks.RetryDelivery(as, &notifyv1.RetryDeliveryRequest{Id: "msg_nope"})
			return err
		},
		"random id": func() error {
			_, err := hh.hooks.SendTest(as, &notifyv1.SendTestRequest{Id: uuid.NewString()})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.NotFound {
			t.Errorf("%s on ada's id as eve = %v, want NotFound", name, err)
		}
	}
	if list, err := hh.hooks.ListEndpoints(as, &notifyv1.ListEndpointsRequest{}); err != nil || len(list.GetEndpoints()) != 0 {
		t.Fatalf("eve lists %v, %v", list, err)
	}

	// Ada retries her failed delivery: one more attempt, the same id; a
	// retry while it is pending is already_pending.
	r, err := hh.hooks.RetryDelivery(hh.as(t, ada), &notifyv1.RetryDeliveryRequest{Id: d.GetId()})
	if err != nil || r.GetDelivery().GetStatus() != "pending" || r.GetDelivery().GetId() != d.GetId() {
		t.Fatalf("retry = %v, %v", r, err)
	}
	if _, err := hh.hooks.RetryDelivery(hh.as(t, ada), &notifyv1.RetryDeliveryRequest{Id: d.GetId()}); err != nil {
		if status.Code(err) != codes.FailedPrecondition || rpcerr.Reason(err) != rpcerr.AlreadyPending {
			t.Fatalf("second retry = %v, want already_pending", err)
		}
	}
	after := hh.waitDelivery(t, ada, id, settled)
	if after.GetAttempts() != 9 || after.GetStatus() != "failed" || len(rcv.requests()) != 9 {
		t.Fatalf("after the retry: %v, %d requests", after, len(rcv.requests()))
	}
	for _, req := range rcv.requests() {
		if req.Header.Get("webhook-id") != d.GetId() {
			t.Fatalf("retry webhook-id = %q", req.Header.Get("webhook-id"))
		}
	}

	// Admin calls: an admin sees ada's endpoints and deliveries; a user not.
	admin := callauth.WithUserToken(context.Background(), hh.keys.AccessToken(t, uuid.NewString(), true))
	eps, err := hh.hooks.AdminListEndpoints(admin, &notifyv1.AdminListEndpointsRequest{UserId: ada})
	if err != nil || len(eps.GetEndpoints()) != 1 || eps.GetEndpoints()[0].GetUserId() != ada {
		t.Fatalf("admin endpoints = %v, %v", eps, err)
	}
	ds, err := hh.hooks.AdminListDeliveries(admin, &notifyv1.AdminListDeliveriesRequest{UserId: ada, Status: "failed"})
	if err != nil || len(ds.GetDeliveries()) != 1 {
		t.Fatalf("admin deliveries = %v, %v", ds, err)
	}
	if _, err := hh.hooks.AdminListEndpoints(as, &notifyv1.AdminListEndpointsRequest{UserId: ada}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin call as a user = %v", err)
	}
}

// TestPublishEventOnce: a repeated key stores nothing and fans out
// nothing again; the same key with other data is refused; only wallet and
// workflow may publish, and only the contract's types.
func TestPublishEventOnce(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, always(200))
	ep := hh.create(t, user, rcv.URL, "topup.paid")
	req := &notifyv1.PublishEventRequest{IdempotencyKey: "wallet:42", UserId: user, Type: "topup.paid",
		DataJson: []byte(`{"id":"t1","amount_cents":500}`), OccurredAtUnixMs: 1_765_000_000_000}
	first, err := hh.events.PublishEvent(context.Background(), req)
	if err != nil || !first.GetCreated() {
		t.Fatalf("first = %v, %v", first, err)
	}
	again, err := hh.events.PublishEvent(context.Background(), req)
	if err != nil || again.GetCreated() || again.GetEventId() != first.GetEventId() {
		t.Fatalf("repeat = %v, %v", again, err)
	}
	hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled) // exactly one delivery

	other := proto.Clone(req).(*notifyv1.PublishEventRequest)
	other.DataJson = []byte(`{"id":"t2"}`)
	if _, err := hh.events.PublishEvent(context.Background(), other); rpcerr.Reason(err) != rpcerr.IdempotencyKeyReused {
		t.Fatalf("reused key = %v", err)
	}
	for name, r := range map[string]*notifyv1.PublishEventRequest{
		"ping":       {IdempotencyKey: "k1", UserId: user, Type: "ping", DataJson: []byte(`{}`), OccurredAtUnixMs: 1},
		"not json":   {IdempotencyKey: "k2", UserId: user, Type: "run.failed", DataJson: []byte(`nope`), OccurredAtUnixMs: 1},
		"array":      {IdempotencyKey: "k3", UserId: user, Type: "run.failed", DataJson: []byte(`[1]`), OccurredAtUnixMs: 1},
		"no user":    {IdempotencyKey: "k4", UserId: "x", Type: "run.failed", DataJson: []byte(`{}`), OccurredAtUnixMs: 1},
		"no key":     {UserId: user, Type: "run.failed", DataJson: []byte(`{}`), OccurredAtUnixMs: 1},
		"no instant": {IdempotencyKey: "k5", UserId: user, Type: "run.failed", DataJson: []byte(`{}`)},
	} {
		if _, err := hh.events.PublishEvent(context.Background(), r); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// identity sends emails but publishes no events.
	if _, err := hh.notify.PublishEvent(context.Background(), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("PublishEvent as identity = %v", err)
	}
}
