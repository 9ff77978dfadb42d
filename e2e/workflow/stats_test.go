package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// failOnRequest answers 500 when the input has "fail": true, else like n8n's 200.
func failOnRequest(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Fail bool `json:"fail"`
	}
	_ = json.Unmarshal(body, &in)
	if in.Fail {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

type statsWant struct {
	byStatus [4]int64 // queued, running, succeeded, failed
	top      []*workflowv1.WorkflowFailures
}

func checkStats(t *testing.T, h *harness, req *workflowv1.AdminGetRunStatsRequest, want statsWant) {
	t.Helper()
	res, err := h.wf.AdminGetRunStats(h.adminCtx, req)
	if err != nil {
		t.Fatalf("stats(%v): %v", req, err)
	}
	names := [4]string{"queued", "running", "succeeded", "failed"}
	if len(res.GetByStatus()) != 4 {
		t.Fatalf("stats(%v).by_status = %v, want all 4 statuses", req, res.GetByStatus())
	}
	for i, c := range res.GetByStatus() {
		if c.GetStatus() != names[i] || c.GetCount() != want.byStatus[i] {
			t.Errorf("stats(%v).by_status[%d] = %s %d, want %s %d", req, i, c.GetStatus(), c.GetCount(), names[i], want.byStatus[i])
		}
	}
	if len(res.GetTopFailing()) != len(want.top) {
		t.Fatalf("stats(%v).top_failing = %v, want %v", req, res.GetTopFailing(), want.top)
	}
	for i, f := range res.GetTopFailing() {
		w := want.top[i]
		if f.GetWorkflow() != w.GetWorkflow() || f.GetFailed() != w.GetFailed() || f.GetTotal() != w.GetTotal() {
			t.Errorf("stats(%v).top_failing[%d] = %v, want %v", req, i, f, w)
		}
	}
}

func TestAdminGetRunStats(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, failOnRequest)
	userID, ctx := h.user(t)
	h.fund(t, userID, 1000)
	before := time.Now()

	// Failed and succeeded runs per workflow; delta never fails.
	runs := []struct {
		slug          string
		failed, okays int
	}{
		{"gamma", 1, 2},
		{"beta", 2, 0},
		{"alpha", 2, 1},
		{"delta", 0, 2},
	}
	for _, r := range runs {
		h.createWorkflow(t, r.slug, rcv.URL, wfOpts{fee: 10})
		for i := 0; i < r.failed+r.okays; i++ {
			input := `{"fail":false}`
			if i < r.failed {
				input = `{"fail":true}`
			}
			run, err := startRun(ctx, h, r.slug, input, "", false)
			if err != nil || (run.GetStatus() == "failed") != (i < r.failed) {
				t.Fatalf("run %s #%d = %v, %v", r.slug, i, run, err)
			}
		}
	}
	after := time.Now()

	top := []*workflowv1.WorkflowFailures{
		{Workflow: "alpha", Failed: 2, Total: 3},
		{Workflow: "beta", Failed: 2, Total: 2},
		{Workflow: "gamma", Failed: 1, Total: 3},
	}
	all := statsWant{byStatus: [4]int64{0, 0, 5, 5}, top: top}
	checkStats(t, h, &workflowv1.AdminGetRunStatsRequest{}, all)
	checkStats(t, h, &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(before.Add(-time.Second))}, all)
	checkStats(t, h, &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(time.Now().Add(-365 * 24 * time.Hour)), TopFailing: 50}, all)
	checkStats(t, h, &workflowv1.AdminGetRunStatsRequest{TopFailing: 2}, statsWant{byStatus: all.byStatus, top: top[:2]})
	// Runs created before the window do not count; every status is still listed.
	checkStats(t, h, &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(after)}, statsWant{})

	// The charts' series: every hour from since's to now's, the busiest
	// workflows by runs then slug, and the user's own days.
	since := before.UTC().Truncate(time.Hour).Add(-time.Hour)
	res, err := h.wf.AdminGetRunStats(h.adminCtx, &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(since), ByHour: true, Busiest: 3})
	if err != nil {
		t.Fatal(err)
	}
	var hourly workflowv1.RunCounts
	for i, hr := range res.GetByHour() {
		if !hr.GetHour().AsTime().Equal(since.Add(time.Duration(i) * time.Hour)) {
			t.Errorf("hour %d starts %v", i, hr.GetHour().AsTime())
		}
		hourly.Succeeded += hr.GetRuns().GetSucceeded()
		hourly.Failed += hr.GetRuns().GetFailed()
	}
	if n := len(res.GetByHour()); n < 2 || !res.GetByHour()[n-1].GetHour().AsTime().Equal(time.Now().UTC().Truncate(time.Hour)) || hourly.Succeeded != 5 || hourly.Failed != 5 {
		t.Errorf("by hour: %d hours, %d succeeded, %d failed", n, hourly.Succeeded, hourly.Failed)
	}
	var busiest []string
	for _, w := range res.GetBusiest() {
		busiest = append(busiest, fmt.Sprintf("%s %d", w.GetWorkflow(), w.GetTotal()))
	}
	if got := strings.Join(busiest, ", "); got != "alpha 3, gamma 3, beta 2" {
		t.Errorf("busiest = %s", got)
	}
	for _, c := range []struct {
		ctx               context.Context
		succeeded, failed int64
	}{{ctx, 5, 5}, {otherUser(h, t), 0, 0}} {
		mine, err := h.wf.GetRunStats(c.ctx, &workflowv1.GetRunStatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		last := mine.GetByDay()[len(mine.GetByDay())-1]
		if len(mine.GetByDay()) != 30 || last.GetDate() != time.Now().UTC().Format(time.DateOnly) ||
			last.GetRuns().GetSucceeded() != c.succeeded || mine.GetTotal().GetFailed() != c.failed {
			t.Errorf("own runs: %d days, today %v, total %v; want %d succeeded and %d failed", len(mine.GetByDay()), last, mine.GetTotal(), c.succeeded, c.failed)
		}
	}

	// Failed runs cost nothing: only the five successes were charged.
	h.checkLedger(t)
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 1000-5*10 {
		t.Fatalf("wallet = %v, want only the succeeded runs charged", w)
	}
}

