package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// insertInState stores a run in st as TestTransitionsHoldTheTable does,
// with an answer and a callback token already recorded.
func insertInState(t *testing.T, pool *pgxpool.Pool, user string, st workflow.State, deadline time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := pool.Exec(context.Background(), `
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input, output, http_status,
                  request_hash, deadline_at, started_at, finished_at, callback_token_hash)
VALUES ($1, $2, 'greet', $3, $4, 10, 30000, '{"a": 1}', '{"old": 1}', 202, '\x00', $5,
        now(), CASE WHEN $3::text IN ('succeeded', 'failed') THEN now() END, '\x07')`, id, user, string(st.Status), string(st.Hold), deadline)
	if err != nil {
		t.Fatalf("insert a run in %s: %v", st, err)
	}
	return id
}

// storedColumns is every column of run id a transition may write, with
// the timestamps set by now() reduced to whether they are set.
func storedColumns(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
SELECT status, hold_state, charged_cents, input::text, output::text, http_status, error, input_bytes, output_bytes,
       callback_token_hash, deadline_at, started_at IS NULL, finished_at IS NULL, unsettled
FROM runs WHERE id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("run %s is gone", id)
	}
	v, err := rows.Values()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%v", v)
}

// eventsByRun counts the queued webhook events per run id.
func eventsByRun(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range eventJobs(t, pool) {
		var data struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatal(err)
		}
		out[data.ID]++
	}
	return out
}

// TestBatchedTransitionsMatchOneByOne applies every event to a run in
// every state twice: one by one (the queries of queries/runs.sql) and all
// in one batch (applyChangesSQL). Each pair must end alike: the same
// answer (the run, or ErrStateChanged where the table has no row), the
// same columns, and the same jobs (a held run's job, a settled run's
// event).
func TestBatchedTransitionsMatchOneByOne(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		keep func(workflow.Change) bool
	}{
		{"every change, in one transaction with its jobs and events", func(workflow.Change) bool { return true }},
		{"changes that write only their run, the UPDATE alone", func(c workflow.Change) bool {
			_, publishes := c.Publishes()
			return c.To != workflow.StateQueuedHeld && !publishes
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			batchedMatchesOneByOne(t, tc.keep)
		})
	}
}

// batchedMatchesOneByOne applies every event kept by keep from every
// state, one by one and as one batch, and compares the answers, the
// stored columns, the jobs and the events.
func batchedMatchesOneByOne(t *testing.T, keep func(workflow.Change) bool) {
	ctx := context.Background()
	store, pool, log := newBatchedStore(t)
	user := uuid.NewString()
	deadline := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	later := deadline.Add(time.Minute)
	var (
		ones, batch []uuid.UUID
		changes     []workflow.Change
	)
	for _, info := range workflow.States() {
		for _, ev := range workflow.Events() {
			c := workflow.Step(ev)
			c.HTTPStatus, c.Output, c.Error, c.Input = 201, []byte(`{"out": 1}`), "why", []byte(`{"preview": 1}`)
			c.CallbackTokenHash, c.Deadline = []byte{9}, &later
			if !keep(c) {
				continue
			}
			ones = append(ones, insertInState(t, pool, user, info.State, deadline))
			batch = append(batch, insertInState(t, pool, user, info.State, deadline))
			changes = append(changes, c)
		}
	}
	jobs := countJobs(t, pool)
	oneRuns, oneErrs := make([]workflow.Run, len(ones)), make([]error, len(ones))
	for i, id := range ones {
		oneRuns[i], oneErrs[i] = store.Apply(ctx, id, changes[i])
	}
	oneJobs := countJobs(t, pool) - jobs
	events := eventsByRun(t, pool)
	batchRuns, batchErrs := store.ApplyBatch(ctx, batch, changes)
	if size, fellBack := log.largest("apply"); size != len(batch) || fellBack != 0 {
		t.Fatalf("largest batch %d, want %d; %d fell back", size, len(batch), fellBack)
	}
	if batchJobs := countJobs(t, pool) - jobs - oneJobs; batchJobs != oneJobs {
		t.Errorf("the batch queued %d jobs, one by one %d", batchJobs, oneJobs)
	}
	batchEvents := eventsByRun(t, pool)
	for i, c := range changes {
		name := fmt.Sprintf("%s to %s", c.Event, c.To)
		switch {
		case (oneErrs[i] == nil) != (batchErrs[i] == nil):
			t.Errorf("%s: one by one %v, batched %v", name, oneErrs[i], batchErrs[i])
		case oneErrs[i] != nil && !(errors.Is(oneErrs[i], workflow.ErrStateChanged) && errors.Is(batchErrs[i], workflow.ErrStateChanged)):
			t.Errorf("%s: one by one %v, batched %v; want ErrStateChanged", name, oneErrs[i], batchErrs[i])
		case oneErrs[i] == nil && (oneRuns[i].State() != batchRuns[i].State() || batchRuns[i].ID != batch[i]):
			t.Errorf("%s: one by one answered %s, batched %s (run %s)", name, oneRuns[i].State(), batchRuns[i].State(), batchRuns[i].ID)
		}
		if one, got := storedColumns(t, pool, ones[i]), storedColumns(t, pool, batch[i]); one != got {
			t.Errorf("%s: one by one stored\n%s\nbatched\n%s", name, one, got)
		}
		if one, got := events[ones[i].String()], batchEvents[batch[i].String()]; one != got || one > 1 {
			t.Errorf("%s: %d events one by one, %d batched", name, one, got)
		}
	}
}

