package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ActionReseal is the audit action of a workflow whose secrets (auth
// header value, signing secret) were sealed again under the current
// WORKFLOW_SECRETS_KEY (the values themselves did not change).
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
	// Resealed counts the workflows whose secrets were sealed again under
	// it; Current those whose secrets already were.
	Resealed, Current int
	// Unreadable lists the workflows whose value no key of the ring
	// opens: sealed with a key no longer configured. Their runs fail
	// until an admin enters the value again.
	Unreadable []string
}

// errNothingToReseal aborts the transaction of a workflow whose value
// needs nothing (changed by an admin since it was listed).
var errNothingToReseal = errors.New("nothing to reseal")

// Reseal seals every workflow's auth header value and signing secret
// again under the current key: the last step of rotating
// WORKFLOW_SECRETS_KEY (docs/operations.md, "Rotating secrets"), after
// which the previous keys can be dropped. Each workflow is locked, decided
// and written in its own transaction with an audit event, so an admin
// editing a workflow meanwhile wins, and running Reseal again (or on two
// replicas) does no harm. Auth values sealed before seal version 2 are
// bound to slug and URL on the way.
func (s *Service) Reseal(ctx context.Context) (ResealResult, error) {
	var res ResealResult
	keys, _ := s.secrets.(KeyAware)
	if keys != nil {
		res.KeyID = keys.CurrentID()
	}
	all, err := s.store.ListWorkflows(ctx, false)
	if err != nil {
		return res, err
	}
	for _, w := range all {
		if len(w.AuthHeaderValueEnc) == 0 && !w.SigningConfigured() {
			continue
		}
		if _, err := s.resealed(w, keys); errors.Is(err, errUnreadable) {
			res.Unreadable = append(res.Unreadable, w.Slug)
			continue
		} else if errors.Is(err, errNothingToReseal) {
			res.Current++
			continue
		}
		_, err := s.store.UpdateWorkflow(ctx, w.Slug, func(cur Workflow) (Workflow, AuditEvent, error) {
			next, err := s.resealed(cur, keys)
			if err != nil {
				return Workflow{}, AuditEvent{}, err
			}
			ev := AuditEvent{
				ID: uuid.Must(uuid.NewV7()), ActorID: uuid.Nil, Action: ActionReseal, TargetType: "workflow", TargetID: cur.Slug,
				Reason: "secrets sealed again under WORKFLOW_SECRETS_KEY " + res.KeyID + " (workflow reseal)",
				Before: snapshot(cur, secretChanges{}), After: snapshot(next, secretChanges{}),
			}
			return next, ev, nil
		})
		switch {
		case errors.Is(err, errNothingToReseal), errors.Is(err, errUnreadable), errors.Is(err, ErrWorkflowNotFound):
		case err != nil:
			return res, fmt.Errorf("reseal workflow %s: %w", w.Slug, err)
		default:
			res.Resealed++
			s.forgetWorkflow(w.Slug)
		}
	}
	return res, nil
}

// errUnreadable: a workflow's secret opens with no key of the ring.
var errUnreadable = errors.New("secret unreadable")

// resealed returns w with its secrets sealed under the current key:
// errNothingToReseal when both already are, errUnreadable when one opens
// with no configured key (its runs report it until an admin enters it again).
func (s *Service) resealed(w Workflow, keys KeyAware) (Workflow, error) {
	current := func(sealed []byte) bool { return keys != nil && keys.SealedWithCurrent(sealed) }
	next, changed := w, false
	if len(w.AuthHeaderValueEnc) > 0 {
		plain, version, err := s.openSecret(w)
		if err != nil {
			return w, errUnreadable
		}
		if !current(w.AuthHeaderValueEnc) || version != sealVersion {
			if next.AuthHeaderValueEnc, err = s.secrets.Seal(plain, authContext(w.Slug, w.WebhookURL)); err != nil {
				return w, fmt.Errorf("reseal auth header value: %w", err)
			}
			changed = true
		}
	}
	if w.SigningConfigured() {
		plain, err := s.secrets.Open(w.SigningSecretEnc, signingContext(w.Slug))
		if err != nil {
			return w, errUnreadable
		}
		if !current(w.SigningSecretEnc) {
			if next.SigningSecretEnc, err = s.secrets.Seal(plain, signingContext(w.Slug)); err != nil {
				return w, fmt.Errorf("reseal signing secret: %w", err)
			}
			changed = true
		}
	}
	if !changed {
		return w, errNothingToReseal
	}
	return next, nil
}
