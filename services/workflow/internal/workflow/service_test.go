package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/paging"
)

func TestSyncRunIsChargedOnceOn2xx(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo", Input: []byte(`{"a": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateCaptured || r.ChargedCents != testFee || string(r.Output) != `{"ok":true}` {
		t.Fatalf("run = %s, charged %d, output %s", r.State(), r.ChargedCents, r.Output)
	}
	if b.n8n.calls() != 1 || string(b.n8n.reqs[0].Body) != `{"a":1}` || b.n8n.reqs[0].RunID != r.ID.String() {
		t.Fatalf("n8n requests = %+v", b.n8n.reqs)
	}
	b.wantMoney(t, 90, 0, testFee)
}

func TestFailedRunsCostNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp Response
	}{
		{"non-2xx", Response{HTTPStatus: 500, Output: []byte(`{"trace":"secret"}`), Error: "n8n answered 500", Class: "5xx"}},
		{"timeout", Response{Error: "timed out after 30000 ms", Class: "timeout"}},
		{"not allowed", Response{Error: "webhook address is not allowed", Class: "blocked"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBench(t, 100)
			b.n8n.resp = tc.resp
			r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo"})
			if err != nil {
				t.Fatal(err)
			}
			if r.State() != StateReleased || r.ChargedCents != 0 || r.Error != tc.resp.Error || r.HTTPStatus != tc.resp.HTTPStatus {
				t.Fatalf("run = %s, charged %d, error %q, http %d", r.State(), r.ChargedCents, r.Error, r.HTTPStatus)
			}
			if r.ForUser().Output != nil {
				t.Fatal("a user sees n8n's error answer")
			}
			b.wantMoney(t, 100, 0, 0)
		})
	}
}

func TestRefusedRunNeverCallsN8n(t *testing.T) {
	t.Parallel()
	b := newBench(t, testFee-1)
	big := `{"blob":"` + strings.Repeat("x", MaxRefusedInputBytes) + `"}`
	req := StartRequest{Workflow: "echo", Input: []byte(big), IdempotencyKey: "k1"}
	if _, err := b.svc.StartRun(context.Background(), b.user, req); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("err = %v, want ErrInsufficientFunds", err)
	}
	runs, _, err := b.svc.ListRuns(context.Background(), RunFilter{UserID: b.user})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	if r := runs[0]; r.State() != StateRefused || r.StartedAt != nil || len(r.Input) > MaxRefusedInputBytes || !strings.Contains(string(r.Input), TruncatedKey) {
		t.Fatalf("refused run = %s, started %v, input %d bytes", r.State(), r.StartedAt, len(r.Input))
	}
	// The same request again is refused again; another one under the key is not this request.
	if _, err := b.svc.StartRun(context.Background(), b.user, req); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("repeat: err = %v", err)
	}
	req.Input = []byte(`{}`)
	if _, err := b.svc.StartRun(context.Background(), b.user, req); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("other body: err = %v", err)
	}
	if b.n8n.calls() != 0 {
		t.Fatalf("n8n called %d times", b.n8n.calls())
	}
	b.wantMoney(t, testFee-1, 0, 0)
}

func TestUnknownReserveIsReleasedByTheSettler(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	b.wallet.down, b.wallet.commitDespiteDown = true, true
	_, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo"})
	if !errors.Is(err, ErrWalletUnavailable) {
		t.Fatalf("err = %v, want ErrWalletUnavailable", err)
	}
	runs, _, _ := b.svc.ListRuns(context.Background(), RunFilter{UserID: b.user})
	if len(runs) != 1 || runs[0].State() != StateReleasing {
		t.Fatalf("runs = %+v", runs)
	}
	// The release waits for the settler: the hold committed after the error.
	if b.wallet.calls["release"] != 0 || b.n8n.calls() != 0 {
		t.Fatalf("release calls %d, n8n calls %d", b.wallet.calls["release"], b.n8n.calls())
	}
	b.wantMoney(t, 90, testFee, 0)
	b.wallet.setDown(false)
	if n := b.settleAfterDeadline(t); n != 1 {
		t.Fatalf("settled %d runs, want 1", n)
	}
	if r := b.run(t, runs[0].ID); r.State() != StateReleased {
		t.Fatalf("run = %s", r.State())
	}
	b.wantMoney(t, 100, 0, 0)
}

