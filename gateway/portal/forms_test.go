package portal

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
)

// TestFormRefused: a service's refusal lands next to the field it names,
// in words and money for people; other 4xx above the form; a failure on
// our side goes to the error page.
func TestFormRefused(t *testing.T) {
	t.Parallel()
	fields := map[string]string{"amount_cents": "amount", "url": "url"}
	tests := []struct {
		name       string
		err        error
		field, msg string // where the message lands ("" above the form)
		page       bool   // returned for the error page
	}{
		{"amount in cents becomes money", rpcerr.FromError(validation.Field("amount_cents", "must be between 500 and 100000"), ""),
			"amount", "This amount must be between $5.00 and $1,000.00.", false},
		{"a field the form does not have", rpcerr.FromError(validation.Field("events", "must list at least one"), ""),
			"", "events must list at least one.", false},
		{"a plain refusal", rpcerr.New(codes.FailedPrecondition, rpcerr.NoPaymentMethod, "auto top-up needs a saved card"),
			"", "auto top-up needs a saved card", false},
		{"our failure", errors.New("pq: relation does not exist"), "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newForm()
			f.cents = func(c int64) string { return money.FormatIn(c, "usd") }
			err := f.refused(tt.err, fields)
			if (err != nil) != tt.page {
				t.Fatalf("refused returned %v, want the error page: %v", err, tt.page)
			}
			if tt.page {
				return
			}
			got := f.Error
			if tt.field != "" {
				got = f.Errors[tt.field]
			}
			if got != tt.msg {
				t.Fatalf("message at %q = %q, want %q (form %+v)", tt.field, got, tt.msg, f)
			}
		})
	}
}

// TestFormAmount: amounts are typed in dollars and cents; empty is none.
func TestFormAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		none bool
		bad  bool
	}{
		{"25", 2500, false, false},
		{"12.50", 1250, false, false},
		{"$1,000", 100000, false, false},
		{"", 0, true, false},
		{"-5", 0, true, true},
		{"12.345", 0, true, true},
		{"ten", 0, true, true},
	}
	for _, tt := range tests {
		f := newForm()
		got := f.amount("amount", tt.in)
		if (got == nil) != tt.none || (got != nil && *got != tt.want) || (f.Errors["amount"] != "") != tt.bad {
			t.Errorf("amount(%q) = %v, error %q; want %d (none %v, bad %v)", tt.in, got, f.Errors["amount"], tt.want, tt.none, tt.bad)
		}
		if f.Values["amount"] != tt.in {
			t.Errorf("amount(%q) kept %q to show again", tt.in, f.Values["amount"])
		}
	}
}

// TestInvalid: an input whose field failed points at its message.
func TestInvalid(t *testing.T) {
	t.Parallel()
	f := newForm()
	if got := invalid(f, "url"); got != "" {
		t.Fatalf("a field without an error: %q", got)
	}
	f.fail("url", "Enter a URL.")
	if got := invalid(f, "url"); got != `aria-invalid="true" aria-describedby="url-error"` {
		t.Fatalf("a field with an error: %q", got)
	}
}
