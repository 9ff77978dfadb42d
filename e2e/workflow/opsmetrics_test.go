package workflow_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// series returns the series of name in reg whose labels include want, or
// nil.
func series(t testing.TB, reg prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func value(m *dto.Metric) float64 {
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// TestSettlementMetrics: a run left unsettled past its deadline plus the
// settle grace (the wallet was unreachable at capture time) shows in
// workflow_runs_unsettled_past_deadline until the settler settles it,
// which counts in workflow_overdue_runs_settled_total{hold="captured"}
// (the alerts on unsettled runs and on reconciliation fixes).
func TestSettlementMetrics(t *testing.T) {
	t.Parallel()
	var px *cutProxy
	h := setup(t, func(c *app.Config) {
		px = startCutProxy(t, c.WalletAddr)
		c.WalletAddr = px.lis.Addr().String()
		c.SettleInterval = time.Hour // the test runs the settler
	})
	reg := h.app.Registry
	for _, hold := range []string{"captured", "released"} {
		if m := series(t, reg, "workflow_overdue_runs_settled_total", map[string]string{"hold": hold}); m == nil || value(m) != 0 {
			t.Fatalf("workflow_overdue_runs_settled_total{hold=%q} = %v, want 0 from the start", hold, m)
		}
	}
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		px.setCut(true)
		answerJSON(w, r)
	})
	h.createWorkflow(t, "metered", rcv.URL, wfOpts{fee: 10, timeoutMS: 200})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)
	run, err := startRun(ctx, h, "metered", `{"n":1}`, "", false)
	if err != nil || run.GetStatus() != "running" {
		t.Fatalf("run during the outage = %v, %v", run, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for value(series(t, reg, "workflow_runs_unsettled_past_deadline", nil)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("workflow_runs_unsettled_past_deadline = %v, want 1", series(t, reg, "workflow_runs_unsettled_past_deadline", nil))
		}
		time.Sleep(50 * time.Millisecond)
	}
	px.setCut(false)
	// The settler's capture fails until the client has reconnected.
	for settled := 0; settled == 0; {
		n, err := h.app.SettleOverdue(ctx)
		if err != nil || time.Now().After(deadline.Add(20*time.Second)) {
			t.Fatalf("settler pass = %d, %v", n, err)
		}
		settled += n
		time.Sleep(50 * time.Millisecond)
	}
	waitRun(t, ctx, h, run.GetId(), func(r *workflowv1.Run) bool { return r.GetStatus() == "succeeded" })
	if got := value(series(t, reg, "workflow_overdue_runs_settled_total", map[string]string{"hold": "captured"})); got != 1 {
		t.Errorf("workflow_overdue_runs_settled_total{hold=captured} = %v, want 1", got)
	}
	if got := value(series(t, reg, "workflow_runs_unsettled_past_deadline", nil)); got != 0 {
		t.Errorf("workflow_runs_unsettled_past_deadline after the settler = %v, want 0", got)
	}
	h.checkLedger(t)
}

// TestQueueAndPoolMetrics: River's queues are reported per queue and
// state, with the age of the oldest available job; an idle queue shows
// zeros, not nothing; the pool and build metrics are there.
func TestQueueAndPoolMetrics(t *testing.T) {
	t.Parallel()
	h := setup(t)
	reg := h.app.Registry
	for _, st := range []string{"available", "running", "retryable", "scheduled"} {
		if m := series(t, reg, "river_queue_jobs", map[string]string{"queue": "default", "state": st}); m == nil || value(m) != 0 {
			t.Errorf("river_queue_jobs{queue=default,state=%s} = %v, want 0", st, m)
		}
	}
	if m := series(t, reg, "river_queue_oldest_available_age_seconds", map[string]string{"queue": "default"}); m == nil || value(m) != 0 {
		t.Errorf("oldest available age of an idle queue = %v, want 0", m)
	}
	// A job waiting for a minute in a queue this process does not work.
	pool, err := pgxpool.New(context.Background(), h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, queue, state, scheduled_at)
		VALUES ('{}', 'nothing', 1, 'other', 'available', now() - interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	if got := value(series(t, reg, "river_queue_jobs", map[string]string{"queue": "other", "state": "available"})); got != 1 {
		t.Errorf("river_queue_jobs{queue=other,state=available} = %v, want 1", got)
	}
	if got := value(series(t, reg, "river_queue_oldest_available_age_seconds", map[string]string{"queue": "other"})); got < 60 || got > 600 {
		t.Errorf("oldest available age = %v, want about a minute", got)
	}
	for _, name := range []string{"db_pool_max_conns", "db_pool_acquired_conns", "db_pool_total_conns", "db_pool_empty_acquire_wait_seconds_total", "meterflow_build_info"} {
		if series(t, reg, name, nil) == nil {
			t.Errorf("the workflow service does not export %s", name)
		}
	}
}
