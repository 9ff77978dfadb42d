package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// eventJobs returns the events in the outbox table, oldest first; no
// River event job is ever inserted any more.
func eventJobs(t *testing.T, pool *pgxpool.Pool) []outbox.Event {
	t.Helper()
	var jobs int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = $1`, outbox.Event{}.Kind()).Scan(&jobs); err != nil || jobs != 0 {
		t.Fatalf("%d River event jobs (%v), want none: events are outbox rows", jobs, err)
	}
	rows, err := pool.Query(context.Background(), `SELECT user_id, type, data, occurred_at, trace FROM outbox_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outbox.Event
	for rows.Next() {
		var e outbox.Event
		if err := rows.Scan(&e.UserID, &e.Type, &e.Data, &e.OccurredAt, &e.Trace); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// insertRun records a run in the state a sync (running/pending) or async
// (queued/pending) run starts in.
func insertRun(t *testing.T, store *postgres.Store, user uuid.UUID, async bool, completion workflow.Completion) workflow.Run {
	t.Helper()
	st := workflow.StateRunningPending
	if async {
		st = workflow.StateQueuedPending
	}
	r, created, err := store.CreateRun(context.Background(), workflow.Run{
		ID: uuid.New(), UserID: user, Workflow: "greet", Status: st.Status, Hold: st.Hold, Async: async, FeeCents: 10,
		TimeoutMS: 30000, Input: []byte(`{"name": "Ada <&>"}`), RequestHash: []byte{0}, DeadlineAt: time.Now().Add(5 * time.Minute),
		Completion: completion, CallbackTimeoutMS: 60000,
	})
	if err != nil || !created {
		t.Fatalf("create run: %v (created %v)", err, created)
	}
	return r
}

// TestSettlingARunPublishesOneEvent walks a run down each path to its
// final status (sync, async and callback-mode runs, the settler) and
// checks that exactly one event job was queued, of the right type, for
// the run's user, with data equal to the run as GET /v1/runs/{id} shows
// it once everything is settled, and none before the status was final.
func TestSettlingARunPublishesOneEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	for _, tc := range []struct {
		name       string
		async      bool
		completion workflow.Completion
		events     []workflow.Event
		want       string
	}{
		{"sync 2xx", false, workflow.CompletionResponse, []workflow.Event{workflow.EventAnswered, workflow.EventCaptured}, workflow.WebhookRunSucceeded},
		{"sync capture lost", false, workflow.CompletionResponse, []workflow.Event{workflow.EventAnswered, workflow.EventCaptureLost}, workflow.WebhookRunSucceeded},
		{"sync 500", false, workflow.CompletionResponse, []workflow.Event{workflow.EventCallFailed, workflow.EventReleased}, workflow.WebhookRunFailed},
		{"sync refused", false, workflow.CompletionResponse, []workflow.Event{workflow.EventReserveRefused}, workflow.WebhookRunFailed},
		{"async 2xx", true, workflow.CompletionResponse, []workflow.Event{workflow.EventQueued, workflow.EventStarted, workflow.EventAnswered, workflow.EventCaptured}, workflow.WebhookRunSucceeded},
		{"async retried job", true, workflow.CompletionResponse, []workflow.Event{workflow.EventQueued, workflow.EventStarted, workflow.EventJobRetried, workflow.EventReleased}, workflow.WebhookRunFailed},
		{"callback verdict ok", true, workflow.CompletionCallback, []workflow.Event{workflow.EventQueued, workflow.EventStarted, workflow.EventAcknowledged, workflow.EventVerdictSucceeded, workflow.EventCaptured}, workflow.WebhookRunSucceeded},
		{"callback verdict failed", false, workflow.CompletionCallback, []workflow.Event{workflow.EventAcknowledged, workflow.EventVerdictFailed, workflow.EventReleased}, workflow.WebhookRunFailed},
		{"callback timeout", false, workflow.CompletionCallback, []workflow.Event{workflow.EventAcknowledged, workflow.EventDeadline, workflow.EventReleased}, workflow.WebhookRunFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := uuid.New()
			r := insertRun(t, store, user, tc.async, tc.completion)
			before := len(eventJobs(t, pool))
			for _, ev := range tc.events {
				c := workflow.Step(ev)
				c.HTTPStatus, c.Output, c.Error, c.Input = 200, []byte(`{"out": "<b>"}`), "why", []byte(`{"preview": 1}`)
				if ev == workflow.EventCallFailed {
					c.HTTPStatus, c.Output, c.Error = 500, []byte(`"n8n's stack trace"`), "n8n answered 500"
				}
				if _, err := store.Apply(ctx, r.ID, c); err != nil {
					t.Fatalf("%s: %v", ev, err)
				}
				// A repeat of the same outcome (a second actor, a retry)
				// changes nothing and publishes nothing.
				if _, err := store.Apply(ctx, r.ID, c); !errors.Is(err, workflow.ErrStateChanged) {
					t.Fatalf("repeated %s: %v, want ErrStateChanged", ev, err)
				}
			}
			got := eventJobs(t, pool)[before:]
			if len(got) != 1 {
				t.Fatalf("%d event jobs, want 1: %+v", len(got), got)
			}
			final, err := store.GetRun(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := final.PublicJSON()
			if err != nil {
				t.Fatal(err)
			}
			e := got[0]
			if e.Type != tc.want || e.UserID != user.String() || string(e.Data) != string(want) ||
				final.FinishedAt == nil || !e.OccurredAt.Equal(*final.FinishedAt) {
				t.Fatalf("event %s for %s at %v: %s\nwant %s for %s at %v: %s", e.Type, e.UserID, e.OccurredAt, e.Data,
					tc.want, user, final.FinishedAt, want)
			}
		})
	}
}

// TestASettlementThatRollsBackPublishesNothing: when the event cannot be
// queued, the settlement rolls back with it (the run keeps its state and
// no job exists); two actors settling the same run at once publish once.
func TestASettlementThatRollsBackPublishesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	r := insertRun(t, store, uuid.New(), false, workflow.CompletionResponse)
	if _, err := pool.Exec(ctx, `
CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no events today'; END $$;
CREATE TRIGGER refuse_events BEFORE INSERT ON outbox_events FOR EACH ROW EXECUTE FUNCTION refuse_events();`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Apply(ctx, r.ID, workflow.Step(workflow.EventCallFailed)); err == nil {
		t.Fatal("the settlement committed without its event")
	}
	if got := readRun(t, pool, r.ID); got.status != "running" || got.hold != "pending" || got.finished != nil || len(eventJobs(t, pool)) != 0 {
		t.Fatalf("after the rolled-back settlement: run %+v, %d event jobs; want running/pending and none", got, len(eventJobs(t, pool)))
	}
	if _, err := pool.Exec(ctx, `DROP TRIGGER refuse_events ON outbox_events`); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = store.Apply(ctx, r.ID, workflow.Step(workflow.EventCallFailed)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, workflow.ErrStateChanged):
			t.Fatal(err)
		}
	}
	if n := len(eventJobs(t, pool)); won != 1 || n != 1 {
		t.Fatalf("%d actors settled the run and %d events were queued, want 1 and 1", won, n)
	}
}
