package safehttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const tracerName = "github.com/meterflow/meterflow/platform/safehttp"

// tracing makes each request a client span that names the URL's scheme,
// host and port only. otelhttp records url.full, whose path and query are
// where webhook URLs keep their secrets (an n8n webhook path is often the
// only credential), so it is not used for these calls. Neither bodies nor
// headers are recorded, and error texts are reduced to a type, since a
// transport error can quote the URL.
type tracing struct {
	base      http.RoundTripper
	tracer    trace.Tracer
	name      string
	propagate bool
}

func (t tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.tracer.Start(req.Context(), t.name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(requestAttrs(req)...))
	out := req.WithContext(ctx)
	out.Header = req.Header.Clone()
	if t.propagate {
		otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(out.Header))
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		span.SetAttributes(attribute.String("error.type", errorType(ctx, err)))
		span.SetStatus(codes.Error, errorType(ctx, err))
		span.End()
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	}
	resp.Body = &spanBody{rc: resp.Body, span: span}
	return resp, nil
}

func requestAttrs(req *http.Request) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("http.request.method", req.Method)}
	if req.URL == nil {
		return attrs
	}
	attrs = append(attrs, attribute.String("url.scheme", req.URL.Scheme),
		attribute.String("server.address", req.URL.Hostname()))
	port := req.URL.Port()
	switch {
	case port != "":
	case req.URL.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	return attrs
}

// errorType names a transport failure without its text.
func errorType(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, ErrAddressNotAllowed):
		return "address_not_allowed"
	case errors.Is(err, ErrHostNotAllowed):
		return "host_not_allowed"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "transport_error"
}

// spanBody ends the span when the body has been read or closed, so the
// span covers the whole exchange.
type spanBody struct {
	rc   io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.end(nil)
	case err != nil:
		b.end(err)
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.rc.Close()
	b.end(nil)
	return err
}

func (b *spanBody) end(err error) {
	b.once.Do(func() {
		if errors.Is(err, ErrResponseTooLarge) {
			b.span.SetAttributes(attribute.Bool("http.response.body.truncated", true))
		} else if err != nil {
			b.span.SetAttributes(attribute.String("error.type", "body_read_error"))
			b.span.SetStatus(codes.Error, "body_read_error")
		}
		b.span.End()
	})
}
