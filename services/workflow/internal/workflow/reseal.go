package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ActionReseal is the audit action of a workflow whose auth header value
// was sealed again under the current WORKFLOW_SECRETS_KEY (the value
// itself did not change).
const ActionReseal = "workflow.reseal"

// KeyAware is what a Sealer that seals under key ids (secretbox.Keyring)
// adds: whether a value is sealed with the key new values are sealed
// with, and that key's id. Reseal uses it to leave current values alone;
// with a Sealer that lacks it, every value is sealed again.
type KeyAware interface {
	SealedWithCurrent(sealed []byte) bool
	CurrentID() string
}

// ResealResult says what Reseal did.
type ResealResult struct {
	// KeyID is the id of the key values are sealed with now.
	KeyID string
	// Resealed counts the values sealed again under it; Current those
	// that already were.
	Resealed, Current int
	// Unreadable lists the workflows whose value no key of the ring
	// opens: sealed with a key no longer configured. Their runs fail
	// until an admin enters the value again.
	Unreadable []string
}

// errNothingToReseal aborts the transaction of a workflow whose value
// needs nothing (changed by an admin since it was listed).
var errNothingToReseal = errors.New("nothing to reseal")

// Reseal seals every workflow's auth header value again under the current
// key: the last step of rotating WORKFLOW_SECRETS_KEY (docs/operations.md,
// "Rotating secrets"), after which the previous keys can be dropped. Each
// workflow is locked, decided and written in its own transaction with an
// audit event, so an admin editing a workflow meanwhile wins, and running
// Reseal again (or on two replicas) does no harm. Values sealed before
// seal version 2 are bound to slug and URL on the way.
func (s *Service) Reseal(ctx context.Context) (ResealResult, error) {
	var res ResealResult
	keys, _ := s.secrets.(KeyAware)
	if keys != nil {
		res.KeyID = keys.CurrentID()
	}
	current := func(w Workflow, version int) bool {
		return keys != nil && keys.SealedWithCurrent(w.AuthHeaderValueEnc) && version == sealVersion
	}
	all, err := s.store.ListWorkflows(ctx, false)
	if err != nil {
		return res, err
	}
	for _, w := range all {
		if len(w.AuthHeaderValueEnc) == 0 {
			continue
		}
		if _, version, err := s.openSecret(w); err != nil {
			res.Unreadable = append(res.Unreadable, w.Slug)
			continue
		} else if current(w, version) {
			res.Current++
			continue
		}
		_, err := s.store.UpdateWorkflow(ctx, w.Slug, func(cur Workflow) (Workflow, AuditEvent, error) {
			plain, version, err := s.openSecret(cur)
			if len(cur.AuthHeaderValueEnc) == 0 || err != nil || current(cur, version) {
				return Workflow{}, AuditEvent{}, errNothingToReseal
			}
			next := cur
			if next.AuthHeaderValueEnc, err = s.secrets.Seal(plain, authContext(cur.Slug, cur.WebhookURL)); err != nil {
				return Workflow{}, AuditEvent{}, fmt.Errorf("reseal auth header value: %w", err)
			}
			ev := AuditEvent{
				ID: uuid.Must(uuid.NewV7()), ActorID: uuid.Nil, Action: ActionReseal, TargetType: "workflow", TargetID: cur.Slug,
				Reason: "auth header value sealed again under WORKFLOW_SECRETS_KEY " + res.KeyID + " (workflow reseal)",
				Before: snapshot(cur, false), After: snapshot(next, false),
			}
			return next, ev, nil
		})
		switch {
		case errors.Is(err, errNothingToReseal), errors.Is(err, ErrWorkflowNotFound):
		case err != nil:
			return res, fmt.Errorf("reseal workflow %s: %w", w.Slug, err)
		default:
			res.Resealed++
			s.forgetWorkflow(w.Slug)
		}
	}
	return res, nil
}
