package workflow

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// This file and fakes_test.go hold small in-memory stand-ins for the
// service's ports, so the domain's rules can be tested without a database,
// a wallet or n8n. The store guards every transition with the Change's
// From states exactly as the Postgres store's UPDATEs do (internal/postgres
// holds those against the table on a real database).

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeStore is an in-memory Store.
type fakeStore struct {
	now func() time.Time

	mu        sync.Mutex
	workflows map[string]Workflow
	runs      map[uuid.UUID]Run
	audit     []AuditEvent
	// jobs lists the runs whose job was queued (entering queued/held).
	jobs []uuid.UUID
	// applyErr, when set, is returned by Apply for that event instead of writing.
	applyErr map[Event]error
}

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, workflows: map[string]Workflow{}, runs: map[uuid.UUID]Run{}, applyErr: map[Event]error{}}
}

func (f *fakeStore) CreateWorkflow(_ context.Context, w Workflow, ev AuditEvent) (Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.workflows[w.Slug]; ok {
		return Workflow{}, ErrSlugTaken
	}
	w.CreatedAt, w.UpdatedAt = f.now(), f.now()
	f.workflows[w.Slug] = w
	ev.CreatedAt = f.now()
	f.audit = append(f.audit, ev)
	return w, nil
}

func (f *fakeStore) UpdateWorkflow(_ context.Context, slug string, change func(Workflow) (Workflow, AuditEvent, error)) (Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.workflows[slug]
	if !ok {
		return Workflow{}, ErrWorkflowNotFound
	}
	w, ev, err := change(cur)
	if err != nil {
		return Workflow{}, err
	}
	w.UpdatedAt = f.now()
	f.workflows[slug] = w
	ev.CreatedAt = f.now()
	f.audit = append(f.audit, ev)
	return w, nil
}

func (f *fakeStore) GetWorkflow(_ context.Context, slug string) (Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.workflows[slug]
	if !ok {
		return Workflow{}, ErrWorkflowNotFound
	}
	return w, nil
}

func (f *fakeStore) ListWorkflows(_ context.Context, activeOnly bool) ([]Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Workflow
	for _, w := range f.workflows {
		if w.Active || !activeOnly {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

// newestFirst orders by (created_at, id) descending, as the lists do.
func newestFirst(at, bt time.Time, a, b uuid.UUID) bool {
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return a.String() > b.String()
}

func (f *fakeStore) ListAuditEvents(_ context.Context, af AuditFilter) ([]AuditEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []AuditEvent
	for _, e := range f.audit {
		if (af.TargetID == "" || e.TargetID == af.TargetID) &&
			(af.After.IsZero() || newestFirst(af.After.CreatedAt, e.CreatedAt, af.After.ID, e.ID)) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return newestFirst(out[i].CreatedAt, out[j].CreatedAt, out[i].ID, out[j].ID) })
	return out[:min(len(out), af.Limit)], nil
}

func (f *fakeStore) CreateRun(_ context.Context, r Run) (Run, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.IdempotencyKey != "" {
		for _, e := range f.runs {
			if e.UserID == r.UserID && e.IdempotencyKey == r.IdempotencyKey {
				return e, false, nil
			}
		}
	}
	r.CreatedAt = f.now()
	if r.Status == StatusRunning {
		t := f.now()
		r.StartedAt = &t
	}
	f.runs[r.ID] = r
	return r, true, nil
}

func (f *fakeStore) GetRun(_ context.Context, id uuid.UUID) (Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return Run{}, ErrRunNotFound
	}
	return r, nil
}

func (f *fakeStore) ListRuns(_ context.Context, rf RunFilter) ([]Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Run
	for _, r := range f.runs {
		if (rf.UserID == uuid.Nil || r.UserID == rf.UserID) && (rf.Workflow == "" || r.Workflow == rf.Workflow) &&
			(rf.Status == "" || r.Status == rf.Status) && (!rf.AwaitingCallback || r.AwaitingCallback()) &&
			(rf.After.IsZero() || newestFirst(rf.After.CreatedAt, r.CreatedAt, rf.After.ID, r.ID)) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return newestFirst(out[i].CreatedAt, out[j].CreatedAt, out[i].ID, out[j].ID) })
	return out[:min(len(out), rf.Limit)], nil
}

func (f *fakeStore) ListUnsettled(_ context.Context, deadlineBefore time.Time, limit int) ([]Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Run
	for _, r := range f.runs {
		if Info(r.State()).Open && r.DeadlineAt.Before(deadlineBefore) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeadlineAt.Before(out[j].DeadlineAt) })
	return out[:min(len(out), limit)], nil
}

func (f *fakeStore) RunStats(context.Context, StatsQuery) (RunStats, error) {
	return RunStats{}, errors.New("fakeStore: RunStats is not needed by these tests")
}

func (f *fakeStore) UserRunsByDay(context.Context, uuid.UUID, time.Time, time.Time) ([]DayCounts, error) {
	return nil, errors.New("fakeStore: UserRunsByDay is not needed by these tests")
}

// Apply writes c as the Postgres store does: only from c.From, the target
// state and the data it carries, the fee charged only in a charged state.
func (f *fakeStore) Apply(_ context.Context, id uuid.UUID, c Change) (Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.applyErr[c.Event]; err != nil {
		return Run{}, err
	}
	r, ok := f.runs[id]
	if !ok || !slices.Contains(c.From, r.State()) {
		return Run{}, ErrStateChanged
	}
	now := f.now()
	r.Status, r.Hold = c.To.Status, c.To.Hold
	if c.HTTPStatus != 0 {
		r.HTTPStatus = c.HTTPStatus
	}
	if c.Output != nil {
		r.Output = c.Output
	}
	if c.Error != "" {
		r.Error = c.Error
	}
	if c.Input != nil {
		r.Input = c.Input
	}
	if c.CallbackTokenHash != nil {
		r.CallbackTokenHash = c.CallbackTokenHash
	}
	if c.Deadline != nil {
		r.DeadlineAt = *c.Deadline
	}
	r.ChargedCents = 0
	if Info(c.To).Charged {
		r.ChargedCents = r.FeeCents
	}
	switch {
	case c.To == StateRefused:
		r.StartedAt = nil
	case c.To == StateRunningHeld:
		r.StartedAt = &now
	}
	if c.To.Status.Finished() && r.FinishedAt == nil {
		r.FinishedAt = &now
	}
	if c.To == StateQueuedHeld {
		f.jobs = append(f.jobs, id)
	}
	f.runs[id] = r
	return r, nil
}

// put stores r as it is (a run left in some state by a process that died).
func (f *fakeStore) put(r Run) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[r.ID] = r
}
