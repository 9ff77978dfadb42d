package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// answer is what PublishEvent(s) answered for one event, with the event
// id replaced by the index of the first event answered with it, so that
// the answers of two runs with other keys compare.
type answer struct {
	sameAs  int
	created bool
	code    codes.Code
	reason  string
	message string
}

// answers names each answer's event by the first index that got it.
func answers(ids []string, created []bool, errs []error) []answer {
	first := map[string]int{}
	out := make([]answer, len(ids))
	for i, id := range ids {
		out[i] = answer{sameAs: -1, created: created[i]}
		if errs[i] != nil {
			st := status.Convert(errs[i])
			out[i].code, out[i].reason, out[i].message = st.Code(), rpcerr.Reason(errs[i]), st.Message()
			continue
		}
		if j, ok := first[id]; ok {
			out[i].sameAs = j
		} else {
			first[id] = i
			out[i].sameAs = i
		}
	}
	return out
}

// TestPublishEventsAnswersAsOneByOne sends the same events (new keys,
// repeated keys in the batch and from before, a key reused with other
// data, refused events, users with and without subscribed endpoints)
// once with PublishEvent one by one and once in one PublishEvents call,
// under two sets of keys: every answer and every endpoint's deliveries
// must be the same.
func TestPublishEventsAnswersAsOneByOne(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	rcv := startReceiver(t, always(200))
	plain := hh.identity.addUser(uuid.NewString()+"@example.com", true)
	subscribed := hh.identity.addUser(uuid.NewString()+"@example.com", true)
	epID := hh.create(t, subscribed, rcv.URL, "run.succeeded").GetEndpoint().GetId()
	at := time.Now().UnixMilli()
	event := func(key, user, typ, data string) *notifyv1.PublishEventRequest {
		return &notifyv1.PublishEventRequest{IdempotencyKey: key, UserId: user, Type: typ, DataJson: []byte(data), OccurredAtUnixMs: at}
	}
	batch := func(p string) []*notifyv1.PublishEventRequest {
		return []*notifyv1.PublishEventRequest{
			event(p+"1", plain, "run.succeeded", `{"id":"a"}`),
			event(p+"2", subscribed, "run.succeeded", `{"id":"b"}`),
			event(p+"3", subscribed, "run.failed", `{"id":"c"}`),
			event(p+"1", plain, "run.succeeded", `{"id":"a"}`),      // repeated in the batch
			event(p+"2", subscribed, "run.succeeded", `{"id":"b"}`), // repeated, subscribed
			event(p+"1", plain, "run.succeeded", `{"id":"other"}`),  // reused with other data
			event(p+"before", plain, "run.failed", `{"id":"d"}`),    // published before
			event(p+"before-sub", subscribed, "run.succeeded", `{"id":"e"}`),
			event(p+"4", "not-a-user", "run.succeeded", `{}`), // refused: user
			event(p+"5", plain, "ping", `{}`),                 // refused: type
			event(p+"6", plain, "run.failed", `[1]`),          // refused: data
			event("", plain, "run.failed", `{}`),              // refused: key
			event(p+"7", plain, "run.failed", `{"id":"f"}`),
			event(p+"8", subscribed, "run.succeeded", `{"id":"g"}`), // a key first subscribed,
			event(p+"8", plain, "run.succeeded", `{"id":"g"}`),      // then reused for another user
		}
	}
	ctx := context.Background()
	run := func(p string, together bool) []answer {
		for _, k := range []string{"before", "before-sub"} {
			for _, e := range batch(p) {
				if e.GetIdempotencyKey() == p+k {
					if _, err := hh.events.PublishEvent(ctx, e); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		evs := batch(p)
		ids, created, errs := make([]string, len(evs)), make([]bool, len(evs)), make([]error, len(evs))
		if !together {
			for i, e := range evs {
				res, err := hh.events.PublishEvent(ctx, e)
				ids[i], created[i], errs[i] = res.GetEventId(), res.GetCreated(), err
			}
			return answers(ids, created, errs)
		}
		res, err := hh.events.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: evs})
		if err != nil || len(res.GetResults()) != len(evs) {
			t.Fatalf("PublishEvents = %v, %v", res, err)
		}
		for i, r := range res.GetResults() {
			ids[i], created[i] = r.GetEventId(), r.GetCreated()
			if r.GetCode() != 0 {
				errs[i] = rpcerr.New(codes.Code(r.GetCode()), r.GetReason(), r.GetMessage())
			}
		}
		return answers(ids, created, errs)
	}
	one := run("workflow:one-", false)
	deliveriesOne := len(hh.deliveries(t, subscribed, epID))
	batched := run("workflow:batch-", true)
	deliveriesBatch := len(hh.deliveries(t, subscribed, epID)) - deliveriesOne
	for i := range one {
		if one[i] != batched[i] {
			t.Errorf("event %d: one by one %+v, batched %+v", i, one[i], batched[i])
		}
	}
	if deliveriesOne != 3 || deliveriesBatch != 3 {
		t.Errorf("deliveries: one by one %d, batched %d; want 3 each (b, e and g)", deliveriesOne, deliveriesBatch)
	}
	if one[0].code != codes.OK || !one[0].created || one[3].created || one[3].sameAs != 0 || one[5].reason != rpcerr.IdempotencyKeyReused ||
		one[8].code != codes.InvalidArgument || one[6].created || one[14].reason != rpcerr.IdempotencyKeyReused {
		t.Errorf("one by one answered %+v", one)
	}
}

// TestPublishEventsBounds: no events, or more than 500, fail the call.
func TestPublishEventsBounds(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser(uuid.NewString()+"@example.com", true)
	many := make([]*notifyv1.PublishEventRequest, 501)
	for i := range many {
		many[i] = &notifyv1.PublishEventRequest{IdempotencyKey: fmt.Sprintf("workflow:%d", i), UserId: user, Type: "run.failed",
			DataJson: []byte(`{}`), OccurredAtUnixMs: 1}
	}
	for _, evs := range [][]*notifyv1.PublishEventRequest{nil, many} {
		_, err := hh.events.PublishEvents(context.Background(), &notifyv1.PublishEventsRequest{Events: evs})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%d events: %v, want InvalidArgument", len(evs), err)
		}
	}
	if _, err := hh.notify.PublishEvents(context.Background(), &notifyv1.PublishEventsRequest{Events: many[:1]}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("identity calling PublishEvents: %v, want PermissionDenied", err)
	}
}
