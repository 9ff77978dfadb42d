// Package safehttp is the HTTP client for calls to URLs that others supply
// (n8n webhooks set by admins, users' own webhook endpoints): it connects
// only to allowed addresses, checked on the address actually dialed on
// every connection, follows no redirects, ignores proxy environment
// variables, bounds time and the bytes read, and keeps URL paths and
// queries (where webhook secrets live) out of traces.
//
// A check of the host name before the request is not a check: DNS can
// answer differently a millisecond later, and a name can resolve to
// 127.0.0.1. Only the dialer's Control hook sees the address the socket
// is about to connect to.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Options.
const (
	DefaultMaxResponseBytes = 1 << 20
	DefaultTimeout          = 30 * time.Second
	dialTimeout             = 10 * time.Second
)

// ErrResponseTooLarge is returned by a response body's Read once more than
// Options.MaxResponseBytes would be read; the bytes up to the limit have
// been returned before it.
var ErrResponseTooLarge = errors.New("response body too large")

// ErrHostNotAllowed is returned (wrapped) when Options.CheckHost refuses a
// host name.
var ErrHostNotAllowed = errors.New("host not allowed")

// Options configures New. The zero value is the strict client: global
// addresses only, 1 MiB of answer, 30 s per exchange.
type Options struct {
	// Addresses decides which addresses may be dialed.
	Addresses AddressPolicy
	// CheckHost, when set, is asked about every host name before it is
	// resolved (an allow-list of names); an error refuses the connection.
	CheckHost func(host string) error
	// MaxResponseBytes bounds the body read from an answer; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Timeout bounds a whole exchange, body included; 0 means
	// DefaultTimeout. A shorter context deadline applies as usual.
	Timeout time.Duration
	// Resolver resolves host names; nil uses the system's. Tests use one
	// that answers from a DNS server they control.
	Resolver *net.Resolver
	// SpanName, when set, makes every request a client span of that name
	// (see tracing.go); when empty the client does not trace.
	SpanName string
	// TracerProvider makes the spans; nil uses the global one.
	TracerProvider trace.TracerProvider
	// Propagate injects the trace context into the outgoing headers (W3C
	// traceparent through the global propagator). Leave it off for
	// receivers outside our own systems.
	Propagate bool
}

// New returns a client under o's policy. Redirects are never followed: a
// 3xx answer is returned as it is.
func New(o Options) *http.Client {
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	dialer := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: 30 * time.Second,
		Resolver:  o.Resolver,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDialed(o.Addresses, address)
		},
	}
	base := &http.Transport{
		// Never a proxy from HTTP_PROXY and friends: the dialed address
		// must be the URL's, or the check above would judge the proxy.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if o.CheckHost != nil {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if err := o.CheckHost(host); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrHostNotAllowed, err)
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    128,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	var rt http.RoundTripper = limitBody{base: base, max: o.MaxResponseBytes}
	if o.SpanName != "" {
		tp := o.TracerProvider
		if tp == nil {
			tp = otel.GetTracerProvider()
		}
		rt = tracing{base: rt, tracer: tp.Tracer(tracerName), name: o.SpanName, propagate: o.Propagate}
	}
	return &http.Client{
		Transport:     rt,
		Timeout:       o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkDialed judges the "ip:port" a socket is about to connect to.
func checkDialed(p AddressPolicy, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrAddressNotAllowed, address)
	}
	return p.Check(ap.Addr())
}

// limitBody bounds every answer's body.
type limitBody struct {
	base http.RoundTripper
	max  int64
}

func (l limitBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: l.max}
	return resp, nil
}

// limitedBody returns at most left bytes, then ErrResponseTooLarge if the
// body goes on (io.EOF if it ends exactly there).
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		switch {
		case n > 0:
			b.err = ErrResponseTooLarge
		case err != nil:
			b.err = err
		default:
			return 0, nil
		}
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
