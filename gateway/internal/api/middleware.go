package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/clientip"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// Content-Security-Policy of API answers: they are data, never pages.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

const (
	localRequestID = "request_id"
	localPrincipal = "principal"
)

// requestIDOK accepts ids a client or proxy may send: 1-128 characters of
// a safe set, so a log line or header cannot be forged through it.
func requestIDOK(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_.:/+=", r):
		default:
			return false
		}
	}
	return true
}

// requestID returns the request's id, choosing one on first use: also called
// by the error handler for errors raised before any middleware ran.
func requestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(localRequestID).(string); ok {
		return id
	}
	id := c.Get(fiber.HeaderXRequestID)
	if !requestIDOK(id) {
		id = uuid.NewString()
	} else {
		id = strings.Clone(id)
	}
	c.Locals(localRequestID, id)
	return id
}

func (s *Server) setBaseHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderXRequestID, requestID(c))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set(fiber.HeaderContentSecurityPolicy, apiCSP)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if s.d.HSTSMaxAge > 0 {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age="+strconv.Itoa(s.d.HSTSMaxAge)+"; includeSubDomains")
	}
}

func (s *Server) baseHeaders(c *fiber.Ctx) error {
	s.setBaseHeaders(c)
	return c.Next()
}

// clientIP is the request's client address (see clientip).
func (s *Server) clientIP(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	if s.d.ClientIP == nil {
		return peer.Unmap()
	}
	return s.d.ClientIP.ClientIP(peer, func(h string) string { return c.Get(h) })
}

// ipString is a's text, or "" when a is not an address (no peer).
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(k string) string { return h.c.Get(k) }
func (h headerCarrier) Set(string, string)  {}
func (h headerCarrier) Keys() []string      { return nil }

var tracer = otel.Tracer("github.com/meterflow/meterflow/gateway")

// edgePropagator reads what a client may send of the W3C context: its trace
// (traceparent, tracestate), so a client's trace continues through us. Not
// its baggage: the process-wide propagator would carry a client's chosen
// key=values into every internal call, where services and their
// instrumentation may read or log them as if we had set them.
var edgePropagator = propagation.TraceContext{}

// trace starts the server span (otelhttp semantics) and puts it in the
// user context, so the gRPC client spans become its children. Its
// attributes are built only when the span records: without an exporter
// (telemetry.SetupTracing's NeverSample) the span carries the ids that
// logs and the services read, and nothing else (ADR 0023).
func (s *Server) trace(c *fiber.Ctx) error {
	ctx := edgePropagator.Extract(context.Background(), propagation.TextMapCarrier(headerCarrier{c}))
	ctx, span := tracer.Start(ctx, "HTTP", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	recording := span.IsRecording()
	var method string
	if recording {
		method = methodName(c.Method())
		span.SetName(method)
		span.SetAttributes(
			semconv.HTTPRequestMethodKey.String(method),
			semconv.URLPath(strings.Clone(c.Path())),
			semconv.ClientAddress(s.clientIP(c).String()),
		)
	}
	c.SetUserContext(ctx)
	err := c.Next()
	if !recording {
		return err
	}
	route := s.routeLabel(c)
	status := c.Response().StatusCode()
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	return err
}

// routeLabel is the matched route template, or "unmatched", so metrics
// labels stay bounded whatever paths clients send.
func (s *Server) routeLabel(c *fiber.Ctx) string {
	if r := c.Route(); r != nil {
		if label, ok := s.routes[r.Path]; ok {
			return label
		}
	}
	return "unmatched"
}

// observe writes the access log line and the request metrics.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	d := time.Since(start)
	route := s.routeLabel(c)
	status := c.Response().StatusCode()
	// Fiber's strings point into buffers reused by the next request: the
	// log line gets a string of its own.
	method := methodName(c.Method())
	s.metrics.record(route, method, status, d)
	ctx := c.UserContext()
	h := s.d.Log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return err
	}
	// The record Logger.InfoContext would make, without the caller's PC:
	// the log has no source field, and runtime.Callers cost about 2 % of
	// the gateway's CPU on the read path (ADR 0020).
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "http request", 0)
	r.AddAttrs(
		slog.String("method", method), slog.String("route", route), slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("request_id", requestID(c)),
		slog.String("client_ip", s.clientIP(c).String()),
	)
	if p, ok := c.Locals(localPrincipal).(callauth.Principal); ok {
		r.AddAttrs(slog.String("user_id", p.UserID))
		if p.ViaAPIKey() {
			r.AddAttrs(slog.String("api_key_id", p.KeyID))
		}
	}
	_ = h.Handle(ctx, r)
	return err
}

// handleErrors turns a handler's error into the answer right here, so the
// middleware around it (logs, metrics, traces) sees the final status.
func (s *Server) handleErrors(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return s.errorHandler(c, err)
	}
	return nil
}

var errPanic = errors.New("panic in handler")

func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.d.Log.ErrorContext(c.UserContext(), "panic in HTTP handler",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()), "request_id", requestID(c))
			err = errPanic
		}
	}()
	return c.Next()
}

// errorHandler answers any error with a problem document. It is also
// Fiber's ErrorHandler for errors raised before the middleware ran (a body
// over the limit, an unreadable request), so it sets the base headers too.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	if len(c.Response().Header.Peek(fiber.HeaderXRequestID)) == 0 {
		s.setBaseHeaders(c)
	}
	return s.writeProblem(c, s.toProblem(c, err))
}

