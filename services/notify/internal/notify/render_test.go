package notify

import (
	"strings"
	"testing"
)

// samples holds, for every template, data with every field set, and the
// strings its subject, text and HTML must show.
var samples = map[string]struct {
	data map[string]string
	want []string
}{
	"verify_email": {
		map[string]string{"link": "https://mf.example/app/verify-email?token=tok-verify-1", "expires_in": "48 hours", "email": "ada@example.com"},
		[]string{"https://mf.example/app/verify-email?token=tok-verify-1", "48 hours", "ada@example.com"},
	},
	"password_reset": {
		map[string]string{"link": "https://mf.example/app/reset-password?token=tok-reset-1", "expires_in": "30 minutes", "email": "ada@example.com"},
		[]string{"https://mf.example/app/reset-password?token=tok-reset-1", "30 minutes", "ada@example.com"},
	},
	"password_changed": {
		map[string]string{"changed_at": "2026-11-26T14:03:00+01:00", "email": "ada@example.com", "reset_url": "https://mf.example/app/forgot-password"},
		[]string{"2026-11-26 13:03 UTC", "ada@example.com", "https://mf.example/app/forgot-password"},
	},
	"topup_receipt": {
		map[string]string{"amount_cents": "1250", "currency": "usd", "topup_id": "tu_123", "origin": "auto", "payment_intent": "pi_456",
			"balance_cents": "99999", "paid_at": "2026-11-26T14:03:00Z", "wallet_url": "https://mf.example/app/wallet"},
		[]string{"12.50 USD", "999.99 USD", "tu_123", "pi_456", "automatic top-up", "2026-11-26 14:03 UTC", "https://mf.example/app/wallet"},
	},
	"low_balance": {
		map[string]string{"available_cents": "42", "threshold_cents": "500", "currency": "eur", "topup_url": "https://mf.example/app/topup"},
		[]string{"0.42 EUR", "5.00 EUR", "https://mf.example/app/topup"},
	},
	"auto_topup_failed": {
		map[string]string{"amount_cents": "2000", "currency": "usd", "topup_id": "tu_789", "error": "Your card was declined.", "failures": "3",
			"switched_off": "true", "pay_url": "https://mf.example/app/topup?amount_cents=2000"},
		[]string{"20.00 USD", "Your card was declined.", "3 times in a row", "switched off", "https://mf.example/app/topup?amount_cents=2000"},
	},
	"webhook_endpoint_disabled": {
		map[string]string{"endpoint_url": "https://hooks.example.com/in", "endpoint_id": "we_1", "reason": "HTTP 500 for 5 days", "settings_url": "https://mf.example/app/webhooks"},
		[]string{"https://hooks.example.com/in", "we_1", "HTTP 500 for 5 days", "https://mf.example/app/webhooks"},
	},
}

// TestEveryTemplateRenders: each template renders a subject, a plain
// text and an HTML body showing its data, with every field and with the
// required ones only, and nothing of the template machinery shows.
func TestEveryTemplateRenders(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range Templates {
		sample, ok := samples[tmpl.Name]
		if !ok {
			t.Errorf("no sample data for template %s", tmpl.Name)
			continue
		}
		_, data, err := check(Request{Producer: "test", IdempotencyKey: "k", Template: tmpl.Name, ToAddress: "ada@example.com", Data: sample.data})
		if err != nil || len(data) != len(sample.data) {
			t.Errorf("%s: sample data refused or trimmed: %v (%d of %d fields kept)", tmpl.Name, err, len(data), len(sample.data))
			continue
		}
		out, err := r.Render(tmpl, data)
		if err != nil {
			t.Errorf("%s: %v", tmpl.Name, err)
			continue
		}
		for _, w := range sample.want {
			if !strings.Contains(out.Subject+out.Text, w) || !strings.Contains(out.HTML, strings.ReplaceAll(w, "&", "&amp;")) {
				t.Errorf("%s: %q missing from the text or the HTML:\n%s\n%s\n%s", tmpl.Name, w, out.Subject, out.Text, out.HTML)
			}
		}
		required := map[string]string{}
		for _, f := range tmpl.Fields {
			if f.Required {
				required[f.Name] = data[f.Name]
			}
		}
		minimal, err := r.Render(tmpl, required)
		if err != nil {
			t.Errorf("%s with the required fields only: %v", tmpl.Name, err)
			continue
		}
		for _, o := range []Rendered{out, minimal} {
			if o.Subject == "" || strings.Contains(o.Subject, "\n") || strings.TrimSpace(o.Text) == "" || !strings.Contains(o.HTML, "</html>") {
				t.Errorf("%s: incomplete email %+v", tmpl.Name, o)
			}
			for _, bad := range []string{"<no value>", "{{", "}}", "ZgotmplZ", "%!"} {
				if strings.Contains(o.Subject+o.Text+o.HTML, bad) {
					t.Errorf("%s: rendered %q:\n%s\n%s", tmpl.Name, bad, o.Text, o.HTML)
				}
			}
		}
	}
	if len(samples) != len(Templates) {
		t.Errorf("%d samples for %d templates", len(samples), len(Templates))
	}
}

// TestHTMLEscapesData: a field's value cannot add markup to the HTML.
func TestHTMLEscapesData(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _ := Lookup("auto_topup_failed")
	out, err := r.Render(tmpl, map[string]string{"amount_cents": "100", "currency": "usd", "error": `<script>alert(1)</script>`})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.HTML, "<script>") || !strings.Contains(out.HTML, "&lt;script&gt;") || !strings.Contains(out.Text, "<script>") {
		t.Fatalf("HTML not escaped (or text escaped):\n%s\n%s", out.HTML, out.Text)
	}
}

func TestMoney(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cents, currency, want string }{
		{"0", "USD", "0.00 USD"}, {"5", "USD", "0.05 USD"}, {"1250", "EUR", "12.50 EUR"},
		{"-42", "USD", "-0.42 USD"}, {"-9223372036854775808", "USD", "-92233720368547758.08 USD"}, {"", "USD", ""}, {"7", "", "0.07"},
	} {
		if got := money(tc.cents, tc.currency); got != tc.want {
			t.Errorf("money(%q, %q) = %q, want %q", tc.cents, tc.currency, got, tc.want)
		}
	}
}
