package postgres_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// TestCallbackColumns: a callback-mode run keeps its mode, token hash and
// window; the running mark of an async run sets its hash and deadline; an
// acknowledgement records the answer's status, which a verdict (status 0)
// keeps while it moves the deadline; and only runs waiting for a verdict
// are listed as such.
func TestCallbackColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := newStore(t)
	user := uuid.New()
	created := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	newRun := func(async bool, mode workflow.Completion) workflow.Run {
		st := workflow.StateRunningPending
		if async {
			st = workflow.StateQueuedPending
		}
		var hash []byte
		if !async && mode == workflow.CompletionCallback {
			hash = []byte{7, 7}
		}
		r, ok, err := store.CreateRun(ctx, workflow.Run{
			ID: uuid.Must(uuid.NewV7()), UserID: user, Workflow: "greet", Status: st.Status, Hold: st.Hold, Async: async,
			FeeCents: 10, TimeoutMS: 30000, Input: []byte(`{}`), RequestHash: []byte{1}, DeadlineAt: created,
			Completion: mode, CallbackTimeoutMS: 60000, CallbackTokenHash: hash,
		})
		if err != nil || !ok {
			t.Fatalf("create: %v %v", ok, err)
		}
		return r
	}
	apply := func(id uuid.UUID, c workflow.Change) workflow.Run {
		t.Helper()
		r, err := store.Apply(ctx, id, c)
		if err != nil {
			t.Fatalf("apply %s: %v", c.Event, err)
		}
		return r
	}

	sync := newRun(false, workflow.CompletionCallback)
	if sync.Completion != workflow.CompletionCallback || sync.CallbackTimeoutMS != 60000 || !bytes.Equal(sync.CallbackTokenHash, []byte{7, 7}) {
		t.Fatalf("sync run %+v", sync)
	}
	plain := newRun(false, workflow.CompletionResponse)
	if plain.Completion != workflow.CompletionResponse || plain.CallbackTimeoutMS != 0 || plain.CallbackTokenHash != nil {
		t.Fatalf("response-mode run %+v", plain)
	}

	async := newRun(true, workflow.CompletionCallback)
	apply(async.ID, workflow.Step(workflow.EventQueued))
	start := workflow.Step(workflow.EventStarted)
	deadline := created.Add(-30 * time.Minute)
	start.CallbackTokenHash, start.Deadline = []byte{9}, &deadline
	if r := apply(async.ID, start); !bytes.Equal(r.CallbackTokenHash, []byte{9}) || !r.DeadlineAt.Equal(deadline) {
		t.Fatalf("started: hash %x, deadline %s", r.CallbackTokenHash, r.DeadlineAt)
	}
	ack := workflow.Step(workflow.EventAcknowledged)
	ack.HTTPStatus = 202
	if r := apply(async.ID, ack); r.State() != workflow.StateAwaiting || r.HTTPStatus != 202 || r.Output != nil {
		t.Fatalf("acknowledged: %s, http %d, output %s", r.State(), r.HTTPStatus, r.Output)
	}

	// Both callback runs wait; the response-mode one is not listed.
	list, err := store.ListRuns(ctx, workflow.RunFilter{AwaitingCallback: true, Limit: 10})
	if err != nil || len(list) != 2 || list[0].ID != async.ID || list[1].ID != sync.ID || !list[0].AwaitingCallback() {
		t.Fatalf("awaiting list: %v, %d runs", err, len(list))
	}

	verdict := workflow.Step(workflow.EventVerdictSucceeded)
	now := time.Now().Truncate(time.Microsecond)
	verdict.Output, verdict.Deadline = []byte(`{"done":true}`), &now
	if r := apply(async.ID, verdict); r.HTTPStatus != 202 || string(r.Output) != `{"done": true}` || !r.DeadlineAt.Equal(now) {
		t.Fatalf("verdict: http %d, output %s, deadline %s", r.HTTPStatus, r.Output, r.DeadlineAt)
	}
	list, err = store.ListRuns(ctx, workflow.RunFilter{AwaitingCallback: true, Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != sync.ID {
		t.Fatalf("awaiting list after the verdict: %v, %d runs", err, len(list))
	}
}
