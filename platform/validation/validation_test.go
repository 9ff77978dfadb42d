package validation_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/meterflow/meterflow/platform/validation"
)

func TestError(t *testing.T) {
	t.Parallel()
	var e validation.Error
	if e.Err() != nil {
		t.Fatal("an empty error is not nil")
	}
	e.Add("email", "is not an email address")
	e.Add("password", "must be at least 8 characters")
	err := fmt.Errorf("sign up: %w", e.Err())
	var ve *validation.Error
	if !errors.As(err, &ve) || len(ve.Fields) != 2 || ve.Fields[1].Field != "password" {
		t.Fatalf("errors.As = %+v", ve)
	}
	if got, want := ve.Error(), "invalid request: email: is not an email address; password: must be at least 8 characters"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if f := validation.Field("limit", "must be between 1 and 200"); f.Error() != "invalid request: limit: must be between 1 and 200" {
		t.Fatalf("Field = %q", f)
	}
}
