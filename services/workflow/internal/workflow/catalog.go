package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/platform/validation"
)

// NewWorkflow is an admin's description of a workflow; nil numbers and flags take defaults.
type NewWorkflow struct {
	Slug, Name, Description, WebhookURL string
	AuthHeaderName, AuthHeaderValue     string
	FeeCents, TimeoutMS                 *int64
	Active                              *bool
	Reason                              string
	// Completion is "response" (also when empty) or "callback".
	Completion        string
	CallbackTimeoutMS *int64
	// SigningSecret is a Standard Webhooks secret ("whsec_..."); empty: unsigned.
	SigningSecret string
}

// WorkflowChange changes the fields that are non-nil.
type WorkflowChange struct {
	Name, Description, WebhookURL   *string
	AuthHeaderName, AuthHeaderValue *string
	FeeCents, TimeoutMS             *int64
	Active                          *bool
	Reason                          string
	Completion                      *string
	CallbackTimeoutMS               *int64
	// SigningSecret replaces the signing secret; "" clears it.
	SigningSecret *string
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
	Completion       string `json:"completion"`
	CallbackTimeout  int64  `json:"callback_timeout_ms"`
	// SigningConfigured and SigningChanged stand for the signing secret.
	SigningConfigured bool `json:"signing_configured"`
	SigningChanged    bool `json:"signing_secret_changed,omitempty"`
}

// secretChanges says which write-only values an audited change set.
type secretChanges struct{ auth, signing bool }

func snapshot(w Workflow, changed secretChanges) []byte {
	b, _ := json.Marshal(auditView{
		Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookURL: w.WebhookURL,
		AuthHeaderName: w.AuthHeaderName, AuthConfigured: w.AuthConfigured(), AuthValueChanged: changed.auth,
		FeeCents: w.FeeCents, TimeoutMS: w.TimeoutMS, Active: w.Active,
		Completion: string(w.Completion), CallbackTimeout: w.CallbackTimeoutMS,
		SigningConfigured: w.SigningConfigured(), SigningChanged: changed.signing,
	})
	return b
}

