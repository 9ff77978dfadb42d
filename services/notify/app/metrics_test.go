package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

// TestMetrics: sent, failed and dropped emails and SMTP failures count
// by template; the queue's size and age, River's queue, the pool and the
// build are exported.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := setup(t)
	reg := h.app.Registry
	for _, st := range []string{"sent", "failed", "dropped"} {
		if m := series(t, reg, "notify_emails_total", map[string]string{"template": "low_balance", "status": st}); m == nil || value(m) != 0 {
			t.Fatalf("notify_emails_total{template=low_balance,status=%s} = %v, want 0 from the start", st, m)
		}
	}
	h.smtp.Refuse(1, 451, true)
	h.smtp.Refuse(1, 550, true)
	sent := h.send(t, toAddress("identity:1", "ops@example.com"))
	h.waitEmail(t, sent.GetEmailId(), final)
	failed := h.send(t, toAddress("identity:2", "ops@example.com"))
	h.waitEmail(t, failed.GetEmailId(), final)
	dropped := h.send(t, verifyEmail("identity:3", "0196b3c0-0000-7000-8000-00000000dead", "t"))
	h.waitEmail(t, dropped.GetEmailId(), final)

	for labels, want := range map[[3]string]float64{
		{"notify_emails_total", "password_changed", "sent"}:   1,
		{"notify_emails_total", "password_changed", "failed"}: 1,
		{"notify_emails_total", "verify_email", "dropped"}:    1,
	} {
		m := series(t, reg, labels[0], map[string]string{"template": labels[1], "status": labels[2]})
		if m == nil || value(m) != want {
			t.Errorf("%s{template=%s,status=%s} = %v, want %v", labels[0], labels[1], labels[2], m, want)
		}
	}
	for kind, want := range map[string]float64{"temporary": 1, "permanent": 1} {
		if m := series(t, reg, "notify_smtp_failures_total", map[string]string{"template": "password_changed", "kind": kind}); m == nil || value(m) != want {
			t.Errorf("notify_smtp_failures_total{kind=%s} = %v, want %v", kind, m, want)
		}
	}
	h.waitPeriodicJobs(t)
	for name, labels := range map[string]map[string]string{
		"notify_emails_queued":                     nil,
		"notify_email_oldest_queued_age_seconds":   nil,
		"email_outbox_oldest_due_age_seconds":      nil,
		"river_queue_jobs":                         {"queue": "email", "state": "available"},
		"river_queue_oldest_available_age_seconds": {"queue": "email"},
	} {
		if m := series(t, reg, name, labels); m == nil || value(m) != 0 {
			t.Errorf("%s%v = %v, want 0 with nothing queued", name, labels, m)
		}
	}
	for _, name := range []string{"db_pool_max_conns", "meterflow_build_info", "grpc_server_handled_total"} {
		if series(t, reg, name, nil) == nil {
			t.Errorf("%s is not exported", name)
		}
	}
}

// waitPeriodicJobs waits until the periodic jobs that run at start
// (pruning, failing abandoned emails) have run: they share the send queue,
// and River inserts them once this process leads, which under load can
// be after the emails of a test are final.
func (h *harness) waitPeriodicJobs(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var done, open int
		if err := h.pool.QueryRow(context.Background(), `SELECT
			count(DISTINCT kind) FILTER (WHERE state = 'completed' AND kind IN ('notify_prune_emails', 'notify_fail_abandoned_emails')),
			count(*) FILTER (WHERE state NOT IN ('completed', 'cancelled', 'discarded'))
			FROM river_job WHERE queue = 'email'`).Scan(&done, &open); err != nil {
			t.Fatal(err)
		}
		if done == 2 && open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("periodic jobs: %d of 2 ran, %d jobs open after 30 s", done, open)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
