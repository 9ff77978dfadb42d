package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

func toWorkflow(w db.Workflow) workflow.Workflow {
	return workflow.Workflow{
		Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookURL: w.WebhookUrl,
		AuthHeaderName: w.AuthHeaderName, AuthHeaderValueEnc: w.AuthHeaderValueEnc,
		FeeCents: w.FeeCents, TimeoutMS: w.TimeoutMs, Active: w.Active, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		Completion: workflow.Completion(w.Completion), CallbackTimeoutMS: w.CallbackTimeoutMs, SigningSecretEnc: w.SigningSecretEnc,
	}
}

func toAudit(e db.AuditEvent) (workflow.AuditEvent, error) {
	actor, err := parseUser("audit actor", e.ActorID)
	if err != nil {
		return workflow.AuditEvent{}, err
	}
	return workflow.AuditEvent{ID: e.ID, ActorID: actor, Action: e.Action, TargetType: e.TargetType,
		TargetID: e.TargetID, Reason: e.Reason, Before: e.Before, After: e.After, CreatedAt: e.CreatedAt}, nil
}

func (s *Store) insertAudit(ctx context.Context, tx pgx.Tx, e workflow.AuditEvent) error {
	return s.q.InsertAuditEvent(ctx, tx, db.InsertAuditEventParams{
		ID: e.ID, ActorID: e.ActorID.String(), Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		Reason: e.Reason, Before: e.Before, After: e.After,
	})
}

// CreateWorkflow implements workflow.Store.
func (s *Store) CreateWorkflow(ctx context.Context, w workflow.Workflow, audit workflow.AuditEvent) (workflow.Workflow, error) {
	var out db.Workflow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.q.InsertWorkflow(ctx, tx, db.InsertWorkflowParams{
			Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookUrl: w.WebhookURL,
			AuthHeaderName: w.AuthHeaderName, AuthHeaderValueEnc: w.AuthHeaderValueEnc,
			FeeCents: w.FeeCents, TimeoutMs: w.TimeoutMS, Active: w.Active,
			Completion: string(w.Completion), CallbackTimeoutMs: w.CallbackTimeoutMS, SigningSecretEnc: w.SigningSecretEnc,
		})
		if isUnique(err) {
			return workflow.ErrSlugTaken
		}
		if err != nil {
			return fmt.Errorf("insert workflow: %w", err)
		}
		return s.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return workflow.Workflow{}, err
	}
	return toWorkflow(out), nil
}

// UpdateWorkflow implements workflow.Store.
func (s *Store) UpdateWorkflow(ctx context.Context, slug string, change func(workflow.Workflow) (workflow.Workflow, workflow.AuditEvent, error)) (workflow.Workflow, error) {
	var out db.Workflow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.q.GetWorkflowForUpdate(ctx, tx, slug)
		if errors.Is(err, pgx.ErrNoRows) {
			return workflow.ErrWorkflowNotFound
		}
		if err != nil {
			return fmt.Errorf("lock workflow: %w", err)
		}
		w, ev, err := change(toWorkflow(cur))
		if err != nil {
			return err
		}
		out, err = s.q.UpdateWorkflow(ctx, tx, db.UpdateWorkflowParams{
			Slug: slug, Name: w.Name, Description: w.Description, WebhookUrl: w.WebhookURL,
			AuthHeaderName: w.AuthHeaderName, AuthHeaderValueEnc: w.AuthHeaderValueEnc,
			FeeCents: w.FeeCents, TimeoutMs: w.TimeoutMS, Active: w.Active,
			Completion: string(w.Completion), CallbackTimeoutMs: w.CallbackTimeoutMS, SigningSecretEnc: w.SigningSecretEnc,
		})
		if err != nil {
			return fmt.Errorf("update workflow: %w", err)
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return workflow.Workflow{}, err
	}
	return toWorkflow(out), nil
}

// GetWorkflow implements workflow.Store.
func (s *Store) GetWorkflow(ctx context.Context, slug string) (workflow.Workflow, error) {
	w, err := s.q.GetWorkflow(ctx, s.pool, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return workflow.Workflow{}, workflow.ErrWorkflowNotFound
	}
	if err != nil {
		return workflow.Workflow{}, fmt.Errorf("get workflow: %w", err)
	}
	return toWorkflow(w), nil
}

// ListWorkflows implements workflow.Store.
func (s *Store) ListWorkflows(ctx context.Context, activeOnly bool) ([]workflow.Workflow, error) {
	rows, err := s.q.ListWorkflows(ctx, s.pool, activeOnly)
	if err != nil {
		return nil, fmt.Errorf("list workflows: %w", err)
	}
	out := make([]workflow.Workflow, len(rows))
	for i, r := range rows {
		out[i] = toWorkflow(r)
	}
	return out, nil
}

// ListAuditEvents implements workflow.Store.
func (s *Store) ListAuditEvents(ctx context.Context, f workflow.AuditFilter) ([]workflow.AuditEvent, error) {
	created, id := cursorArgs(f.After)
	rows, err := s.q.ListAuditEvents(ctx, s.pool, db.ListAuditEventsParams{
		TargetID: text(f.TargetID), CursorCreated: created, CursorID: id, MaxRows: int32(f.Limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	out := make([]workflow.AuditEvent, len(rows))
	for i, r := range rows {
		if out[i], err = toAudit(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}
