package portal

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// Form is a form's values and its errors. An error about one field is
// shown next to that field (the "ferr" template, and the input's
// aria-describedby through "invalid"); one about the whole form above it.
type Form struct {
	Values map[string]string
	Errors map[string]string
	Error  string
	// cents words an amount of cents in a service's message for people
	// (the deployment's currency); nil leaves the numbers as they are.
	cents func(int64) string
}

func newForm() *Form {
	return &Form{Values: map[string]string{}, Errors: map[string]string{}}
}

// newForm is a form whose messages show amounts as money.
func (p *Portal) newForm() *Form {
	f := newForm()
	f.cents = p.money
	return f
}

// fail records msg against field ("" for the whole form).
func (f *Form) fail(field, msg string) {
	if field == "" {
		f.Error = msg
		return
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

// failed reports whether anything was recorded.
func (f *Form) failed() bool { return f.Error != "" || len(f.Errors) > 0 }

// refused records a service's refusal of the form: the invalid fields of a
// validation error next to their form fields (fields maps the service's
// names to the form's; an unmapped one goes above the form), another 4xx
// above the form. A failure on our side (5xx) is returned for the error
// page.
func (f *Form) refused(err error, fields map[string]string) error {
	p := problem.FromError(err)
	if p.Status >= http.StatusInternalServerError {
		return err
	}
	if len(p.Errors) == 0 {
		f.fail("", p.Detail)
		return nil
	}
	for _, e := range p.Errors {
		if strings.HasSuffix(e.Field, "_cents") && f.cents != nil {
			e.Message = number.ReplaceAllStringFunc(e.Message, func(n string) string {
				c, _ := strconv.ParseInt(n, 10, 64)
				return f.cents(c)
			})
		}
		name, ok := fields[e.Field]
		if !ok {
			f.fail("", label(e.Field)+" "+e.Message+".")
			continue
		}
		f.fail(name, "This "+label(e.Field)+" "+e.Message+".")
	}
	return nil
}

// number is an integer in a message about a field of cents.
var number = regexp.MustCompile(`-?\b[0-9]{1,18}\b`)

// label words a service's field name for people: "amount_cents" →
// "amount".
func label(field string) string {
	switch field {
	case "amount_cents", "auto_topup_amount_cents":
		return "amount"
	case "threshold_cents", "low_balance_threshold_cents", "auto_topup_threshold_cents":
		return "threshold"
	case "monthly_spend_limit_cents":
		return "spend limit"
	case "expires_at":
		return "expiry date"
	case "new_password":
		return "password"
	}
	b := []byte(field)
	for i, c := range b {
		if c == '_' {
			b[i] = ' '
		}
	}
	return string(b)
}

// amount reads an optional dollar field into cents: nil when empty.
func (f *Form) amount(field, raw string) *int64 {
	f.Values[field] = raw
	if raw == "" {
		return nil
	}
	c, err := money.Parse(raw)
	if err != nil || c < 0 {
		f.fail(field, "Enter an amount in dollars and cents, e.g. 25 or 12.50.")
		return nil
	}
	return &c
}

// invalid marks an input whose field failed, and points screen readers
// at the message ("ferr" renders it with the id <field>-error).
func invalid(f *Form, field string) template.HTMLAttr {
	if f == nil || f.Errors[field] == "" {
		return ""
	}
	return template.HTMLAttr(fmt.Sprintf(`aria-invalid="true" aria-describedby="%s-error"`, template.HTMLEscapeString(field)))
}

// tooMany is the refusal of a spent budget.
func tooMany(retry time.Duration) error {
	p := problem.New(http.StatusTooManyRequests, rpcerr.RateLimited,
		fmt.Sprintf("Too many attempts. Try again in %d seconds.", max(1, int((retry+time.Second-1)/time.Second))))
	p.RetryAfter = retry
	return p
}

// postedKey is the idempotency key a form was shown with, or a fresh one
// when it carries none that could be ours.
func postedKey(x *fiber.Ctx) string {
	if k := x.FormValue("key"); len(k) >= 16 && len(k) <= 64 {
		return k
	}
	return formKey()
}

// formKey is a fresh idempotency key for a form that moves money or
// starts a run: the same form sent twice (a double click, a reload) does
// the thing once.
func formKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