func TestSuccessIsCapturedAfterAWalletOutage(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	b.n8n.onReq = func(Request) { b.wallet.setDown(true) }
	r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateCapturing || r.ChargedCents != 0 {
		t.Fatalf("run = %s, charged %d; want the success recorded and the capture due", r.State(), r.ChargedCents)
	}
	b.wallet.setDown(false)
	if n := b.settleAfterDeadline(t); n != 1 {
		t.Fatalf("settled %d runs, want 1", n)
	}
	if r = b.run(t, r.ID); r.State() != StateCaptured || r.ChargedCents != testFee {
		t.Fatalf("run = %s, charged %d", r.State(), r.ChargedCents)
	}
	b.wantMoney(t, 90, 0, testFee)
}

func TestExpiredHoldIsNotCharged(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	b.n8n.onReq = func(r Request) { b.wallet.expire(r.RunID) }
	r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateCaptureLost || r.ChargedCents != 0 || r.Error == "" {
		t.Fatalf("run = %s, charged %d, error %q", r.State(), r.ChargedCents, r.Error)
	}
	b.wantMoney(t, 100, 0, 0)
}

func TestAsyncRunIsQueuedThenRunOnce(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	ctx := context.Background()
	r, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo", Async: true, IdempotencyKey: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateQueuedHeld || len(b.store.jobs) != 1 || b.n8n.calls() != 0 {
		t.Fatalf("run = %s, jobs %v, n8n calls %d", r.State(), b.store.jobs, b.n8n.calls())
	}
	b.wantMoney(t, 90, testFee, 0)
	if again, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo", Async: true, IdempotencyKey: "a"}); err != nil || again.ID != r.ID {
		t.Fatalf("async repeat = %v, %v; want the queued run", again.ID, err)
	}
	// The job runs, then runs again (the queue retries at least once).
	for range 2 {
		if err := b.svc.ExecuteQueued(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r = b.run(t, r.ID); r.State() != StateCaptured || b.n8n.calls() != 1 {
		t.Fatalf("run = %s, n8n calls %d", r.State(), b.n8n.calls())
	}
	b.wantMoney(t, 90, 0, testFee)
}

func TestRetriedJobNeverResendsTheRequest(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	ctx := context.Background()
	r, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo", Async: true})
	if err != nil {
		t.Fatal(err)
	}
	// An earlier attempt marked the run running and died before n8n's answer.
	if _, err := b.store.Apply(ctx, r.ID, Step(EventStarted)); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.ExecuteQueued(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	r = b.run(t, r.ID)
	if r.State() != StateReleased || !strings.HasPrefix(r.Error, "interrupted") || b.n8n.calls() != 0 {
		t.Fatalf("run = %s, error %q, n8n calls %d", r.State(), r.Error, b.n8n.calls())
	}
	b.wantMoney(t, 100, 0, 0)
}

func TestJobRetriesWhileTheWalletIsDown(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	ctx := context.Background()
	b.n8n.resp = Response{HTTPStatus: 404, Error: "n8n answered 404", Class: "4xx"}
	r, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo", Async: true})
	if err != nil {
		t.Fatal(err)
	}
	b.n8n.onReq = func(Request) { b.wallet.setDown(true) }
	if err := b.svc.ExecuteQueued(ctx, r.ID); !errors.Is(err, ErrUnsettled) {
		t.Fatalf("first attempt: err = %v, want ErrUnsettled", err)
	}
	b.wallet.setDown(false)
	if err := b.svc.ExecuteQueued(ctx, r.ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if r = b.run(t, r.ID); r.State() != StateReleased || b.n8n.calls() != 1 {
		t.Fatalf("run = %s, n8n calls %d", r.State(), b.n8n.calls())
	}
	b.wantMoney(t, 100, 0, 0)
}

// TestSettlerFinishesEveryOpenState leaves a run in each open state, as a
// process that died would, and checks what the settler makes of it.
func TestSettlerFinishesEveryOpenState(t *testing.T) {
	t.Parallel()
	for _, info := range States() {
		if !info.Open {
			continue
		}
		t.Run(info.State.String(), func(t *testing.T) {
			t.Parallel()
			b := newBench(t, 100)
			r := Run{
				ID: uuid.New(), UserID: b.user, Workflow: "echo", Status: info.Status, Hold: info.Hold,
				FeeCents: testFee, TimeoutMS: b.wf.TimeoutMS, Input: []byte(`{}`), DeadlineAt: b.clock.Now(),
			}
			b.store.put(r)
			if err := b.wallet.Reserve(context.Background(), Hold{Key: r.HoldKey(), UserID: b.user, AmountCents: testFee}); err != nil {
				t.Fatal(err)
			}
			if n := b.settleAfterDeadline(t); n != 1 {
				t.Fatalf("settled %d runs, want 1", n)
			}
			got := b.run(t, r.ID)
			if info.Due == DueCapture {
				if got.State() != StateCaptured {
					t.Fatalf("run = %s, want captured", got.State())
				}
				b.wantMoney(t, 90, 0, testFee)
				return
			}
			if got.State() != StateReleased {
				t.Fatalf("run = %s, want released", got.State())
			}
			if info.Due == DueNothing && !strings.HasPrefix(got.Error, "interrupted") {
				t.Fatalf("error = %q", got.Error)
			}
			b.wantMoney(t, 100, 0, 0)
		})
	}
}

// TestLateAnswerAfterTheSettler: the settler failed and released a run
// whose answer then came (the process was only slow): the answer must not
// charge a fee that was freed.
func TestLateAnswerAfterTheSettler(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	b.n8n.onReq = func(Request) {
		if n := b.settleAfterDeadline(t); n != 1 {
			t.Errorf("settled %d runs, want 1", n)
		}
	}
	r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateReleased || r.ChargedCents != 0 || b.wallet.calls["capture"] != 0 {
		t.Fatalf("run = %s, charged %d, captures %d", r.State(), r.ChargedCents, b.wallet.calls["capture"])
	}
	b.wantMoney(t, 100, 0, 0)
}

func TestRepeatWhileTheFirstRequestRuns(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	ctx := context.Background()
	req := StartRequest{Workflow: "echo", Input: []byte(`{"a":1}`), IdempotencyKey: "k"}
	var during error
	b.n8n.onReq = func(Request) { _, during = b.svc.StartRun(ctx, b.user, req) }
	first, err := b.svc.StartRun(ctx, b.user, req)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(during, idempotency.ErrInProgress) {
		t.Fatalf("repeat during the call: err = %v, want ErrInProgress", during)
	}
	req.Input = []byte(`{ "a" : 1 }`) // the same request, spaced differently
	again, err := b.svc.StartRun(ctx, b.user, req)
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeat = %v, %v; want run %v", again.ID, err, first.ID)
	}
	if b.n8n.calls() != 1 {
		t.Fatalf("n8n calls = %d", b.n8n.calls())
	}
	b.wantMoney(t, 90, 0, testFee)
}

func TestMisconfiguredWorkflowFailsWithoutACall(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	ctx := context.Background()
	name := "X-Auth"
	// A header name without its value (cleared by a URL change).
	b.store.workflows["echo"] = Workflow{Slug: "echo", Name: "Echo", WebhookURL: b.wf.WebhookURL, AuthHeaderName: name,
		FeeCents: testFee, TimeoutMS: b.wf.TimeoutMS, Active: true}
	r, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateReleased || !strings.Contains(r.Error, "misconfigured") || b.n8n.calls() != 0 {
		t.Fatalf("run = %s, error %q, n8n calls %d", r.State(), r.Error, b.n8n.calls())
	}
	b.wantMoney(t, 100, 0, 0)
}

func TestListRunsHasNoCursorToAnEmptyPage(t *testing.T) {
	t.Parallel()
	b := newBench(t, 100)
	ctx := context.Background()
	var ids []uuid.UUID
	for range 2 {
		r, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		b.clock.Advance(1)
	}
	runs, next, err := b.svc.ListRuns(ctx, RunFilter{UserID: b.user, Limit: 2})
	if err != nil || len(runs) != 2 || next != "" {
		t.Fatalf("a full last page = %d runs, next %q, %v; want no next cursor", len(runs), next, err)
	}
	runs, next, err = b.svc.ListRuns(ctx, RunFilter{UserID: b.user, Limit: 1})
	if err != nil || len(runs) != 1 || runs[0].ID != ids[1] || next == "" {
		t.Fatalf("page 1 = %v, next %q, %v", runs, next, err)
	}
	after, err := paging.ParseCursor(next)
	if err != nil {
		t.Fatal(err)
	}
	runs, next, err = b.svc.ListRuns(ctx, RunFilter{UserID: b.user, Limit: 1, After: after})
	if err != nil || len(runs) != 1 || runs[0].ID != ids[0] || next != "" {
		t.Fatalf("page 2 = %v, next %q, %v; want the last run and no next cursor", runs, next, err)
	}
	if runs, _, _ = b.svc.ListRuns(ctx, RunFilter{UserID: uuid.New()}); len(runs) != 0 {
		t.Fatalf("another user's list has %d runs", len(runs))
	}
}
