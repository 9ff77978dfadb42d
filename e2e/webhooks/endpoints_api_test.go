package webhooks

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/e2e/stack"
)

var secretFormat = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

// TestEndpointsAPI: the contract's routes, statuses and shapes for
// endpoints, through the gateway: create shows the secret once, the
// limit of 5, validation, another user's ids are 404, API keys are
// refused, admins see a user's endpoints and deliveries.
func TestEndpointsAPI(t *testing.T) {
	t.Parallel()
	s := stack.Start(t, stack.Options{})
	ada, _, adaID := s.Signup(t, "ada-"+stack.RandomHex()+"@example.com", "correct horse battery")
	eve, _, _ := s.Signup(t, "eve-"+stack.RandomHex()+"@example.com", "correct horse battery")
	rcv := startReceiver(t)

	ep := createEndpoint(t, s, ada, rcv.URL+"/hooks", "run.failed", "run.succeeded")
	id := ep["id"].(string)
	if !secretFormat.MatchString(ep["secret"].(string)) || ep["enabled"] != true || ep["disabled_reason"] != nil {
		t.Fatalf("created = %v", ep)
	}
	for _, k := range []string{"id", "url", "events", "description", "enabled", "disabled_reason", "created_at"} {
		if _, ok := ep[k]; !ok {
			t.Fatalf("WebhookEndpoint lacks %q: %v", k, ep)
		}
	}
	list := s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints", Token: ada})
	if list.Status != http.StatusOK || strings.Contains(string(list.Body), "whsec_") || !strings.Contains(string(list.Body), id) {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}

	for name, body := range map[string]any{
		"ftp URL":       map[string]any{"url": "ftp://example.com/x", "events": []string{"run.failed"}},
		"credentials":   map[string]any{"url": "https://u:p@example.com/x", "events": []string{"run.failed"}},
		"metadata":      map[string]any{"url": "http://169.254.169.254/latest", "events": []string{"run.failed"}},
		"unknown event": map[string]any{"url": "https://example.com/x", "events": []string{"run.started"}},
		"unknown field": map[string]any{"url": "https://example.com/x", "events": []string{"run.failed"}, "secret": "x"},
	} {
		r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints", Token: ada, Body: body})
		if r.Status != http.StatusBadRequest || r.JSON(t)["code"] != "validation_failed" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	for range 4 {
		createEndpoint(t, s, ada, rcv.URL+"/more", "topup.paid")
	}
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints", Token: ada,
		Body: map[string]any{"url": rcv.URL + "/sixth", "events": []string{"topup.paid"}}})
	if r.Status != http.StatusUnprocessableEntity || r.JSON(t)["code"] != "limit_reached" {
		t.Fatalf("sixth: %d %s", r.Status, r.Body)
	}

	r = s.Do(t, stack.Request{Method: "PATCH", Path: "/v1/webhook-endpoints/" + id, Token: ada,
		Body: map[string]any{"events": []string{"wallet.low_balance"}, "enabled": false}})
	if r.Status != http.StatusOK || r.JSON(t)["enabled"] != false || r.JSON(t)["disabled_reason"] == nil {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints/" + id + "/rotate-secret", Token: ada})
	if r.Status != http.StatusOK || !secretFormat.MatchString(r.JSON(t)["secret"].(string)) || r.JSON(t)["secret"] == ep["secret"] {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}

	// Eve: every one of ada's ids is 404; her own list is empty.
	for _, req := range []stack.Request{
		{Method: "PATCH", Path: "/v1/webhook-endpoints/" + id, Body: map[string]any{"enabled": true}},
		{Method: "DELETE", Path: "/v1/webhook-endpoints/" + id},
		{Method: "POST", Path: "/v1/webhook-endpoints/" + id + "/rotate-secret"},
		{Method: "POST", Path: "/v1/webhook-endpoints/" + id + "/test"},
		{Method: "GET", Path: "/v1/webhook-endpoints/" + id + "/deliveries"},
		{Method: "POST", Path: "/v1/webhook-deliveries/msg_06H4Z99AHNYRSB7TKJ1EKE6FFR/retry"},
		{Method: "POST", Path: "/v1/webhook-deliveries/not-an-id/retry"},
		{Method: "DELETE", Path: "/v1/webhook-endpoints/not-a-uuid"},
	} {
		req.Token = eve
		if r := s.Do(t, req); r.Status != http.StatusNotFound || r.JSON(t)["code"] != "not_found" {
			t.Errorf("eve %s %s: %d %s", req.Method, req.Path, r.Status, r.Body)
		}
	}
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints", Token: eve}); !strings.Contains(string(r.Body), `"items":[]`) {
		t.Fatalf("eve's list: %s", r.Body)
	}

	// An API key never reaches these routes, whatever its scopes.
	key := s.Do(t, stack.Request{Method: "POST", Path: "/v1/api-keys", Token: ada,
		Body: map[string]any{"name": "script", "scopes": []string{"runs:read", "runs:write", "wallet:read", "workflows:read"}}})
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints", Token: key.JSON(t)["key"].(string)}); r.Status != http.StatusForbidden {
		t.Fatalf("API key: %d %s", r.Status, r.Body)
	}

	// The admin's view of ada; a user is refused it.
	admin := s.Admin(t)
	r = s.Do(t, stack.Request{Method: "GET", Path: "/v1/admin/users/" + adaID + "/webhook-endpoints", Token: admin})
	if r.Status != http.StatusOK || len(r.JSON(t)["items"].([]any)) != 5 || !strings.Contains(string(r.Body), `"user_id":"`+adaID) {
		t.Fatalf("admin endpoints: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/admin/users/" + adaID + "/webhook-deliveries?status=failed", Token: admin}); r.Status != http.StatusOK {
		t.Fatalf("admin deliveries: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/admin/users/" + adaID + "/webhook-endpoints", Token: eve}); r.Status != http.StatusForbidden {
		t.Fatalf("admin route as a user: %d %s", r.Status, r.Body)
	}

	if r := s.Do(t, stack.Request{Method: "DELETE", Path: "/v1/webhook-endpoints/" + id, Token: ada}); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
}
