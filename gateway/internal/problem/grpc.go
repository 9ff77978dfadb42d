package problem

import (
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
)

// Mapping is the HTTP side of one row of the error table.
type Mapping struct {
	Status int
	Code   string
}

type rowKey struct {
	code   codes.Code
	reason string
}

// table is THE mapping of service errors to HTTP. A (code, reason) row wins
// over the (code, "") default of the same gRPC code; codes without a row
// become 500 internal, with no detail from the service.
var table = map[rowKey]Mapping{
	{codes.InvalidArgument, ""}:                      {http.StatusBadRequest, rpcerr.ValidationFailed},
	{codes.InvalidArgument, rpcerr.InvalidSignature}: {http.StatusBadRequest, rpcerr.InvalidSignature},
	// An emailed link's token (verify email, reset password): 400, not
	// the 401 of a refresh token.
	{codes.InvalidArgument, rpcerr.InvalidToken}:         {http.StatusBadRequest, rpcerr.InvalidToken},
	{codes.FailedPrecondition, rpcerr.AlreadyVerified}:   {http.StatusConflict, rpcerr.AlreadyVerified},
	{codes.OutOfRange, ""}:                               {http.StatusBadRequest, rpcerr.ValidationFailed},
	{codes.Unauthenticated, ""}:                          {http.StatusUnauthorized, rpcerr.Unauthorized},
	{codes.Unauthenticated, rpcerr.InvalidCredentials}:   {http.StatusUnauthorized, rpcerr.InvalidCredentials},
	{codes.Unauthenticated, rpcerr.InvalidToken}:         {http.StatusUnauthorized, rpcerr.InvalidToken},
	{codes.Unauthenticated, rpcerr.InvalidAPIKey}:        {http.StatusUnauthorized, rpcerr.InvalidAPIKey},
	{codes.PermissionDenied, rpcerr.InsufficientScope}:   {http.StatusForbidden, rpcerr.InsufficientScope},
	{codes.PermissionDenied, ""}:                         {http.StatusForbidden, rpcerr.Forbidden},
	{codes.NotFound, ""}:                                 {http.StatusNotFound, rpcerr.NotFound},
	{codes.NotFound, rpcerr.WorkflowNotFound}:            {http.StatusNotFound, rpcerr.WorkflowNotFound},
	{codes.AlreadyExists, ""}:                            {http.StatusConflict, rpcerr.Conflict},
	{codes.AlreadyExists, rpcerr.EmailTaken}:             {http.StatusConflict, rpcerr.EmailTaken},
	{codes.AlreadyExists, rpcerr.SlugTaken}:              {http.StatusConflict, rpcerr.SlugTaken},
	{codes.FailedPrecondition, ""}:                       {http.StatusConflict, rpcerr.Conflict},
	{codes.FailedPrecondition, rpcerr.InsufficientFunds}: {http.StatusPaymentRequired, rpcerr.InsufficientFunds},
	{codes.FailedPrecondition, rpcerr.SpendLimitExceeded}: {
		http.StatusPaymentRequired, rpcerr.SpendLimitExceeded,
	},
	{codes.FailedPrecondition, rpcerr.LimitReached}:    {http.StatusUnprocessableEntity, rpcerr.LimitReached},
	{codes.FailedPrecondition, rpcerr.NoPaymentMethod}: {http.StatusConflict, rpcerr.NoPaymentMethod},
	{codes.FailedPrecondition, rpcerr.AlreadySettled}:  {http.StatusConflict, rpcerr.AlreadySettled},
	{codes.FailedPrecondition, rpcerr.AlreadyPending}:  {http.StatusConflict, rpcerr.AlreadyPending},
	{codes.FailedPrecondition, rpcerr.IdempotencyKeyReused}: {
		http.StatusUnprocessableEntity, rpcerr.IdempotencyKeyReused,
	},
	{codes.FailedPrecondition, rpcerr.WorkflowFailed}: {http.StatusBadGateway, rpcerr.WorkflowFailed},
	{codes.Aborted, ""}:                       {http.StatusConflict, rpcerr.Conflict},
	{codes.Aborted, rpcerr.RequestInProgress}: {http.StatusConflict, rpcerr.RequestInProgress},
	{codes.Aborted, rpcerr.WorkflowFailed}:    {http.StatusBadGateway, rpcerr.WorkflowFailed},
	// Only our own throttles (rpcerr.Throttled) are the caller's rate limit.
	// Any other ResourceExhausted is gRPC refusing a message over its size
	// cap (grpcservice.MaxMessageBytes) or a resource running out inside
	// the service: a defect on our side, which a retry would not cure, so
	// a 500 logged with the method, never a 429 the client would wait on.
	{codes.ResourceExhausted, ""}:                    internalMapping,
	{codes.ResourceExhausted, rpcerr.RateLimited}:    {http.StatusTooManyRequests, rpcerr.RateLimited},
	{codes.Unavailable, ""}:                          {http.StatusServiceUnavailable, rpcerr.ServiceUnavailable},
	{codes.Unavailable, rpcerr.PaymentProviderError}: {http.StatusBadGateway, rpcerr.PaymentProviderError},
	{codes.Unavailable, rpcerr.WorkflowFailed}:       {http.StatusBadGateway, rpcerr.WorkflowFailed},
	{codes.FailedPrecondition, rpcerr.PaymentProviderError}: {
		http.StatusBadGateway, rpcerr.PaymentProviderError,
	},
	{codes.DeadlineExceeded, ""}: {http.StatusGatewayTimeout, CodeTimeout},
	{codes.Canceled, ""}:         {http.StatusServiceUnavailable, rpcerr.ServiceUnavailable},
}