// TestApplyBatchFallsBack: a change the database refuses (an output that
// is not JSON) fails the batch, which is then applied one by one: the
// other changes are answered as alone, and only the bad one fails.
func TestApplyBatchFallsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool, log := newBatchedStore(t)
	user := uuid.NewString()
	deadline := time.Now().Add(time.Hour)
	ids := []uuid.UUID{
		insertInState(t, pool, user, workflow.StateRunningPending, deadline),
		insertInState(t, pool, user, workflow.StateRunningPending, deadline),
		insertInState(t, pool, user, workflow.StateCaptured, deadline),
	}
	failed, poisoned, late := workflow.Step(workflow.EventCallFailed), workflow.Step(workflow.EventAnswered), workflow.Step(workflow.EventCallFailed)
	failed.Output, poisoned.Output = []byte(`"boom"`), []byte(`{"out": `)
	runs, errs := store.ApplyBatch(ctx, ids, []workflow.Change{failed, poisoned, late})
	if errs[0] != nil || runs[0].State() != workflow.StateReleasing {
		t.Errorf("the good change: %v, run in %s", errs[0], runs[0].State())
	}
	if errs[1] == nil || errors.Is(errs[1], workflow.ErrStateChanged) {
		t.Errorf("the poisoned change: %v, want the database's error", errs[1])
	}
	if !errors.Is(errs[2], workflow.ErrStateChanged) {
		t.Errorf("the change of a settled run: %v, want ErrStateChanged", errs[2])
	}
	if _, fellBack := log.largest("apply"); fellBack != 1 {
		t.Errorf("%d batches fell back, want 1", fellBack)
	}
	if got := eventsByRun(t, pool); len(got) != 1 || got[ids[0].String()] != 1 {
		t.Errorf("events %v, want one, for run %s", got, ids[0])
	}
}

// TestConcurrentAppliesPublishOncePerRun: four actors change each of 20
// runs at once (three settle it as failed, one records its answer) while
// the batcher is busy, so their changes queue and form batches keyed by
// run. Exactly one actor wins each run, the others get ErrStateChanged,
// the run is stored as the winner's answer says, and a run that settled
// has exactly one event.
func TestConcurrentAppliesPublishOncePerRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool, log := newBatchedStore(t)
	user := uuid.NewString()
	deadline := time.Now().Add(time.Hour)

	// Stall the batcher: a change of a run locked by an open transaction
	// waits for the lock.
	stall := insertInState(t, pool, user, workflow.StateRunningPending, deadline)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM runs WHERE id = $1 FOR UPDATE`, stall); err != nil {
		t.Fatal(err)
	}
	stalled := make(chan error, 1)
	go func() { _, err := store.Apply(ctx, stall, workflow.Step(workflow.EventCallFailed)); stalled <- err }()
	waitFor(t, "the stalled change", func() bool { return lockWaits(t, pool) == 1 })

	const runs, actors = 20, 4
	ids := make([]uuid.UUID, runs)
	type answer struct {
		run workflow.Run
		err error
	}
	answers := make([][actors]answer, runs)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = insertInState(t, pool, user, workflow.StateRunningPending, deadline)
		for a := range actors {
			c := workflow.Step(workflow.EventCallFailed)
			if a == 0 {
				c = workflow.Step(workflow.EventAnswered)
			}
			c.Output = []byte(`{}`)
			wg.Go(func() { answers[i][a].run, answers[i][a].err = store.Apply(ctx, ids[i], c) })
		}
	}
	waitFor(t, "the queued changes", func() bool { _, a := store.Queued(); return a == runs*actors })
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := <-stalled; err != nil {
		t.Fatal(err)
	}

	events := eventsByRun(t, pool)
	for i, id := range ids {
		var won []workflow.Run
		for _, a := range answers[i] {
			switch {
			case a.err == nil:
				won = append(won, a.run)
			case !errors.Is(a.err, workflow.ErrStateChanged):
				t.Fatalf("run %s: %v", id, a.err)
			}
		}
		if len(won) != 1 {
			t.Errorf("run %s: %d actors won, want 1", id, len(won))
			continue
		}
		stored := readRun(t, pool, id)
		if stored.status != string(won[0].Status) || stored.hold != string(won[0].Hold) {
			t.Errorf("run %s stored %s/%s, its winner answered %s", id, stored.status, stored.hold, won[0].State())
		}
		if want := btoi(won[0].Status.Finished()); events[id.String()] != want {
			t.Errorf("run %s in %s: %d events, want %d", id, won[0].State(), events[id.String()], want)
		}
	}
	if size, fellBack := log.largest("apply"); size < runs || fellBack != 0 {
		t.Errorf("largest batch %d, want >= %d; %d fell back", size, runs, fellBack)
	}
}
