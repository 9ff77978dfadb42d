package outbox

import (
	"context"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// publish hands rows to notify in as few PublishEvents calls as fit
// (maxNotifyBatch events, MaxCallBytes of data each) and returns how many
// notify refused. A refused event (its own InvalidArgument or
// FailedPrecondition, which no retry fixes) is logged and counts as
// handed over, so it cannot hold the others back; any other failure fails
// the batch. A call refused as a whole (a notify without PublishEvents
// during an upgrade, a message it finds too large) is made again event by
// event with PublishEvent.
func (r *Relay) publish(ctx context.Context, rows []row) (int, error) {
	refused := 0
	for len(rows) > 0 {
		n, size := 0, 0
		for n < len(rows) && n < maxNotifyBatch && (n == 0 || size+len(rows[n].event.Data) <= MaxCallBytes) {
			size += len(rows[n].event.Data)
			n++
		}
		k, err := r.call(ctx, rows[:n])
		if err != nil {
			return 0, err
		}
		refused += k
		rows = rows[n:]
	}
	return refused, nil
}

// call is one PublishEvents call for rows.
func (r *Relay) call(ctx context.Context, rows []row) (int, error) {
	req := &notifyv1.PublishEventsRequest{Events: make([]*notifyv1.PublishEventRequest, len(rows))}
	for i, rw := range rows {
		req.Events[i] = r.request(rw)
	}
	ctx, end := callTrace(ctx, rows)
	defer end()
	resp, err := r.Notify.PublishEvents(ctx, req)
	switch status.Code(err) {
	case codes.OK:
	case codes.Unimplemented, codes.InvalidArgument, codes.ResourceExhausted:
		return r.oneByOne(ctx, rows, err)
	default:
		return 0, fmt.Errorf("outbox: hand %d events to notify: %w", len(rows), err)
	}
	results := resp.GetResults()
	if len(results) != len(rows) {
		return 0, fmt.Errorf("outbox: notify answered %d of %d events", len(results), len(rows))
	}
	refused := 0
	for i, res := range results {
		if res.GetCode() != 0 {
			refused++
			r.refused(ctx, rows[i], status.Error(codes.Code(res.GetCode()), res.GetMessage()), res.GetReason())
		}
	}
	return refused, nil
}

// oneByOne publishes rows with PublishEvent, after the batch call failed
// with batchErr.
func (r *Relay) oneByOne(ctx context.Context, rows []row, batchErr error) (int, error) {
	r.Log.WarnContext(ctx, "outbox relay: notify refused the batch; publishing its events one by one", "events", len(rows), "err", batchErr)
	refused := 0
	for _, rw := range rows {
		_, err := r.Notify.PublishEvent(withTrace(ctx, rw.event.Trace), r.request(rw))
		switch {
		case err == nil:
		case refusedByNotify(err):
			refused++
			r.refused(ctx, rw, err, "")
		default:
			return 0, fmt.Errorf("outbox: hand the %s event to notify: %w", rw.event.Type, err)
		}
	}
	return refused, nil
}

// refused logs an event notify refused, which is dropped (as River
// cancels a refused event job).
func (r *Relay) refused(ctx context.Context, rw row, err error, reason string) {
	r.Log.ErrorContext(ctx, "outbox relay: notify refused an event; dropped", "key", r.key(rw.id), "type", rw.event.Type,
		"user_id", rw.event.UserID, "reason", reason, "err", err)
}

// request is rw as notify's request.
func (r *Relay) request(rw row) *notifyv1.PublishEventRequest {
	return &notifyv1.PublishEventRequest{
		IdempotencyKey:   r.key(rw.id),
		UserId:           rw.event.UserID,
		Type:             rw.event.Type,
		DataJson:         rw.event.Data,
		OccurredAtUnixMs: rw.event.OccurredAt.UnixMilli(),
		Trace:            rw.event.Trace,
	}
}

// key is the idempotency key of a row: "<service>:outbox:<id>", apart
// from the River jobs' "<service>:<job id>".
func (r *Relay) key(id int64) string { return r.Service + ":outbox:" + strconv.FormatInt(id, 10) }

// callTrace is the context of a call for rows: a single event's trace
// continues as River's job did; a batch gets a span of its own linked to
// each event's trace (each event also carries its trace, which notify
// continues in its deliveries).
func callTrace(ctx context.Context, rows []row) (context.Context, func()) {
	if len(rows) == 1 {
		return withTrace(ctx, rows[0].event.Trace), func() {}
	}
	links := make([]trace.Link, 0, len(rows))
	for _, rw := range rows {
		if sc := trace.SpanContextFromContext(withTrace(ctx, rw.event.Trace)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := otel.Tracer("github.com/meterflow/meterflow/platform/outbox").Start(ctx, "outbox relay",
		trace.WithLinks(links...), trace.WithSpanKind(trace.SpanKindProducer))
	return ctx, func() { span.End() }
}
