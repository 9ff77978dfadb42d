// Package n8n calls n8n webhooks: one POST per run, never redirected, never
// retried, with a bounded answer, only to allowed hosts and addresses
// (platform/safehttp).
package n8n

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// MaxResponseBytes caps the answer read from n8n. A larger 2xx answer is
// still a success (the work was done): its output is a workflow.Truncated
// stand-in of at most this size.
const MaxResponseBytes = 1 << 20

// UserAgent identifies our calls to n8n.
const UserAgent = "meterflow/1"

// SpanName names the client span of every call.
const SpanName = "n8n webhook"

// CallbackURLHeader carries a callback-mode run's callback URL (with its
// token: never logged or traced).
const CallbackURLHeader = "X-Meterflow-Callback-URL"

// Options configures New.
type Options struct {
	// Hosts is the host-name allow-list (WORKFLOW_ALLOWED_HOSTS).
	Hosts workflow.HostPolicy
	// Addresses decides which addresses may be dialed
	// (WORKFLOW_ALLOW_PRIVATE, WORKFLOW_ALLOWED_CIDRS).
	Addresses safehttp.AddressPolicy
	// Resolver resolves host names; nil uses the system's (tests set one).
	Resolver *net.Resolver
}

// Client performs webhook calls. It implements workflow.Caller.
type Client struct {
	http *http.Client
}

// New returns a client that connects only to hosts allowed by o.Hosts and,
// whatever a name resolves to, only to addresses allowed by o.Addresses.
// Both checks are made for every connection, so a URL stored before the
// lists changed, a name that resolves differently later or a redirect is
// refused too. Environment proxies are ignored: the dialed address must be
// the webhook's.
func New(o Options) *Client {
	return &Client{http: safehttp.New(safehttp.Options{
		Addresses: o.Addresses,
		CheckHost: func(host string) error {
			if !o.Hosts.Allows(host) {
				return fmt.Errorf("%s is not in WORKFLOW_ALLOWED_HOSTS", host)
			}
			return nil
		},
		MaxResponseBytes: MaxResponseBytes,
		// Each call has its own timeout (the workflow's); this only bounds
		// a call whose context has none.
		Timeout:  time.Duration(workflow.MaxTimeoutMS)*time.Millisecond + time.Second,
		Resolver: o.Resolver,
		// Spans carry the scheme and host only: the webhook path is often
		// the webhook's only credential. Never bodies or headers (the auth
		// secret travels in one).
		SpanName:  SpanName,
		Propagate: true,
	})}
}