// internalMapping is what every unmapped code (Internal, Unknown, DataLoss,
// Unimplemented, ...) becomes.
var internalMapping = Mapping{http.StatusInternalServerError, rpcerr.Internal}

// Override replaces the mapping of one reason on one route (e.g. an admin
// adjustment's insufficient_funds is 422, not 402).
type Override map[string]Mapping

// Lookup returns the table row for a gRPC code and reason.
func Lookup(c codes.Code, reason string, o Override) Mapping {
	if m, ok := o[reason]; ok && reason != "" {
		return m
	}
	if m, ok := table[rowKey{c, reason}]; ok {
		return m
	}
	if m, ok := table[rowKey{c, ""}]; ok {
		return m
	}
	return internalMapping
}

// AdjustmentErrors is the override of an admin balance adjustment: one
// that would make a balance negative is a semantic error of the admin's
// request (422), not a payment to make (402).
var AdjustmentErrors = Override{
	rpcerr.InsufficientFunds: {Status: http.StatusUnprocessableEntity, Code: rpcerr.InsufficientFunds},
}

// FromError maps any error a handler returns to what the client (the API)
// or the operator (the console's error page) sees: a *Problem as it is; a
// service error through the table; a context that ran out or was canceled
// as the gRPC codes of the same name (504 timeout, 503); anything else a
// 500 internal that says nothing of the error.
func FromError(err error) *Problem {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case IsStatus(err):
		return FromGRPC(err, nil)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return FromGRPC(status.FromContextError(err).Err(), nil)
	}
	return New(internalMapping.Status, internalMapping.Code, genericDetail(internalMapping))
}

// IsStatus reports whether err carries a gRPC status.
func IsStatus(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se)
}

// FromGRPC turns a service error into a problem. Messages of client errors
// (4xx) are passed on as detail, as services write them for callers; 5xx
// answers carry a generic detail so no internals leak.
func FromGRPC(err error, o Override) *Problem {
	st, _ := status.FromError(err)
	reason := rpcerr.Reason(err)
	m := Lookup(st.Code(), reason, o)
	detail := st.Message()
	if m.Status >= 500 {
		detail = genericDetail(m)
	}
	p := New(m.Status, m.Code, detail)
	for _, f := range rpcerr.Fields(err) {
		p.Errors = append(p.Errors, FieldError{Field: f.Field, Message: f.Message})
	}
	if m.Status != http.StatusBadRequest {
		p.Errors = nil
	}
	if m.Status == http.StatusTooManyRequests {
		if d, ok := rpcerr.RetryAfter(err); ok {
			p.RetryAfter = d
		} else {
			p.RetryAfter = time.Second
		}
	}
	return p
}

func genericDetail(m Mapping) string {
	switch m.Code {
	case rpcerr.ServiceUnavailable:
		return "A backend service is unavailable; retry later."
	case rpcerr.PaymentProviderError:
		return "The payment provider could not be reached or refused the request; retry later."
	case rpcerr.WorkflowFailed:
		return "The workflow failed; nothing was charged."
	case CodeTimeout:
		return "A backend service did not answer in time."
	default:
		return "An internal error occurred."
	}
}
