package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// NewWorkflow is an admin's description of a workflow; nil numbers and flags take defaults.
type NewWorkflow struct {
	Slug, Name, Description, WebhookURL string
	AuthHeaderName, AuthHeaderValue     string
	FeeCents, TimeoutMS                 *int64
	Active                              *bool
	Reason                              string
}

// WorkflowChange changes the fields that are non-nil.
type WorkflowChange struct {
	Name, Description, WebhookURL   *string
	AuthHeaderName, AuthHeaderValue *string
	FeeCents, TimeoutMS             *int64
	Active                          *bool
	Reason                          string
}

// auditView is what audit events record of a workflow: everything but the secret.
type auditView struct {
	Slug             string `json:"slug"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	WebhookURL       string `json:"webhook_url"`
	AuthHeaderName   string `json:"auth_header_name"`
	AuthConfigured   bool   `json:"auth_configured"`
	AuthValueChanged bool   `json:"auth_value_changed,omitempty"`
	FeeCents         int64  `json:"fee_cents"`
	TimeoutMS        int64  `json:"timeout_ms"`
	Active           bool   `json:"active"`
}

func snapshot(w Workflow, secretChanged bool) []byte {
	b, _ := json.Marshal(auditView{
		Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookURL: w.WebhookURL,
		AuthHeaderName: w.AuthHeaderName, AuthConfigured: w.AuthConfigured(), AuthValueChanged: secretChanged,
		FeeCents: w.FeeCents, TimeoutMS: w.TimeoutMS, Active: w.Active,
	})
	return b
}

// CreateWorkflow validates and stores a new workflow with its audit event.
func (s *Service) CreateWorkflow(ctx context.Context, actorID string, n NewWorkflow) (Workflow, error) {
	w := Workflow{
		Slug: n.Slug, Name: strings.TrimSpace(n.Name), Description: n.Description,
		WebhookURL: strings.TrimSpace(n.WebhookURL), AuthHeaderName: strings.TrimSpace(n.AuthHeaderName),
		FeeCents: s.DefaultFeeCents, TimeoutMS: DefaultTimeoutMS, Active: true,
	}
	if n.FeeCents != nil {
		w.FeeCents = *n.FeeCents
	}
	if n.TimeoutMS != nil {
		w.TimeoutMS = *n.TimeoutMS
	}
	if n.Active != nil {
		w.Active = *n.Active
	}
	var verr ValidationError
	validateWorkflow(w, s.AllowedHosts, &verr)
	checkReason(n.Reason, &verr)
	if msg := checkHeaderValue(n.AuthHeaderValue); msg != "" {
		verr.add("auth_header_value", msg)
	}
	checkAuthPair(w.AuthHeaderName != "", n.AuthHeaderValue != "", &verr)
	if err := verr.orNil(); err != nil {
		return Workflow{}, err
	}
	if n.AuthHeaderValue != "" {
		sealed, err := s.Secrets.Seal([]byte(n.AuthHeaderValue), w.Slug)
		if err != nil {
			return Workflow{}, fmt.Errorf("seal auth header value: %w", err)
		}
		w.AuthHeaderValueEnc = sealed
	}
	ev := AuditEvent{
		ID: uuid.Must(uuid.NewV7()), ActorID: actorID, Action: ActionCreate, TargetType: "workflow",
		TargetID: w.Slug, Reason: n.Reason, After: snapshot(w, n.AuthHeaderValue != ""),
	}
	return s.Store.CreateWorkflow(ctx, w, ev)
}

// UpdateWorkflow applies c to the workflow slug with its audit event.
// Clearing the header name also clears the secret; setting a name needs a secret.
func (s *Service) UpdateWorkflow(ctx context.Context, actorID, slug string, c WorkflowChange) (Workflow, error) {
	defer s.forgetWorkflow(slug)
	return s.Store.UpdateWorkflow(ctx, slug, func(cur Workflow) (Workflow, AuditEvent, error) {
		w := cur
		if c.Name != nil {
			w.Name = strings.TrimSpace(*c.Name)
		}
		if c.Description != nil {
			w.Description = *c.Description
		}
		if c.WebhookURL != nil {
			w.WebhookURL = strings.TrimSpace(*c.WebhookURL)
		}
		if c.FeeCents != nil {
			w.FeeCents = *c.FeeCents
		}
		if c.TimeoutMS != nil {
			w.TimeoutMS = *c.TimeoutMS
		}
		if c.Active != nil {
			w.Active = *c.Active
		}
		if c.AuthHeaderName != nil {
			w.AuthHeaderName = strings.TrimSpace(*c.AuthHeaderName)
		}
		var verr ValidationError
		validateWorkflow(w, s.AllowedHosts, &verr)
		checkReason(c.Reason, &verr)
		secretChanged := false
		if c.AuthHeaderValue != nil {
			if msg := checkHeaderValue(*c.AuthHeaderValue); msg != "" {
				verr.add("auth_header_value", msg)
			} else if *c.AuthHeaderValue == "" {
				w.AuthHeaderValueEnc = nil
				secretChanged = len(cur.AuthHeaderValueEnc) > 0
			} else {
				sealed, err := s.Secrets.Seal([]byte(*c.AuthHeaderValue), w.Slug)
				if err != nil {
					return Workflow{}, AuditEvent{}, fmt.Errorf("seal auth header value: %w", err)
				}
				w.AuthHeaderValueEnc = sealed
				secretChanged = true
			}
		}
		if w.AuthHeaderName == "" && len(w.AuthHeaderValueEnc) > 0 {
			// Without a header name the secret could never be sent: drop it.
			w.AuthHeaderValueEnc = nil
			secretChanged = true
		}
		checkAuthPair(w.AuthHeaderName != "", len(w.AuthHeaderValueEnc) > 0, &verr)
		if err := verr.orNil(); err != nil {
			return Workflow{}, AuditEvent{}, err
		}
		ev := AuditEvent{
			ID: uuid.Must(uuid.NewV7()), ActorID: actorID, Action: ActionUpdate, TargetType: "workflow",
			TargetID: w.Slug, Reason: c.Reason, Before: snapshot(cur, false), After: snapshot(w, secretChanged),
		}
		return w, ev, nil
	})
}

func checkAuthPair(hasName, hasValue bool, e *ValidationError) {
	switch {
	case hasName && !hasValue:
		e.add("auth_header_value", "is required when auth_header_name is set")
	case !hasName && hasValue:
		e.add("auth_header_name", "is required when auth_header_value is set")
	}
}

func checkReason(r string, e *ValidationError) {
	if utf8.RuneCountInString(r) > maxReasonLen || !utf8.ValidString(r) {
		e.add("reason", "must be valid text of at most 1000 characters")
	}
}

// ListWorkflows returns the catalog: active entries only unless all is set.
func (s *Service) ListWorkflows(ctx context.Context, all bool) ([]Workflow, error) {
	return s.Store.ListWorkflows(ctx, !all)
}

// ListAuditEvents pages the admin change log, newest first.
func (s *Service) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var err error
	if f.Limit, err = pageLimit(f.Limit); err != nil {
		return nil, err
	}
	return s.Store.ListAuditEvents(ctx, f)
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, invalid("limit", "must be between 1 and 200")
	}
	return n, nil
}
