// Package webhookhttp POSTs webhook attempts to users' endpoints through
// platform/safehttp: the address actually dialed is checked on every
// connection, redirects are not followed, proxy variables are ignored,
// an attempt lasts at most 15 s and at most 64 KiB of the answer is read.
package webhookhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// Bounds of an attempt (the contract's).
const (
	Timeout          = 15 * time.Second
	MaxResponseBytes = 64 << 10
)

// UserAgent identifies our deliveries.
const UserAgent = "Meterflow-Webhooks/1"

// SpanName names the client span of every attempt (scheme and host only).
const SpanName = "webhook delivery"

// Options configures New.
type Options struct {
	// Addresses decides which addresses may be dialed (WEBHOOK_ALLOW_PRIVATE).
	Addresses safehttp.AddressPolicy
	// Resolver resolves host names; nil uses the system's (tests set one).
	Resolver *net.Resolver
	// Timeout replaces Timeout (tests only).
	Timeout time.Duration
}

// Sender implements webhooks.Sender.
type Sender struct {
	http    *http.Client
	timeout time.Duration
}

// New returns a Sender under o's address policy.
func New(o Options) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = Timeout
	}
	return &Sender{timeout: o.Timeout, http: safehttp.New(safehttp.Options{
		Addresses: o.Addresses, MaxResponseBytes: MaxResponseBytes, Timeout: o.Timeout, Resolver: o.Resolver,
		// The receivers are outside our systems: no trace context goes to them.
		SpanName: SpanName,
	})}
}

// Send implements webhooks.Sender.
func (s *Sender) Send(ctx context.Context, r webhooks.Request) webhooks.Response {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return webhooks.Response{Error: "the URL does not parse"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(stdwebhooks.HeaderID, r.ID)
	req.Header.Set(stdwebhooks.HeaderTimestamp, strconv.FormatInt(r.Timestamp.Unix(), 10))
	req.Header.Set(stdwebhooks.HeaderSignature, r.Signature)
	resp, err := s.http.Do(req)
	if err != nil {
		return s.failure(ctx, err)
	}
	defer resp.Body.Close()
	// The status decides; the body (up to 64 KiB, also when it is longer
	// or breaks off) only fills last_error.
	body, _ := io.ReadAll(resp.Body)
	return webhooks.Response{Status: resp.StatusCode, Body: body}
}

// failure says why no answer came, in words the endpoint's owner may read
// (never more of our side than the address refused).
func (s *Sender) failure(ctx context.Context, err error) webhooks.Response {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, safehttp.ErrAddressNotAllowed):
		return webhooks.Response{Blocked: true, Error: "not sent: the URL's host resolves to an address that is not allowed (private, loopback or internal)"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return webhooks.Response{Error: fmt.Sprintf("timed out after %s", s.timeout)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return webhooks.Response{Error: "connection refused"}
	case errors.Is(err, syscall.ECONNRESET):
		return webhooks.Response{Error: "connection reset"}
	case errors.As(err, &dnsErr):
		return webhooks.Response{Error: "cannot resolve the URL's host"}
	case errors.Is(err, context.Canceled):
		return webhooks.Response{Error: "attempt interrupted (Meterflow was shutting down)"}
	}
	return webhooks.Response{Error: "request failed (TLS or connection error)"}
}
