package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// RunStats implements workflow.Store. Every aggregate runs in one
// read-only repeatable-read transaction, so the totals of the failing and
// the busiest workflows and the hourly series agree with the counts by
// status.
func (s *Store) RunStats(ctx context.Context, q workflow.StatsQuery) (workflow.RunStats, error) {
	var out workflow.RunStats
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return out, fmt.Errorf("begin: %w", err)
	}
	// Read-only: nothing to commit, the rollback only ends the snapshot.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	counts, err := s.q.CountRunsByStatus(ctx, tx, q.Since)
	if err != nil {
		return out, fmt.Errorf("count runs by status: %w", err)
	}
	failing, err := s.q.TopFailingWorkflows(ctx, tx, db.TopFailingWorkflowsParams{Since: q.Since, MaxRows: int32(q.TopFailing)})
	if err != nil {
		return out, fmt.Errorf("top failing workflows: %w", err)
	}
	out.ByStatus = make([]workflow.StatusCount, len(counts))
	for i, c := range counts {
		out.ByStatus[i] = workflow.StatusCount{Status: workflow.Status(c.Status), Count: c.Runs}
	}
	out.TopFailing = make([]workflow.WorkflowFailures, len(failing))
	for i, f := range failing {
		out.TopFailing[i] = workflow.WorkflowFailures{Workflow: f.WorkflowSlug, Failed: f.Failed, Total: f.Total}
	}
	if !q.FirstHour.IsZero() {
		hours, err := s.q.RunsByHour(ctx, tx, db.RunsByHourParams{Since: q.Since, First: q.FirstHour, Last: q.LastHour})
		if err != nil {
			return out, fmt.Errorf("runs by hour: %w", err)
		}
		out.ByHour = make([]workflow.HourCounts, len(hours))
		for i, h := range hours {
			out.ByHour[i] = workflow.HourCounts{Hour: h.Hour.UTC(), Runs: workflow.Counts{Queued: h.Queued, Running: h.Running, Succeeded: h.Succeeded, Failed: h.Failed}}
		}
	}
	if q.Busiest > 0 {
		busy, err := s.q.BusiestWorkflows(ctx, tx, db.BusiestWorkflowsParams{Since: q.Since, MaxRows: int32(q.Busiest)})
		if err != nil {
			return out, fmt.Errorf("busiest workflows: %w", err)
		}
		out.Busiest = make([]workflow.WorkflowRuns, len(busy))
		for i, b := range busy {
			out.Busiest[i] = workflow.WorkflowRuns{Workflow: b.WorkflowSlug, Total: b.Total,
				Runs: workflow.Counts{Queued: b.Queued, Running: b.Running, Succeeded: b.Succeeded, Failed: b.Failed}}
		}
	}
	return out, nil
}

// UserRunsByDay implements workflow.Store.
func (s *Store) UserRunsByDay(ctx context.Context, userID uuid.UUID, first, last time.Time) ([]workflow.DayCounts, error) {
	rows, err := s.q.UserRunsByDay(ctx, s.pool, db.UserRunsByDayParams{UserID: userID.String(), First: first, Last: last})
	if err != nil {
		return nil, fmt.Errorf("user runs by day: %w", err)
	}
	out := make([]workflow.DayCounts, len(rows))
	for i, r := range rows {
		out[i] = workflow.DayCounts{Day: r.Day.UTC(), Runs: workflow.Counts{Queued: r.Queued, Running: r.Running, Succeeded: r.Succeeded, Failed: r.Failed}}
	}
	return out, nil
}
