package workflow_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// replica starts a second workflow process on h's database and wallet, as
// a second Kubernetes replica would run, and returns a client of it.
func (h *harness) replica(t testing.TB) workflowv1.WorkflowServiceClient {
	t.Helper()
	a, err := app.New(context.Background(), h.cfg, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatalf("workflow replica: %v", err)
	}
	return workflowv1.NewWorkflowServiceClient(dial(t, serve(t, a.Serve, a.Close), "workflow"))
}

// keyCtx is a call made with an API key of userID: the token identity
// issues for it, with the key's id, scopes and limit.
func (h *harness) keyCtx(t testing.TB, userID, keyID string, limit *int64, scopes ...string) context.Context {
	return callauth.WithUserToken(context.Background(), h.keys.KeyToken(t, userID, keyID, scopes, limit, false))
}

// TestKeySpendLimitAcrossReplicas: N runs at once, spread over two
// workflow replicas, against a key limited to k fees: exactly k succeed
// and call n8n, the rest are spend_limit_exceeded without a call, and the
// wallet is charged exactly k fees.
func TestKeySpendLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	h := setup(t)
	second := h.replica(t)
	rcv := newReceiver(t, answerJSON)
	const fee, k, n = 7, 4, 24
	h.createWorkflow(t, "metered", rcv.URL, wfOpts{fee: fee})
	userID, login := h.user(t)
	h.fund(t, userID, 100*fee) // the balance is not what stops them
	keyID := uuid.NewString()
	limit := int64(k * fee)
	ctx := h.keyCtx(t, userID, keyID, &limit, apikey.ScopeRunsWrite, apikey.ScopeRunsRead)

	var wg sync.WaitGroup
	var mu sync.Mutex
	succeeded, refused := 0, 0
	for i := range n {
		c := h.wf
		if i%2 == 1 {
			c = second
		}
		wg.Go(func() {
			res, err := c.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "metered", InputJson: fmt.Appendf(nil, `{"i":%d}`, i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && res.GetRun().GetStatus() == "succeeded" && res.GetRun().GetApiKeyId() == keyID:
				succeeded++
			case status.Code(err) == codes.FailedPrecondition && rpcerr.Reason(err) == rpcerr.SpendLimitExceeded:
				refused++
			default:
				t.Errorf("run %d: %v, %v", i, res.GetRun(), err)
			}
		})
	}
	wg.Wait()
	if succeeded != k || refused != n-k {
		t.Fatalf("succeeded %d, refused %d; want %d and %d", succeeded, refused, k, n-k)
	}
	if got := rcv.hits.Load(); got != k {
		t.Fatalf("n8n calls = %d, want %d", got, k)
	}
	if w := h.walletOf(t, login); w.GetBalanceCents() != 100*fee-k*fee || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want %d charged", w, k*fee)
	}
	if rows := h.feeRows(t, login); len(rows) != k {
		t.Fatalf("fee rows = %d, want %d", len(rows), k)
	}
	spend, err := h.wallet.GetAPIKeySpend(login, &walletv1.GetAPIKeySpendRequest{ApiKeyIds: []string{keyID}})
	if err != nil || spend.GetSpends()[0].GetSpentCents() != k*fee {
		t.Fatalf("key spend = %v, %v", spend, err)
	}
	// The dashboard's statistics are a login's: a key with runs:read is refused.
	_, err = h.wf.GetRunStats(ctx, &workflowv1.GetRunStatsRequest{})
	wantCode(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	h.checkLedger(t)

	// Every run records its key, the refused ones too, and says why.
	runs, err := h.wf.ListRuns(ctx, &workflowv1.ListRunsRequest{Limit: 100})
	if err != nil || len(runs.GetRuns()) != n {
		t.Fatalf("runs = %d, %v", len(runs.GetRuns()), err)
	}
	for _, r := range runs.GetRuns() {
		if r.GetApiKeyId() != keyID || (r.GetStatus() == "failed" && r.GetError() != "monthly spend limit of the API key exceeded") {
			t.Fatalf("run %v", r)
		}
	}
	// A run without the key is not limited by it, and records no key.
	res, err := h.wf.StartRun(login, &workflowv1.StartRunRequest{Workflow: "metered", InputJson: []byte(`{}`)})
	if err != nil || res.GetRun().GetApiKeyId() != "" || res.GetRun().GetStatus() != "succeeded" {
		t.Fatalf("run with a login = %v, %v", res.GetRun(), err)
	}
}

// TestKeyRunReplaysItsRefusal: a repeated Idempotency-Key of a run the
// key's limit refused answers spend_limit_exceeded again, not
// insufficient_funds.
func TestKeyRunReplaysItsRefusal(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "metered", rcv.URL, wfOpts{fee: 10})
	userID, _ := h.user(t)
	h.fund(t, userID, 1000)
	zero := int64(0)
	ctx := h.keyCtx(t, userID, uuid.NewString(), &zero, apikey.ScopeRunsWrite)
	for range 2 {
		_, err := h.wf.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "metered", InputJson: []byte(`{}`), IdempotencyKey: "once"})
		wantCode(t, err, codes.FailedPrecondition, rpcerr.SpendLimitExceeded)
	}
	if rcv.hits.Load() != 0 {
		t.Fatal("n8n was called")
	}
}

// TestKeyTokensOnTheWorkflowService: each user method needs its scope;
// admin methods refuse a key's token even when its user is an admin.
func TestKeyTokensOnTheWorkflowService(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "w", rcv.URL, wfOpts{})
	userID, _ := h.user(t)
	h.fund(t, userID, 1000)
	key := func(scopes ...string) context.Context { return h.keyCtx(t, userID, uuid.NewString(), nil, scopes...) }
	calls := map[string]func(context.Context) error{
		apikey.ScopeWorkflowsRead: func(ctx context.Context) error {
			_, err := h.wf.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
			return err
		},
		apikey.ScopeRunsWrite: func(ctx context.Context) error {
			_, err := h.wf.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "w", InputJson: []byte(`{}`)})
			return err
		},
		apikey.ScopeRunsRead: func(ctx context.Context) error {
			_, err := h.wf.ListRuns(ctx, &workflowv1.ListRunsRequest{})
			return err
		},
	}
	for scope, call := range calls {
		if err := call(key(scope)); err != nil {
			t.Errorf("%s with its scope: %v", scope, err)
		}
		for other := range calls {
			if other != scope {
				wantCode(t, call(key(other)), codes.PermissionDenied, rpcerr.InsufficientScope)
			}
		}
	}
	admin := callauth.WithUserToken(context.Background(), h.keys.KeyToken(t, uuid.NewString(), uuid.NewString(), apikey.Scopes(), nil, true))
	_, err := h.wf.AdminListRuns(admin, &workflowv1.AdminListRunsRequest{})
	wantCode(t, err, codes.PermissionDenied, rpcerr.Forbidden)
}