func (s *Server) toProblem(c *fiber.Ctx, err error) *problem.Problem {
	var p *problem.Problem
	var fe *fiber.Error
	switch {
	case errors.As(err, &p):
		return p // made here, on purpose
	case errors.As(err, &fe):
		return fiberProblem(fe)
	}
	p = problem.FromError(err)
	switch {
	case p.Status < 500 || errors.Is(err, errPanic):
		// A client's error, or a panic already logged with its stack.
	case problem.IsStatus(err):
		// method names the RPC (rpcclient wraps the services' connections);
		// e.g. a ResourceExhausted over the message-size cap lands here.
		s.d.Log.ErrorContext(c.UserContext(), "service call failed", "method", rpcclient.Method(err),
			"grpc_code", status.Code(err).String(), "err", err, "request_id", requestID(c))
	default:
		s.d.Log.ErrorContext(c.UserContext(), "request failed", "err", err, "request_id", requestID(c))
	}
	return p
}

func fiberProblem(fe *fiber.Error) *problem.Problem {
	switch fe.Code {
	case http.StatusNotFound:
		return problem.New(fe.Code, rpcerr.NotFound, "No such route.")
	case http.StatusMethodNotAllowed:
		return problem.New(fe.Code, problem.CodeMethodNotAllowed, "This route does not accept that method.")
	case http.StatusRequestEntityTooLarge:
		return problem.New(fe.Code, problem.CodePayloadTooLarge, "The request body is larger than 1 MiB.")
	case http.StatusRequestTimeout:
		return problem.New(fe.Code, problem.CodeRequestTimeout, "The request was not received in time.")
	case http.StatusRequestHeaderFieldsTooLarge:
		return problem.New(fe.Code, problem.CodeHeadersTooLarge, "The request line and header fields are larger than 32 KiB.")
	case http.StatusUnsupportedMediaType:
		return problem.New(fe.Code, problem.CodeUnsupportedMediaType, "Unsupported media type.")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return problem.New(fe.Code, problem.CodeBadRequest, "The request could not be read.")
	}
	return problem.New(http.StatusInternalServerError, rpcerr.Internal, "An internal error occurred.")
}

func (s *Server) writeProblem(c *fiber.Ctx, p *problem.Problem) error {
	if p.Type == "" {
		p.Type = problem.TypeBase + p.Code
	}
	if p.Title == "" {
		p.Title = problem.Title(p.Code, p.Status)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if p.Status == http.StatusTooManyRequests {
		c.Set(fiber.HeaderRetryAfter, p.RetryAfterSeconds())
	}
	if p.Status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="meterflow"`)
	}
	if closesConnection(p) {
		closeGracefully(c)
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, problem.ContentType)
	return c.Send(body)
}

var errUnauthorized = problem.New(http.StatusUnauthorized, rpcerr.Unauthorized, "A valid access token is required.")

// requireUser verifies the bearer access token, or API key (keyauth.go),
// and stores its principal.
func (s *Server) requireUser(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return problem.New(http.StatusUnauthorized, rpcerr.Unauthorized, "A valid access token is required.")
	}
	if tok = strings.TrimSpace(tok); apikey.LooksLike(tok) {
		return s.requireKey(c, tok)
	}
	p, err := s.d.Tokens.Verify(c.UserContext(), strings.Clone(tok))
	if err != nil {
		return problem.New(http.StatusUnauthorized, rpcerr.Unauthorized, "A valid access token is required.")
	}
	c.Locals(localPrincipal, p)
	return c.Next()
}

// requireAdmin checks the token's admin claim; the services check it again.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	p, _ := c.Locals(localPrincipal).(callauth.Principal)
	if !p.Admin {
		return problem.New(http.StatusForbidden, rpcerr.Forbidden, "This route is for administrators.")
	}
	return c.Next()
}

func principal(c *fiber.Ctx) callauth.Principal {
	p, _ := c.Locals(localPrincipal).(callauth.Principal)
	return p
}

// limitIP limits a route class per client IP: an IPv6 client per /64
// (clientip.LimitKey), or it could rotate through its own addresses.
func (s *Server) limitIP(class string, perMinute int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return s.applyLimit(c, class, clientip.LimitKey(s.clientIP(c)), perMinute)
	}
}

// limitUser limits a route class per verified user; it runs after requireUser.
func (s *Server) limitUser(class string, perMinute int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return s.applyLimit(c, class, ratelimit.UserKey(principal(c).UserID), perMinute)
	}
}

func (s *Server) applyLimit(c *fiber.Ctx, class, key string, perMinute int) error {
	if s.d.Limiter == nil || perMinute <= 0 {
		return c.Next()
	}
	if err := s.decide(c, s.d.Limiter.Allow(c.UserContext(), class, key, perMinute)); err != nil {
		return err
	}
	return c.Next()
}

// decide sets the RateLimit-* headers of d and answers 429 when d refuses.
func (s *Server) decide(c *fiber.Ctx, d ratelimit.Decision) error {
	c.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	c.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	c.Set("RateLimit-Reset", strconv.FormatInt(int64((d.ResetAfter+time.Second-1)/time.Second), 10))
	if !d.Allowed {
		p := problem.New(http.StatusTooManyRequests, rpcerr.RateLimited, "Too many requests; retry after the time in Retry-After.")
		p.RetryAfter = d.RetryAfter
		return p
	}
	return nil
}

// callCtx is the context of a service call made for the request: traced,
// carrying the user's token when there is one, and with a deadline.
func (s *Server) callCtx(c *fiber.Ctx, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx := c.UserContext()
	if p, ok := c.Locals(localPrincipal).(callauth.Principal); ok && p.Token != "" {
		ctx = callauth.WithUserToken(ctx, p.Token)
	}
	if timeout <= 0 {
		timeout = s.d.CallTimeout
	}
	// The services can log the same request id as the gateway.
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", requestID(c))
	return context.WithTimeout(ctx, timeout)
}