// Call POSTs r.Body to r.URL and classifies the outcome.
func (c *Client) Call(ctx context.Context, r workflow.Request) workflow.Response {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return workflow.Response{Class: "error", Error: "invalid webhook URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("X-Run-ID", r.RunID)
	if r.CallbackURL != "" {
		req.Header.Set(CallbackURLHeader, r.CallbackURL)
	}
	if len(r.SigningKey) > 0 {
		// Standard Webhooks: webhook-id is the run id, so a workflow can
		// also deduplicate on it; signed at the moment of sending.
		if err := stdwebhooks.SetHeaders(req.Header, r.RunID, time.Now(), r.Body, r.SigningKey); err != nil {
			return workflow.Response{Class: "error", Error: "could not sign the request"}
		}
	}
	if r.HeaderName != "" {
		req.Header.Set(r.HeaderName, r.HeaderValue)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return failure(ctx, err, r.Timeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	tooLarge := errors.Is(err, safehttp.ErrResponseTooLarge)
	if err != nil && !tooLarge {
		out := failure(ctx, err, r.Timeout)
		out.HTTPStatus = resp.StatusCode
		return out
	}
	out := workflow.Response{HTTPStatus: resp.StatusCode, Class: statusClass(resp.StatusCode)}
	if tooLarge {
		out.Output = workflow.Truncated(body, resp.ContentLength, MaxResponseBytes)
		out.Class = "too_large"
	} else {
		out.Output = Output(body, resp.Header.Get("Content-Type"))
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		out.OK = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		out.Error = fmt.Sprintf("n8n answered %d (a redirect; redirects are not followed)", resp.StatusCode)
	default:
		// Never the body: n8n's error answers carry stack traces and the
		// webhook's path. It stays in the output, which only admins see.
		out.Error = fmt.Sprintf("n8n answered %d", resp.StatusCode)
	}
	return out
}

// failure turns a transport error into a run error without the URL (which
// a user must not see) or any header.
func failure(ctx context.Context, err error, timeout time.Duration) workflow.Response {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return workflow.Response{Class: "timeout", Error: fmt.Sprintf("timed out after %d ms", timeout.Milliseconds())}
	case errors.Is(err, safehttp.ErrHostNotAllowed):
		return workflow.Response{Class: "blocked", Error: "webhook host is not allowed"}
	case errors.Is(err, safehttp.ErrAddressNotAllowed):
		return workflow.Response{Class: "blocked", Error: "webhook address is not allowed"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return workflow.Response{Class: "refused", Error: "connection refused"}
	case errors.Is(err, syscall.ECONNRESET):
		return workflow.Response{Class: "error", Error: "connection reset by n8n"}
	case errors.As(err, &dnsErr):
		return workflow.Response{Class: "error", Error: "cannot resolve webhook host"}
	}
	return workflow.Response{Class: "error", Error: "request to n8n failed"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "error"
	}
	return fmt.Sprintf("%dxx", code/100)
}

// Output returns an answer body as a JSON value: the body itself when it is
// JSON, else the body as a JSON string; nil for an empty body.
func Output(body []byte, contentType string) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	jsonType := contentType == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")
	// Postgres jsonb refuses some JSON that encoding/json accepts (see
	// jsonbSafe); such answers are kept as text, or storing the run would fail.
	if jsonType && json.Valid(body) && jsonbSafe(body) {
		return bytes.TrimSpace(body)
	}
	s := strings.ToValidUTF8(string(body), string(utf8.RuneError))
	s = strings.ReplaceAll(s, "\x00", "")
	b, _ := json.Marshal(s)
	return b
}

// Bounds of the numbers kept as JSON: Postgres numeric overflows past about
// 1e131072 and below 1e-16383, and no workflow answers with such numbers.
const (
	maxNumberBytes    = 1000
	maxNumberExponent = 1000
)

// jsonbSafe reports whether a valid JSON document is also accepted by
// Postgres jsonb, which refuses what encoding/json lets through: invalid
// UTF-8, the \u0000 escape, unpaired UTF-16 surrogate escapes, and numbers
// outside numeric's range. body must already be valid JSON.
func jsonbSafe(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	inString := false
	for i := 0; i < len(body); i++ {
		ch := body[i]
		switch {
		case inString && ch == '"':
			inString = false
		case inString && ch == '\\':
			if body[i+1] != 'u' {
				i++
				continue
			}
			r := hex4(body[i+2 : i+6])
			i += 5
			switch {
			case r == 0, r >= 0xDC00 && r <= 0xDFFF:
				return false
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if i+6 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
					return false
				}
				if lo := hex4(body[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
					return false
				}
				i += 6
			}
		case inString:
		case ch == '"':
			inString = true
		case ch == '-' || (ch >= '0' && ch <= '9'):
			j := i
			for j < len(body) && strings.IndexByte("+-0123456789.eE", body[j]) >= 0 {
				j++
			}
			if !numberInRange(body[i:j]) {
				return false
			}
			i = j - 1
		}
	}
	return true
}

// numberInRange bounds a JSON number's length and decimal exponent.
func numberInRange(n []byte) bool {
	if len(n) > maxNumberBytes {
		return false
	}
	e := bytes.IndexAny(n, "eE")
	if e < 0 {
		return true
	}
	exp := bytes.TrimLeft(n[e+1:], "+-")
	exp = bytes.TrimLeft(exp, "0")
	if len(exp) > 4 {
		return false
	}
	v := 0
	for _, d := range exp {
		v = v*10 + int(d-'0')
	}
	return v <= maxNumberExponent
}

// hex4 decodes the four hex digits of a \u escape (valid JSON guarantees them).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
