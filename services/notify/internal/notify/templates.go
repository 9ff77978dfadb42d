package notify

import (
	"slices"
)

// Kind is what a template field holds; SendEmail checks every field it
// stores against its kind, and rendering formats some kinds.
type Kind int

// The kinds of template fields.
const (
	// KindText is one line of text (at most 500 characters).
	KindText Kind = iota
	// KindURL is an absolute http(s) URL (it may carry a token).
	KindURL
	// KindAddress is an email address.
	KindAddress
	// KindCents is an amount in cents (an integer); rendering adds the
	// field without "_cents" as money, e.g. amount_cents 1250 with
	// currency usd renders .amount as "12.50 USD".
	KindCents
	// KindCurrency is a three-letter ISO 4217 code (usd).
	KindCurrency
	// KindTime is an RFC 3339 time; rendering shows it in UTC, e.g.
	// "2026-11-26 14:03 UTC".
	KindTime
	// KindBool is "true" or "false".
	KindBool
	// KindInt is an integer shown as it is (a count).
	KindInt
)

// Field is one field of a template's data.
type Field struct {
	Name     string
	Kind     Kind
	Required bool
}

// Template is one kind of email. The subject and bodies are the embedded
// files templates/<Name>.txt (subject and plain text) and
// templates/<Name>.html (the HTML body inside templates/layout.html).
type Template struct {
	Name string
	// Security emails reach a disabled account too: whoever owns it must
	// learn that its password was changed or a reset was asked for, even
	// while it cannot log in. Every other email to a disabled account is
	// dropped.
	Security bool
	// Fields are the data the template takes. A field not listed here is
	// ignored (not stored), so a producer may send a field before notify
	// knows it, during a rolling deploy.
	Fields []Field
}

func req(name string, k Kind) Field { return Field{Name: name, Kind: k, Required: true} }
func opt(name string, k Kind) Field { return Field{Name: name, Kind: k} }

// Templates are the emails notify sends, with their data fields. The
// services README (services/notify/README.md) shows the same table.
var Templates = []Template{
	{Name: "verify_email", Fields: []Field{
		req("link", KindURL), opt("expires_in", KindText), opt("email", KindAddress),
	}},
	{Name: "password_reset", Security: true, Fields: []Field{
		req("link", KindURL), opt("expires_in", KindText), opt("email", KindAddress),
	}},
	{Name: "password_changed", Security: true, Fields: []Field{
		opt("changed_at", KindTime), opt("email", KindAddress), opt("reset_url", KindURL),
	}},
	{Name: "topup_receipt", Fields: []Field{
		req("amount_cents", KindCents), req("currency", KindCurrency), opt("topup_id", KindText),
		opt("origin", KindText), opt("payment_intent", KindText),
		opt("balance_cents", KindCents), opt("paid_at", KindTime), opt("wallet_url", KindURL),
	}},
	{Name: "low_balance", Fields: []Field{
		req("available_cents", KindCents), req("threshold_cents", KindCents), req("currency", KindCurrency),
		opt("topup_url", KindURL),
	}},
	{Name: "auto_topup_failed", Fields: []Field{
		req("amount_cents", KindCents), req("currency", KindCurrency), opt("topup_id", KindText),
		opt("error", KindText), opt("failures", KindInt), opt("switched_off", KindBool), opt("pay_url", KindURL),
	}},
	{Name: "webhook_endpoint_disabled", Fields: []Field{
		req("endpoint_url", KindURL), opt("endpoint_id", KindText), opt("reason", KindText),
		opt("settings_url", KindURL),
	}},
}

// Lookup returns the template named name.
func Lookup(name string) (Template, bool) {
	i := slices.IndexFunc(Templates, func(t Template) bool { return t.Name == name })
	if i < 0 {
		return Template{}, false
	}
	return Templates[i], true
}

// TemplateNames lists the templates' names, for error messages.
func TemplateNames() []string {
	names := make([]string, len(Templates))
	for i, t := range Templates {
		names[i] = t.Name
	}
	return names
}
