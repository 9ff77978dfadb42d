package workflow_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// bigInput is a JSON object of exactly n bytes.
func bigInput(n int) string {
	const head, tail = `{"text":"`, `"}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

type truncatedValue struct {
	Truncated *struct {
		Preview    string `json:"preview"`
		TotalBytes *int64 `json:"total_bytes"`
	} `json:"$truncated"`
}

func TestRunInputLimit(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	h.createWorkflow(t, "limit", rcv.URL, wfOpts{fee: 1})
	userID, ctx := h.user(t)
	h.fund(t, userID, 10)

	_, err := startRun(ctx, h, "limit", bigInput(app.MaxInputBytes+1), "", false)
	if rpcerr.Reason(err) != rpcerr.ValidationFailed || len(rpcerr.Fields(err)) != 1 || rpcerr.Fields(err)[0].Field != "input" {
		t.Fatalf("an input of 256 KiB + 1 byte: err = %v, want validation_failed on input", err)
	}
	if rcv.hits.Load() != 0 {
		t.Fatal("n8n was called for a refused input")
	}
	run, err := startRun(ctx, h, "limit", bigInput(app.MaxInputBytes), "", false)
	if err != nil || run.GetStatus() != "succeeded" || len(run.GetInputJson()) < app.MaxInputBytes {
		t.Fatalf("an input of 256 KiB: run %s, err %v", run.GetStatus(), err)
	}
}

// TestBigRunsDoNotBreakListings: runs refused for funds cost nothing and
// keep only a preview of their input, and lists leave large inputs and
// outputs out, so no number of big runs pushes a page of runs past the
// gRPC message cap (before, five refused runs of 1 MiB each made the admin
// listings, the user's admin page and the exports fail).
func TestBigRunsDoNotBreakListings(t *testing.T) {
	t.Parallel()
	h := setup(t)
	bigOutput := `{"echo":"` + strings.Repeat("o", 1<<20-20) + `"}`
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, bigOutput)
	})
	h.createWorkflow(t, "big", rcv.URL, wfOpts{fee: 1})
	input := bigInput(app.MaxInputBytes)

	broke, brokeCtx := h.user(t)
	const refused = 20
	for range refused {
		_, err := startRun(brokeCtx, h, "big", input, "", false)
		wantCode(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)
	}
	rich, richCtx := h.user(t)
	h.fund(t, rich, 100)
	var succeeded []string
	for range 3 {
		run, err := startRun(richCtx, h, "big", input, "", false)
		if err != nil || run.GetStatus() != "succeeded" {
			t.Fatalf("run: %v, %v", run.GetStatus(), err)
		}
		succeeded = append(succeeded, run.GetId())
	}

	// Every listing answers, whatever the runs hold.
	all, err := h.wf.AdminListRuns(h.adminCtx, &workflowv1.AdminListRunsRequest{Limit: 200})
	if err != nil {
		t.Fatalf("AdminListRuns: %v", err)
	}
	brokeList, err := h.wf.AdminListRuns(h.adminCtx, &workflowv1.AdminListRunsRequest{UserId: broke, Limit: 200})
	if err != nil {
		t.Fatalf("AdminListRuns of one user: %v", err)
	}
	own, err := h.wf.ListRuns(richCtx, &workflowv1.ListRunsRequest{Limit: 200})
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	if len(all.GetRuns()) != refused+3 || len(brokeList.GetRuns()) != refused || len(own.GetRuns()) != 3 {
		t.Fatalf("%d, %d and %d runs listed", len(all.GetRuns()), len(brokeList.GetRuns()), len(own.GetRuns()))
	}
	for _, r := range all.GetRuns() {
		if len(r.GetInputJson()) > app.MaxListValueBytes || len(r.GetOutputJson()) > app.MaxListValueBytes {
			t.Fatalf("run %s (%s) listed with %d bytes of input and %d of output", r.GetId(), r.GetStatus(), len(r.GetInputJson()), len(r.GetOutputJson()))
		}
		if r.GetStatus() == "succeeded" && (r.GetInputJson() != nil || r.GetOutputJson() != nil) {
			t.Fatalf("a large input or output was listed: %.60s / %.60s", r.GetInputJson(), r.GetOutputJson())
		}
	}

	// A refused run keeps a preview of at most 4 KiB, shown in lists too.
	refusedRun := brokeList.GetRuns()[0]
	var preview truncatedValue
	if err := json.Unmarshal(refusedRun.GetInputJson(), &preview); err != nil || preview.Truncated == nil ||
		!strings.HasPrefix(preview.Truncated.Preview, `{"text": "aaaa`) || preview.Truncated.TotalBytes == nil ||
		*preview.Truncated.TotalBytes < app.MaxInputBytes {
		t.Fatalf("refused run's input = %.200s (%v)", refusedRun.GetInputJson(), err)
	}
	if refusedRun.GetStatus() != "failed" || refusedRun.GetError() != "insufficient funds" || refusedRun.GetChargedCents() != 0 {
		t.Fatalf("refused run = %s %q charged %d", refusedRun.GetStatus(), refusedRun.GetError(), refusedRun.GetChargedCents())
	}

	// GetRun always has the whole values.
	got, err := h.wf.GetRun(richCtx, &workflowv1.GetRunRequest{Id: succeeded[0]})
	if err != nil || !jsonEqual(got.GetRun().GetInputJson(), input) || !jsonEqual(got.GetRun().GetOutputJson(), bigOutput) {
		t.Fatalf("GetRun: %d bytes of input, %d of output, err %v", len(got.GetRun().GetInputJson()), len(got.GetRun().GetOutputJson()), err)
	}
	if size := len(all.GetRuns()) * (2*app.MaxListValueBytes + 1024); size > grpcservice.MaxMessageBytes {
		t.Fatalf("a full page could reach %d bytes", size)
	}
	h.checkLedger(t)
}

// TestOversizedAnswerIsChargedAndTruncated: a 2xx answer over the 1 MiB
// cap means n8n did the work; the run succeeds, is charged and keeps the
// start of the answer, marked as truncated.
func TestOversizedAnswerIsChargedAndTruncated(t *testing.T) {
	t.Parallel()
	h := setup(t)
	const size = 3 << 20
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.WriteString(w, `"`+strings.Repeat("x", size-2)+`"`)
	})
	h.createWorkflow(t, "huge", rcv.URL, wfOpts{fee: 10})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	run, err := startRun(ctx, h, "huge", `{}`, "", false)
	if err != nil || run.GetStatus() != "succeeded" || run.GetChargedCents() != 10 || run.GetHttpStatus() != 200 || run.GetError() != "" {
		t.Fatalf("run = %s charged %d status %d error %q, err %v", run.GetStatus(), run.GetChargedCents(), run.GetHttpStatus(), run.GetError(), err)
	}
	var out truncatedValue
	if err := json.Unmarshal(run.GetOutputJson(), &out); err != nil || out.Truncated == nil || out.Truncated.TotalBytes == nil ||
		*out.Truncated.TotalBytes != size || !strings.HasPrefix(out.Truncated.Preview, `"xxxx`) || len(run.GetOutputJson()) > 1<<20 {
		t.Fatalf("output = %.120s… (%d bytes, %v)", run.GetOutputJson(), len(run.GetOutputJson()), err)
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 90 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want 90 and nothing held", w)
	}
	if rows := h.feeRows(t, ctx); len(rows) != 1 || rows[0].GetAmountCents() != -10 {
		t.Fatalf("fee rows = %v, want one of -10", rows)
	}
	h.checkLedger(t)
}
