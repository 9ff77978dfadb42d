// Package rpcerr carries the public API's stable error codes across gRPC.
//
// A service returns a gRPC status whose ErrorInfo reason is one of the
// contract's codes ("insufficient_funds", "email_taken", ...). The gateway
// maps the gRPC code and the reason to an HTTP status and a problem document
// in one table, so no service knows about HTTP and no error loses its code.
package rpcerr

import (
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every reason below.
const Domain = "meterflow"

// Reasons: the contract's machine-readable error codes.
const (
	ValidationFailed     = "validation_failed"
	EmailTaken           = "email_taken"
	InvalidCredentials   = "invalid_credentials"
	InvalidToken         = "invalid_token"
	Unauthorized         = "unauthorized"
	Forbidden            = "forbidden"
	NotFound             = "not_found"
	RateLimited          = "rate_limited"
	InsufficientFunds    = "insufficient_funds"
	IdempotencyKeyReused = "idempotency_key_reused"
	RequestInProgress    = "request_in_progress"
	PaymentProviderError = "payment_provider_error"
	InvalidSignature     = "invalid_signature"
	WorkflowNotFound     = "workflow_not_found"
	WorkflowFailed       = "workflow_failed"
	SlugTaken            = "slug_taken"
	Conflict             = "conflict"
	ServiceUnavailable   = "service_unavailable"
	Internal             = "internal"
	// InvalidAPIKey: a revoked, expired, unknown or malformed API key.
	InvalidAPIKey = "invalid_api_key"
	// InsufficientScope: an API key used outside its scopes, or on a
	// route no key reaches.
	InsufficientScope = "insufficient_scope"
	// SpendLimitExceeded: the fee would take an API key's spend in the
	// current UTC month over its monthly limit.
	SpendLimitExceeded = "spend_limit_exceeded"
	// LimitReached: a per-user count limit (e.g. 25 active API keys).
	LimitReached = "limit_reached"
	// NoPaymentMethod: auto top-up switched on without a saved card.
	NoPaymentMethod = "no_payment_method"
	// AlreadyVerified: a verification email was asked for an email that is
	// verified already.
	AlreadyVerified = "already_verified"
	// EmailNotVerified: the route needs a verified email
	// (REQUIRE_VERIFIED_EMAIL).
	EmailNotVerified = "email_not_verified"
	// AlreadySettled: a verdict for a run whose outcome is decided (an
	// earlier verdict, or its deadline).
	AlreadySettled = "already_settled"
	// AlreadyPending: a retry of a webhook delivery that is still pending.
	AlreadyPending = "already_pending"
)

// FieldViolation names one invalid request field.
type FieldViolation struct {
	Field   string
	Message string
}

// New returns a gRPC error with code c carrying reason as its ErrorInfo.
func New(c codes.Code, reason, msg string) error {
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain})
	if err != nil {
		return status.Error(c, msg)
	}
	return st.Err()
}

// Validation returns an InvalidArgument error with the violated fields.
func Validation(msg string, fields ...FieldViolation) error {
	br := &errdetails.BadRequest{}
	for _, f := range fields {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Message})
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.ErrorInfo{Reason: ValidationFailed, Domain: Domain}, br)
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// Throttled returns a ResourceExhausted error telling the caller when to retry.
func Throttled(msg string, retryAfter time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: RateLimited, Domain: Domain},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)},
	)
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}

// Reason returns the ErrorInfo reason of err, or "" if it has none.
func Reason(err error) string {
	st, ok := statusOf(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == Domain {
			return ei.GetReason()
		}
	}
	return ""
}

// Fields returns the field violations carried by err.
func Fields(err error) []FieldViolation {
	st, ok := statusOf(err)
	if !ok {
		return nil
	}
	var out []FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, FieldViolation{Field: v.GetField(), Message: v.GetDescription()})
			}
		}
	}
	return out
}

// RetryAfter returns the retry delay carried by err, if any.
func RetryAfter(err error) (time.Duration, bool) {
	st, ok := statusOf(err)
	if !ok {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func statusOf(err error) (*status.Status, bool) {
	if err == nil {
		return nil, false
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus(), true
	}
	return nil, false
}
