package postgres

import (
	"context"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// CreateBatch writes rs as one batch, as the batcher does: each run, whether
// this call created it, and its error.
func (s *Store) CreateBatch(ctx context.Context, rs []workflow.Run) ([]workflow.Run, []bool, []error) {
	res := s.createBatch(ctx, rs)
	runs, news, errs := make([]workflow.Run, len(res)), make([]bool, len(res)), make([]error, len(res))
	for i, r := range res {
		runs[i], news[i], errs[i] = r.Out.run, r.Out.new, r.Err
	}
	return runs, news, errs
}

// ApplyBatch applies cs[i] to ids[i] as one batch, as the batcher does.
func (s *Store) ApplyBatch(ctx context.Context, ids []uuid.UUID, cs []workflow.Change) ([]workflow.Run, []error) {
	ins := make([]applyIn, len(ids))
	for i := range ids {
		ins[i] = applyIn{id: ids[i], c: cs[i]}
	}
	res := s.applyBatch(ctx, ins)
	runs, errs := make([]workflow.Run, len(res)), make([]error, len(res))
	for i, r := range res {
		runs[i], errs[i] = r.Out, r.Err
	}
	return runs, errs
}

// Queued returns how many CreateRun and Apply calls wait for a batch.
func (s *Store) Queued() (creates, applies int) {
	if s.creates != nil {
		creates = s.creates.Queued()
	}
	if s.applies != nil {
		applies = s.applies.Queued()
	}
	return creates, applies
}