func TestAdminGetRunStatsErrors(t *testing.T) {
	t.Parallel()
	h := setup(t)
	now := time.Now()
	tests := []struct {
		name  string
		req   *workflowv1.AdminGetRunStatsRequest
		field string
	}{
		{"since in the future", &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(now.Add(time.Hour))}, "since"},
		{"since over 366 days ago", &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(now.Add(-367 * 24 * time.Hour))}, "since"},
		{"since at year 1", &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(time.Time{})}, "since"},
		{"since not a timestamp", &workflowv1.AdminGetRunStatsRequest{Since: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}, "since"},
		{"negative top_failing", &workflowv1.AdminGetRunStatsRequest{TopFailing: -1}, "top_failing"},
		{"top_failing over 50", &workflowv1.AdminGetRunStatsRequest{TopFailing: 51}, "top_failing"},
		{"negative busiest", &workflowv1.AdminGetRunStatsRequest{Busiest: -1}, "busiest"},
		{"busiest over 50", &workflowv1.AdminGetRunStatsRequest{Busiest: 51}, "busiest"},
	}
	for _, tt := range tests {
		_, err := h.wf.AdminGetRunStats(h.adminCtx, tt.req)
		wantCode(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
		if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != tt.field {
			t.Errorf("%s: fields = %v, want %s", tt.name, f, tt.field)
		}
	}

	// Only admins may read the statistics.
	_, uctx := h.user(t)
	_, err := h.wf.AdminGetRunStats(uctx, &workflowv1.AdminGetRunStatsRequest{})
	wantCode(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	// A user's own series is 1 to 366 days long.
	for _, days := range []int32{-1, 367} {
		_, err := h.wf.GetRunStats(uctx, &workflowv1.GetRunStatsRequest{Days: days})
		wantCode(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
		if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != "days" {
			t.Errorf("days %d: fields = %v", days, f)
		}
	}
}

// otherUser is a context of a user without runs.
func otherUser(h *harness, t *testing.T) context.Context {
	_, ctx := h.user(t)
	return ctx
}
