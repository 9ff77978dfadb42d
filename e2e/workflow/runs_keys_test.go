package workflow_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		answerJSON(w, r)
	})
	h.createWorkflow(t, "idem", rcv.URL, wfOpts{fee: 10})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	first, err := startRun(ctx, h, "idem", `{"a":1,"b":2}`, "key-1", false)
	if err != nil || first.GetStatus() != "succeeded" {
		t.Fatalf("first = %v, %v", first, err)
	}
	again, err := startRun(ctx, h, "idem", `{ "b":2, "a":1 }`, "key-1", false)
	if err != nil || again.GetId() != first.GetId() || again.GetStatus() != "succeeded" {
		t.Fatalf("replay = %v, %v; want run %s", again, err, first.GetId())
	}
	_, err = startRun(ctx, h, "idem", `{"a":2}`, "key-1", false)
	wantCode(t, err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused)

	// Another user may use the same key for their own run.
	otherID, otherCtx := h.user(t)
	h.fund(t, otherID, 10)
	if other, err := startRun(otherCtx, h, "idem", `{"a":1,"b":2}`, "key-1", false); err != nil || other.GetId() == first.GetId() {
		t.Fatalf("other user's run = %v, %v", other, err)
	}

	// Concurrent duplicates: one run, one call, one charge; the others get
	// the same run or request_in_progress.
	const n = 6
	var wg sync.WaitGroup
	ids := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			run, err := startRun(ctx, h, "idem", `{"c":3}`, "key-2", false)
			if err != nil {
				errs <- err
				return
			}
			ids <- run.GetId()
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	for err := range errs {
		if status.Code(err) != codes.Aborted || rpcerr.Reason(err) != rpcerr.RequestInProgress {
			t.Fatalf("concurrent duplicate: %v", err)
		}
	}
	if len(seen) != 1 {
		t.Fatalf("concurrent duplicates made %d runs", len(seen))
	}
	if got := rcv.hits.Load(); got != 3 {
		t.Fatalf("receiver calls = %d, want 3 (key-1 once, other user once, key-2 once)", got)
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 80 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want 80 (two charges)", w)
	}
	h.checkLedger(t)
}

func TestAsyncRun(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "later", rcv.URL, wfOpts{fee: 10})
	userID, ctx := h.user(t)
	h.fund(t, userID, 15)

	run, err := startRun(ctx, h, "later", `{"x":1}`, "async-1", true)
	if err != nil || run.GetStatus() != "queued" || run.GetChargedCents() != 0 {
		t.Fatalf("async start = %v, %v", run, err)
	}
	again, err := startRun(ctx, h, "later", `{"x":1}`, "async-1", true)
	if err != nil || again.GetId() != run.GetId() {
		t.Fatalf("async replay = %v, %v", again, err)
	}
	done := waitRun(t, ctx, h, run.GetId(), func(r *workflowv1.Run) bool { return r.GetStatus() == "succeeded" })
	if done.GetChargedCents() != 10 || !jsonEqual(done.GetOutputJson(), `{"echo":{"x":1}}`) {
		t.Fatalf("finished async run = %v", done)
	}
	if rcv.hits.Load() != 1 {
		t.Fatalf("receiver calls = %d, want 1", rcv.hits.Load())
	}
	// The fee is reserved before the answer: 402 stays synchronous.
	_, err = startRun(ctx, h, "later", `{"x":2}`, "", true)
	wantCode(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 5 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v", w)
	}
	h.checkLedger(t)
}

func TestConcurrentRunsNeverOverspend(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "busy", rcv.URL, wfOpts{fee: 7})
	userID, ctx := h.user(t)
	const n = 6
	h.fund(t, userID, n*7)

	var wg sync.WaitGroup
	var mu sync.Mutex
	succeeded, refused := 0, 0
	for i := range 3 * n {
		wg.Go(func() {
			run, err := startRun(ctx, h, "busy", fmt.Sprintf(`{"i":%d}`, i), "", false)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && run.GetStatus() == "succeeded":
				succeeded++
			case rpcerr.Reason(err) == rpcerr.InsufficientFunds:
				refused++
			default:
				t.Errorf("run %d: %v, %v", i, run, err)
			}
		})
	}
	wg.Wait()
	if succeeded != n || refused != 2*n {
		t.Fatalf("succeeded %d, refused %d; want %d and %d", succeeded, refused, n, 2*n)
	}
	if got := rcv.hits.Load(); got != n {
		t.Fatalf("receiver calls = %d, want %d", got, n)
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 0 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want 0", w)
	}
	if rows := h.feeRows(t, ctx); len(rows) != n {
		t.Fatalf("fee rows = %d, want %d", len(rows), n)
	}
	h.checkLedger(t)
}
