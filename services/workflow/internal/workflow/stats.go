package workflow

import (
	"context"
	"time"

	"github.com/google/uuid"

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
	// MaxBusiest bounds the list of busiest workflows.
	MaxBusiest = 50
	// DefaultStatsDays and MaxStatsDays bound a user's daily series.
	DefaultStatsDays = 30
	MaxStatsDays     = 366
)

// statusOrder is the order of RunStats.ByStatus: every status, always.
var statusOrder = []Status{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed}

// StatsRequest selects the window of run statistics; zero values take defaults.
type StatsRequest struct {
	// Since is the start of the window (inclusive); zero means DefaultStatsWindow ago.
	Since time.Time
	// TopFailing is how many of the most failing workflows to return; 0 means DefaultTopFailing.
	TopFailing int
	// ByHour asks for RunStats.ByHour.
	ByHour bool
	// Busiest is how many of the busiest workflows to return; 0 means none.
	Busiest int
}

// StatsQuery is what the store computes for a StatsRequest, defaults applied.
type StatsQuery struct {
	Since      time.Time
	TopFailing int
	// FirstHour and LastHour (hour starts, UTC) bound RunStats.ByHour;
	// zero FirstHour means no hourly series.
	FirstHour, LastHour time.Time
	// Busiest is how many busiest workflows to return (0: none).
	Busiest int
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

// Counts counts runs by status.
type Counts struct {
	Queued, Running, Succeeded, Failed int64
}

// Add returns the sum of c and o.
func (c Counts) Add(o Counts) Counts {
	return Counts{Queued: c.Queued + o.Queued, Running: c.Running + o.Running, Succeeded: c.Succeeded + o.Succeeded, Failed: c.Failed + o.Failed}
}

// HourCounts counts the runs created in the UTC hour starting at Hour.
type HourCounts struct {
	Hour time.Time
	Runs Counts
}

// DayCounts counts the runs created on the UTC day starting at Day.
type DayCounts struct {
	Day  time.Time
	Runs Counts
}

// WorkflowRuns counts one workflow's runs in a window.
type WorkflowRuns struct {
	Workflow string
	Total    int64
	Runs     Counts
}

// RunStats counts the runs created in a window.
type RunStats struct {
	// ByStatus has one entry per status, in the order queued, running,
	// succeeded, failed (the store may omit statuses without runs).
	ByStatus []StatusCount
	// TopFailing lists workflows with at least one failed run, most failures
	// first, then by slug.
	TopFailing []WorkflowFailures
	// ByHour has one entry per UTC hour of the window, oldest first (when asked).
	ByHour []HourCounts
	// Busiest lists the workflows with the most runs, most first, then by
	// slug (when asked).
	Busiest []WorkflowRuns
}

// RunStats counts the runs created at or after req.Since by status and
// returns the workflows that failed most in that window, and on request
// the runs per UTC hour and the busiest workflows (admin).
func (s *Service) RunStats(ctx context.Context, req StatsRequest) (RunStats, error) {
	now := s.now().UTC()
	q := StatsQuery{Since: req.Since, TopFailing: req.TopFailing, Busiest: req.Busiest}
	var verr validation.Error
	switch {
	case q.Since.IsZero():
		q.Since = now.Add(-DefaultStatsWindow)
	case q.Since.After(now):
		verr.Add("since", "must not be in the future")
	case q.Since.Before(now.Add(-MaxStatsWindow)):
		verr.Add("since", "must be at most 366 days ago")
	}
	switch {
	case q.TopFailing == 0:
		q.TopFailing = DefaultTopFailing
	case q.TopFailing < 0 || q.TopFailing > MaxTopFailing:
		verr.Add("top_failing", "must be between 1 and 50")
	}
	if q.Busiest < 0 || q.Busiest > MaxBusiest {
		verr.Add("busiest", "must be between 0 and 50")
	}
	if err := verr.Err(); err != nil {
		return RunStats{}, err
	}
	if req.ByHour {
		q.FirstHour, q.LastHour = q.Since.UTC().Truncate(time.Hour), now.Truncate(time.Hour)
	}
	st, err := s.store.RunStats(ctx, q)
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

// UserRunStats counts the user's runs per UTC day by status for the last
// days days, today included (0 means DefaultStatsDays); every day is
// there, oldest first.
func (s *Service) UserRunStats(ctx context.Context, userID uuid.UUID, days int) ([]DayCounts, error) {
	first, last, err := dayWindow(s.now(), days)
	if err != nil {
		return nil, err
	}
	return s.store.UserRunsByDay(ctx, userID, first, last)
}

// dayWindow returns the first and the last midnight (UTC) of the days
// days up to now's, today included; 0 days means DefaultStatsDays.
func dayWindow(now time.Time, days int) (first, last time.Time, err error) {
	if days == 0 {
		days = DefaultStatsDays
	}
	if days < 1 || days > MaxStatsDays {
		return first, last, validation.Field("days", "must be between 1 and 366")
	}
	now = now.UTC()
	last = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return last.AddDate(0, 0, 1-days), last, nil
}
