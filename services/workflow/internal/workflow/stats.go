package workflow

import (
	"context"
	"time"

	"github.com/meterflow/meterflow/platform/validation"
)

// Bounds of a run statistics request.
const (
	// DefaultStatsWindow is how far back statistics look when no start is given.
	DefaultStatsWindow = 24 * time.Hour
	// MaxStatsWindow bounds how far back statistics may look, so one admin
	// call cannot scan the whole history.
	MaxStatsWindow = 366 * 24 * time.Hour
	// DefaultTopFailing and MaxTopFailing bound the list of most failing workflows.
	DefaultTopFailing = 5
	MaxTopFailing     = 50
)

// statusOrder is the order of RunStats.ByStatus: every status, always.
var statusOrder = []Status{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed}

// StatsRequest selects the window of run statistics; zero values take defaults.
type StatsRequest struct {
	// Since is the start of the window (inclusive); zero means DefaultStatsWindow ago.
	Since time.Time
	// TopFailing is how many of the most failing workflows to return; 0 means DefaultTopFailing.
	TopFailing int
}

// StatusCount is the number of runs in one status.
type StatusCount struct {
	Status Status
	Count  int64
}

// WorkflowFailures is how often one workflow's runs failed in a window.
type WorkflowFailures struct {
	Workflow string
	Failed   int64
	Total    int64
}

// RunStats counts the runs created in a window.
type RunStats struct {
	// ByStatus has one entry per status, in the order queued, running,
	// succeeded, failed (the store may omit statuses without runs).
	ByStatus []StatusCount
	// TopFailing lists workflows with at least one failed run, most failures
	// first, then by slug.
	TopFailing []WorkflowFailures
}

// RunStats counts the runs created at or after req.Since by status and
// returns the workflows that failed most in that window (admin).
func (s *Service) RunStats(ctx context.Context, req StatsRequest) (RunStats, error) {
	now := s.now()
	since, top := req.Since, req.TopFailing
	var verr validation.Error
	switch {
	case since.IsZero():
		since = now.Add(-DefaultStatsWindow)
	case since.After(now):
		verr.Add("since", "must not be in the future")
	case since.Before(now.Add(-MaxStatsWindow)):
		verr.Add("since", "must be at most 366 days ago")
	}
	switch {
	case top == 0:
		top = DefaultTopFailing
	case top < 0 || top > MaxTopFailing:
		verr.Add("top_failing", "must be between 1 and 50")
	}
	if err := verr.Err(); err != nil {
		return RunStats{}, err
	}
	st, err := s.store.RunStats(ctx, since, top)
	if err != nil {
		return RunStats{}, err
	}
	counts := make(map[Status]int64, len(st.ByStatus))
	for _, c := range st.ByStatus {
		counts[c.Status] += c.Count
	}
	st.ByStatus = make([]StatusCount, len(statusOrder))
	for i, status := range statusOrder {
		st.ByStatus[i] = StatusCount{Status: status, Count: counts[status]}
	}
	return st, nil
}
