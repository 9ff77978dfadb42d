package notify

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	good := func() Request {
		return Request{Producer: "identity", IdempotencyKey: "identity:1", Template: "verify_email", ToUserID: uuid.New(),
			Data: map[string]string{"link": "https://mf.example/app/verify-email?token=t"}}
	}
	tests := []struct {
		name   string
		change func(*Request)
		field  string // "" when valid
	}{
		{"valid", func(*Request) {}, ""},
		{"valid address", func(r *Request) { r.ToUserID, r.ToAddress = uuid.Nil, "ops@example.com" }, ""},
		{"empty key", func(r *Request) { r.IdempotencyKey = "" }, "idempotency_key"},
		{"key too long", func(r *Request) { r.IdempotencyKey = strings.Repeat("k", 256) }, "idempotency_key"},
		{"key with a newline", func(r *Request) { r.IdempotencyKey = "a\nb" }, "idempotency_key"},
		{"unknown template", func(r *Request) { r.Template = "newsletter" }, "template"},
		{"no recipient", func(r *Request) { r.ToUserID = uuid.Nil }, "recipient"},
		{"two recipients", func(r *Request) { r.ToAddress = "ops@example.com" }, "recipient"},
		{"display name", func(r *Request) { r.ToUserID, r.ToAddress = uuid.Nil, "Ops <ops@example.com>" }, "to_address"},
		{"header injection", func(r *Request) { r.ToUserID, r.ToAddress = uuid.Nil, "ops@example.com\r\nBcc: x@example.com" }, "to_address"},
		{"no domain dot", func(r *Request) { r.ToUserID, r.ToAddress = uuid.Nil, "ops@example" }, "to_address"},
		{"missing required field", func(r *Request) { delete(r.Data, "link") }, "data.link"},
		{"javascript link", func(r *Request) { r.Data["link"] = "javascript:alert(1)" }, "data.link"},
		{"relative link", func(r *Request) { r.Data["link"] = "/app/verify-email?token=t" }, "data.link"},
		{"link with credentials", func(r *Request) { r.Data["link"] = "https://u:p@mf.example/x" }, "data.link"},
		{"text with a newline", func(r *Request) { r.Data["expires_in"] = "48 hours\nBcc: x" }, "data.expires_in"},
		{"too many fields", func(r *Request) {
			for i := range MaxFields {
				r.Data[strings.Repeat("x", i+1)] = "v"
			}
		}, "data"},
		{"unknown field ignored", func(r *Request) { r.Data["coupon"] = "FREE" }, ""},
		{"bad cents", func(r *Request) {
			r.Template, r.Data = "low_balance", map[string]string{"available_cents": "1.5", "threshold_cents": "100", "currency": "usd"}
		}, "data.available_cents"},
		{"bad currency", func(r *Request) {
			r.Template, r.Data = "low_balance", map[string]string{"available_cents": "1", "threshold_cents": "100", "currency": "us1"}
		}, "data.currency"},
		{"bad time", func(r *Request) {
			r.Template, r.Data = "password_changed", map[string]string{"changed_at": "yesterday"}
		}, "data.changed_at"},
		{"bad bool", func(r *Request) {
			r.Template, r.Data = "auto_topup_failed", map[string]string{"amount_cents": "1", "currency": "usd", "switched_off": "yes"}
		}, "data.switched_off"},
		{"bad count", func(r *Request) {
			r.Template, r.Data = "auto_topup_failed", map[string]string{"amount_cents": "1", "currency": "usd", "failures": "many"}
		}, "data.failures"},
	}
	for _, tc := range tests {
		r := good()
		tc.change(&r)
		_, data, err := check(r)
		var ve *validation.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field == "":
			if _, kept := data["coupon"]; kept {
				t.Errorf("%s: an undeclared field was kept", tc.name)
			}
		case !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != tc.field:
			t.Errorf("%s: err = %v, want one violation on %s", tc.name, err, tc.field)
		}
	}
}

func TestRequestHash(t *testing.T) {
	t.Parallel()
	u := uuid.New()
	a := requestHash("verify_email", u, "", map[string]string{"link": "https://x/1", "email": "a@example.com"})
	if b := requestHash("verify_email", u, "", map[string]string{"email": "a@example.com", "link": "https://x/1"}); !bytes.Equal(a, b) {
		t.Fatal("the hash depends on the map's order")
	}
	for _, other := range [][]byte{
		requestHash("password_reset", u, "", map[string]string{"link": "https://x/1", "email": "a@example.com"}),
		requestHash("verify_email", uuid.New(), "", map[string]string{"link": "https://x/1", "email": "a@example.com"}),
		requestHash("verify_email", u, "", map[string]string{"link": "https://x/2", "email": "a@example.com"}),
		requestHash("verify_email", u, "", map[string]string{"link": "https://x/1", "email": "a@example.co"}),
		requestHash("verify_email", u, "", map[string]string{"link": "https://x/1emaila@example.com"}),
	} {
		if bytes.Equal(a, other) {
			t.Fatal("two different requests hash alike")
		}
	}
}
