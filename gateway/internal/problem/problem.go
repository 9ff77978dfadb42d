// Package problem builds RFC 9457 problem documents and maps service errors
// (gRPC status + rpcerr reason) to them through one table.
package problem

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/meterflow/meterflow/platform/rpcerr"
)

// TypeBase prefixes every problem type URI: TypeBase + code.
const TypeBase = "https://meterflow.dev/problems/"

// ContentType is the media type of problem documents.
const ContentType = "application/problem+json"

// Codes the gateway itself produces, on top of rpcerr's reasons.
const (
	CodePayloadTooLarge      = "payload_too_large"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeTimeout              = "timeout"
	CodeBadRequest           = "bad_request"
	CodeRequestTimeout       = "request_timeout"
	CodeHeadersTooLarge      = "headers_too_large"
	CodeURITooLong           = "uri_too_long"
)

// FieldError names one invalid request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document; it is also an error so handlers
// can return it.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Code   string       `json:"code"`
	Errors []FieldError `json:"errors,omitempty"`
	// Run is set on workflow_failed answers: the failed run itself.
	Run any `json:"run,omitempty"`
	// RetryAfter, when positive, becomes the Retry-After header (seconds, rounded up).
	RetryAfter time.Duration `json:"-"`
}

// Error implements error.
func (p *Problem) Error() string {
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

// RetryAfterSeconds is the Retry-After header value, at least 1.
func (p *Problem) RetryAfterSeconds() string {
	s := int64((p.RetryAfter + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// New returns a problem with the given status, code and detail.
func New(status int, code, detail string) *Problem {
	return &Problem{Type: TypeBase + code, Title: Title(code, status), Status: status, Detail: detail, Code: code}
}

// Validation returns a 400 validation_failed problem naming the fields.
func Validation(detail string, fields ...FieldError) *Problem {
	p := New(http.StatusBadRequest, rpcerr.ValidationFailed, detail)
	p.Errors = fields
	return p
}

var titles = map[string]string{
	rpcerr.ValidationFailed:     "Validation failed",
	rpcerr.EmailTaken:           "Email already registered",
	rpcerr.InvalidCredentials:   "Invalid credentials",
	rpcerr.InvalidToken:         "Invalid token",
	rpcerr.Unauthorized:         "Unauthorized",
	rpcerr.Forbidden:            "Forbidden",
	rpcerr.NotFound:             "Not found",
	rpcerr.RateLimited:          "Too many requests",
	rpcerr.InsufficientFunds:    "Insufficient funds",
	rpcerr.IdempotencyKeyReused: "Idempotency key reused",
	rpcerr.RequestInProgress:    "Request in progress",
	rpcerr.PaymentProviderError: "Payment provider error",
	rpcerr.InvalidSignature:     "Invalid signature",
	rpcerr.WorkflowNotFound:     "Workflow not found",
	rpcerr.WorkflowFailed:       "Workflow failed",
	rpcerr.SlugTaken:            "Slug already taken",
	rpcerr.Conflict:             "Conflict",
	rpcerr.ServiceUnavailable:   "Service unavailable",
	rpcerr.Internal:             "Internal server error",
	rpcerr.InvalidAPIKey:        "Invalid API key",
	rpcerr.InsufficientScope:    "Insufficient scope",
	rpcerr.SpendLimitExceeded:   "Spend limit exceeded",
	rpcerr.LimitReached:         "Limit reached",
	rpcerr.NoPaymentMethod:      "No payment method",
	rpcerr.AlreadyVerified:      "Email already verified",
	rpcerr.EmailNotVerified:     "Email not verified",
	rpcerr.AlreadySettled:       "Run already settled",
	CodePayloadTooLarge:         "Payload too large",
	CodeMethodNotAllowed:        "Method not allowed",
	CodeUnsupportedMediaType:    "Unsupported media type",
	CodeTimeout:                 "Upstream timeout",
	CodeBadRequest:              "Bad request",
	CodeRequestTimeout:          "Request timeout",
	CodeHeadersTooLarge:         "Request headers too large",
	CodeURITooLong:              "URI too long",
}

// Title is the human title of a code, or the HTTP status text.
func Title(code string, status int) string {
	if t, ok := titles[code]; ok {
		return t
	}
	return http.StatusText(status)
}
