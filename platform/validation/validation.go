// Package validation is the one shape of "this input is invalid" that every
// service's business package returns: a list of fields, each with a message
// a client can show next to the field. The services map it once to a gRPC
// InvalidArgument with field violations (rpcerr.FromError), and the gateway
// to 400 validation_failed with "errors": [{"field","message"}].
package validation

import "strings"

// FieldError names one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// Error lists the invalid fields of a request. The zero value is empty and
// ready to use: collect with Add, return with Err.
type Error struct {
	Fields []FieldError
}

// Error implements error: "invalid request: field: message; ...".
func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Add records that field is invalid.
func (e *Error) Add(field, msg string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: msg})
}

// Err returns e when it holds a field, else nil (so that a function can
// collect every problem and return them at once).
func (e *Error) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Field returns an error for one invalid field.
func Field(field, msg string) error {
	return &Error{Fields: []FieldError{{Field: field, Message: msg}}}
}
