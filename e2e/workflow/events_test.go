package workflow_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/platform/outbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// fakeNotify is notify's PublishEvent(s) as the workflow service sees it: it
// keeps every call (notify is another service; the workflow's own storage
// is real).
type fakeNotify struct {
	notifyv1.UnimplementedNotifyServiceServer
	mu    sync.Mutex
	calls []*notifyv1.PublishEventRequest
}

func (f *fakeNotify) PublishEvent(_ context.Context, req *notifyv1.PublishEventRequest) (*notifyv1.PublishEventResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	return &notifyv1.PublishEventResponse{EventId: req.GetIdempotencyKey(), Created: true}, nil
}

// PublishEvents keeps each event of the batch as a call of its own, as
// notify answers them.
func (f *fakeNotify) PublishEvents(_ context.Context, req *notifyv1.PublishEventsRequest) (*notifyv1.PublishEventsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &notifyv1.PublishEventsResponse{}
	for _, e := range req.GetEvents() {
		f.calls = append(f.calls, e)
		out.Results = append(out.Results, &notifyv1.PublishEventResult{EventId: e.GetIdempotencyKey(), Created: true})
	}
	return out, nil
}

// of returns the calls about run id.
func (f *fakeNotify) of(id string) []*notifyv1.PublishEventRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*notifyv1.PublishEventRequest
	for _, c := range f.calls {
		if strings.Contains(string(c.GetDataJson()), `"id":"`+id+`"`) {
			out = append(out, c)
		}
	}
	return out
}

// withNotify points the workflow service's outbox at a fake notify.
func withNotify(t testing.TB, f *fakeNotify) func(*app.Config) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	notifyv1.RegisterNotifyServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return func(c *app.Config) { c.NotifyAddr = lis.Addr().String() }
}

// TestSettledRunsReachNotifyOnce: sync and async runs, succeeded and
// failed, each reach notify as one run.* event (however often the client
// repeats its request) with the workflow's key and the run as its user
// sees it once settled; a run never settled publishes nothing.
func TestSettledRunsReachNotifyOnce(t *testing.T) {
	t.Parallel()
	notify := &fakeNotify{}
	h := setup(t, withNotify(t, notify))
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", answerJSON)
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	rcv := newReceiver(t, mux.ServeHTTP)
	h.createWorkflow(t, "ok", rcv.URL+"/ok", wfOpts{fee: 10})
	h.createWorkflow(t, "broken", rcv.URL+"/500", wfOpts{fee: 10})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	for _, tc := range []struct {
		slug   string
		async  bool
		status string
		typ    string
	}{
		{"ok", false, "succeeded", "run.succeeded"},
		{"ok", true, "succeeded", "run.succeeded"},
		{"broken", false, "failed", "run.failed"},
		{"broken", true, "failed", "run.failed"},
	} {
		key := randomKey()
		var run *workflowv1.Run
		for range 3 { // the client repeats its request
			r, err := startRun(ctx, h, tc.slug, `{"who":"ada"}`, key, tc.async)
			if err != nil {
				t.Fatalf("%s (async %v): %v", tc.slug, tc.async, err)
			}
			run = r
		}
		final := waitRun(t, ctx, h, run.GetId(), func(r *workflowv1.Run) bool { return r.GetStatus() == tc.status })
		deadline := time.Now().Add(20 * time.Second)
		for len(notify.of(run.GetId())) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // room for a second event, which must not come
		got := notify.of(run.GetId())
		if len(got) != 1 {
			t.Fatalf("%s (async %v): %d events, want 1: %v", tc.slug, tc.async, len(got), got)
		}
		e := got[0]
		var data struct {
			ID, Status   string
			ChargedCents int64 `json:"charged_cents"`
			Output       json.RawMessage
		}
		if err := json.Unmarshal(e.GetDataJson(), &data); err != nil {
			t.Fatal(err)
		}
		if e.GetType() != tc.typ || e.GetUserId() != userID || !strings.HasPrefix(e.GetIdempotencyKey(), "workflow:") ||
			data.ID != final.GetId() || data.Status != tc.status || data.ChargedCents != final.GetChargedCents() ||
			e.GetOccurredAtUnixMs() != final.GetFinishedAt().AsTime().UnixMilli() {
			t.Fatalf("%s (async %v): event %v, run %v", tc.slug, tc.async, e, final)
		}
		if tc.status == "failed" && string(data.Output) != "null" {
			t.Fatalf("a failed run's event shows n8n's answer: %s", data.Output)
		}
	}
	h.checkLedger(t)
}

// TestEventJobsQueuedBeforeTheRelayStillReachNotify: an event job River
// held when the service was upgraded to the outbox relay (ADR 0021) is
// still handed to notify, by the outbox queue's worker, with its job key.
func TestEventJobsQueuedBeforeTheRelayStillReachNotify(t *testing.T) {
	t.Parallel()
	notify := &fakeNotify{}
	h := setup(t, withNotify(t, notify))
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return outbox.EnqueueEvent(ctx, client, tx, outbox.Event{UserID: uuid.NewString(), Type: "run.succeeded",
			Data: []byte(`{"id":"` + id + `","status":"succeeded"}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(notify.of(id)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := notify.of(id)
	if len(got) != 1 || !strings.HasPrefix(got[0].GetIdempotencyKey(), "workflow:") || strings.Contains(got[0].GetIdempotencyKey(), "outbox") {
		t.Fatalf("notify got %v, want the job's event once under workflow:<job id>", got)
	}
}