// CreateWorkflow validates and stores a new workflow with its audit event.
func (s *Service) CreateWorkflow(ctx context.Context, actorID uuid.UUID, n NewWorkflow) (Workflow, error) {
	w := Workflow{
		Slug: n.Slug, Name: strings.TrimSpace(n.Name), Description: n.Description,
		WebhookURL: strings.TrimSpace(n.WebhookURL), AuthHeaderName: strings.TrimSpace(n.AuthHeaderName),
		FeeCents: s.defaultFeeCents, TimeoutMS: DefaultTimeoutMS, Active: true,
		Completion: CompletionResponse, CallbackTimeoutMS: DefaultCallbackTimeoutMS,
	}
	if n.Completion != "" {
		w.Completion = Completion(n.Completion)
	}
	if n.CallbackTimeoutMS != nil {
		w.CallbackTimeoutMS = *n.CallbackTimeoutMS
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
	var verr validation.Error
	s.validateWorkflow(w, &verr)
	checkReason(n.Reason, &verr)
	if msg := checkHeaderValue(n.AuthHeaderValue); msg != "" {
		verr.Add("auth_header_value", msg)
	}
	checkAuthPair(w.AuthHeaderName != "", n.AuthHeaderValue != "", &verr)
	if n.SigningSecret != "" {
		if _, err := stdwebhooks.ParseSecret(n.SigningSecret); err != nil {
			verr.Add("signing_secret", signingSecretRule)
		}
	}
	if err := verr.Err(); err != nil {
		return Workflow{}, err
	}
	if n.SigningSecret != "" {
		sealed, err := s.secrets.Seal([]byte(n.SigningSecret), signingContext(w.Slug))
		if err != nil {
			return Workflow{}, fmt.Errorf("seal signing secret: %w", err)
		}
		w.SigningSecretEnc = sealed
	}
	if n.AuthHeaderValue != "" {
		sealed, err := s.secrets.Seal([]byte(n.AuthHeaderValue), authContext(w.Slug, w.WebhookURL))
		if err != nil {
			return Workflow{}, fmt.Errorf("seal auth header value: %w", err)
		}
		w.AuthHeaderValueEnc = sealed
	}
	ev := AuditEvent{
		ID: uuid.Must(uuid.NewV7()), ActorID: actorID, Action: ActionCreate, TargetType: "workflow",
		TargetID: w.Slug, Reason: n.Reason,
		After: snapshot(w, secretChanges{auth: n.AuthHeaderValue != "", signing: n.SigningSecret != ""}),
	}
	return s.store.CreateWorkflow(ctx, w, ev)
}

// UpdateWorkflow applies c to the workflow slug with its audit event.
// Clearing the header name also clears the secret; setting a name needs a
// secret. A new webhook URL without a new secret clears the secret: it was
// given for the old URL, and sending it to the new one would hand it to
// whoever runs that host. The header name stays, auth_configured becomes
// false and runs fail, uncharged, until an admin enters the value again.
func (s *Service) UpdateWorkflow(ctx context.Context, actorID uuid.UUID, slug string, c WorkflowChange) (Workflow, error) {
	defer s.forgetWorkflow(slug)
	return s.store.UpdateWorkflow(ctx, slug, func(cur Workflow) (Workflow, AuditEvent, error) {
		w := applyChange(cur, c)
		var verr validation.Error
		s.validateWorkflow(w, &verr)
		checkReason(c.Reason, &verr)
		secretChanged, err := s.rekeySecret(cur, &w, c.AuthHeaderValue, &verr)
		if err != nil {
			return Workflow{}, AuditEvent{}, err
		}
		signingChanged, err := s.setSigningSecret(&w, c.SigningSecret, &verr)
		if err != nil {
			return Workflow{}, AuditEvent{}, err
		}
		if w.AuthHeaderName != cur.AuthHeaderName || c.AuthHeaderValue != nil {
			checkAuthPair(w.AuthHeaderName != "", len(w.AuthHeaderValueEnc) > 0, &verr)
		}
		if err := verr.Err(); err != nil {
			return Workflow{}, AuditEvent{}, err
		}
		ev := AuditEvent{
			ID: uuid.Must(uuid.NewV7()), ActorID: actorID, Action: ActionUpdate, TargetType: "workflow",
			TargetID: w.Slug, Reason: c.Reason, Before: snapshot(cur, secretChanges{}),
			After: snapshot(w, secretChanges{auth: secretChanged, signing: signingChanged}),
		}
		return w, ev, nil
	})
}

// applyChange returns cur with the fields c sets.
func applyChange(cur Workflow, c WorkflowChange) Workflow {
	w := cur
	set := func(dst *string, v *string, trim bool) {
		if v != nil {
			*dst = *v
			if trim {
				*dst = strings.TrimSpace(*v)
			}
		}
	}
	set(&w.Name, c.Name, true)
	set(&w.Description, c.Description, false)
	set(&w.WebhookURL, c.WebhookURL, true)
	set(&w.AuthHeaderName, c.AuthHeaderName, true)
	if c.FeeCents != nil {
		w.FeeCents = *c.FeeCents
	}
	if c.TimeoutMS != nil {
		w.TimeoutMS = *c.TimeoutMS
	}
	if c.Active != nil {
		w.Active = *c.Active
	}
	if c.Completion != nil {
		w.Completion = Completion(*c.Completion)
	}
	if c.CallbackTimeoutMS != nil {
		w.CallbackTimeoutMS = *c.CallbackTimeoutMS
	}
	return w
}

// signingSecretRule is what a signing secret must be, for the admin.
const signingSecretRule = `must be "whsec_" followed by the standard base64 of 24 to 64 bytes (e.g. of 32 random bytes)`

// setSigningSecret seals a new signing secret into w, or clears it for "";
// nil keeps the stored one. It reports whether the secret changed.
func (s *Service) setSigningSecret(w *Workflow, secret *string, verr *validation.Error) (bool, error) {
	switch {
	case secret == nil:
		return false, nil
	case *secret == "":
		changed := w.SigningConfigured()
		w.SigningSecretEnc = nil
		return changed, nil
	}
	if _, err := stdwebhooks.ParseSecret(*secret); err != nil {
		verr.Add("signing_secret", signingSecretRule)
		return false, nil
	}
	sealed, err := s.secrets.Seal([]byte(*secret), signingContext(w.Slug))
	if err != nil {
		return false, fmt.Errorf("seal signing secret: %w", err)
	}
	w.SigningSecretEnc = sealed
	return true, nil
}

// rekeySecret decides the sealed header value of w, the updated cur:
// a new value is sealed to w's slug and URL, an empty one clears it; with
// no new value the stored one is dropped when the URL or the header name
// is gone, and otherwise kept, resealed to slug and URL if it was sealed
// to the slug alone (seal version 1). It reports whether the secret changed.
func (s *Service) rekeySecret(cur Workflow, w *Workflow, value *string, verr *validation.Error) (bool, error) {
	switch {
	case value != nil && *value == "":
		w.AuthHeaderValueEnc = nil
		return len(cur.AuthHeaderValueEnc) > 0, nil
	case value != nil:
		if msg := checkHeaderValue(*value); msg != "" {
			verr.Add("auth_header_value", msg)
			return false, nil
		}
		sealed, err := s.secrets.Seal([]byte(*value), authContext(w.Slug, w.WebhookURL))
		if err != nil {
			return false, fmt.Errorf("seal auth header value: %w", err)
		}
		w.AuthHeaderValueEnc = sealed
		return true, nil
	case len(cur.AuthHeaderValueEnc) == 0:
		return false, nil
	case w.WebhookURL != cur.WebhookURL || w.AuthHeaderName == "":
		// A new URL without a new secret, or no header to send it in.
		w.AuthHeaderValueEnc = nil
		return true, nil
	}
	plain, version, err := s.openSecret(cur)
	if err != nil || version == sealVersion {
		// Unreadable values are left as they are: runs report them.
		return false, nil
	}
	sealed, err := s.secrets.Seal(plain, authContext(w.Slug, w.WebhookURL))
	if err != nil {
		return false, fmt.Errorf("reseal auth header value: %w", err)
	}
	w.AuthHeaderValueEnc = sealed
	return false, nil
}

// sealVersion is the version of the associated data new secrets are
// sealed with: 2 binds slug and webhook URL, 1 (before it) the slug only.
const sealVersion = 2

// authContext is the associated data of a sealed auth header value: the
// workflow's slug and webhook URL. A sealed value copied to another
// workflow, or kept while the URL was changed behind the service's back
// (in the database), does not open.
func authContext(slug, webhookURL string) string {
	return "meterflow/workflow-auth/v2\x00" + slug + "\x00" + webhookURL
}

// openSecret opens w's sealed header value and says which version sealed
// it. Values sealed before version 2 (bound to the slug alone) still open;
// an admin update of the workflow reseals them, and a URL change drops them
// like any other.
func (s *Service) openSecret(w Workflow) ([]byte, int, error) {
	plain, err := s.secrets.Open(w.AuthHeaderValueEnc, authContext(w.Slug, w.WebhookURL))
	if err == nil {
		return plain, sealVersion, nil
	}
	if plain, lerr := s.secrets.Open(w.AuthHeaderValueEnc, w.Slug); lerr == nil {
		return plain, 1, nil
	}
	return nil, 0, err
}

func checkAuthPair(hasName, hasValue bool, e *validation.Error) {
	switch {
	case hasName && !hasValue:
		e.Add("auth_header_value", "is required when auth_header_name is set")
	case !hasName && hasValue:
		e.Add("auth_header_name", "is required when auth_header_value is set")
	}
}

func checkReason(r string, e *validation.Error) {
	if utf8.RuneCountInString(r) > maxReasonLen || !utf8.ValidString(r) {
		e.Add("reason", "must be valid text of at most 1000 characters")
	}
}

// ListWorkflows returns the catalog: active entries only unless all is set.
func (s *Service) ListWorkflows(ctx context.Context, all bool) ([]Workflow, error) {
	return s.store.ListWorkflows(ctx, !all)
}

// ListAuditEvents pages the admin change log, newest first, and returns
// the cursor of the next page ("" on the last).
func (s *Service) ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, string, error) {
	limit, err := paging.Limit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	return page(limit, func(rows int) ([]AuditEvent, error) {
		f.Limit = rows
		return s.store.ListAuditEvents(ctx, f)
	}, func(e AuditEvent) paging.Cursor { return paging.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
}
