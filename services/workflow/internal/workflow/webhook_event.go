package workflow

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// The webhook event types of a run (notify delivers them to the user's
// endpoints, docs/adr/0014-event-outboxes.md).
const (
	WebhookRunSucceeded = "run.succeeded"
	WebhookRunFailed    = "run.failed"
)

// Publishes returns the webhook event a change publishes: run.succeeded or
// run.failed when it gives the run its final status, and false for every
// other change. A finished status never changes (machine_test.go), and the
// store writes a change only where the run is in one of its From states,
// so a run publishes exactly one event, in the transaction that settles
// its status, whatever path it took (sync, async, callback verdict,
// settler) and however often an actor retries. The store enqueues it in
// that transaction (platform/outbox).
func (c Change) Publishes() (string, bool) {
	if !c.To.Status.Finished() || len(c.From) == 0 {
		return "", false
	}
	for _, f := range c.From {
		if f.Status.Finished() {
			return "", false
		}
	}
	if c.To.Status == StatusSucceeded {
		return WebhookRunSucceeded, true
	}
	return WebhookRunFailed, true
}

// publicRun is a Run as the public API shows it to its user: the gateway's
// runJSON (gateway/internal/api/shapes.go) without the admins' fields, in
// its order. e2e/webhooks compares an event's data with GET /v1/runs/{id}.
type publicRun struct {
	ID           string          `json:"id"`
	Workflow     string          `json:"workflow"`
	Status       string          `json:"status"`
	FeeCents     int64           `json:"fee_cents"`
	ChargedCents int64           `json:"charged_cents"`
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output"`
	Error        *string         `json:"error"`
	HTTPStatus   *int            `json:"http_status"`
	StartedAt    *string         `json:"started_at"`
	FinishedAt   *string         `json:"finished_at"`
	DurationMS   *int64          `json:"duration_ms"`
	CreatedAt    *string         `json:"created_at"`
	APIKeyID     *string         `json:"api_key_id"`
}

// PublicJSON renders the run as GET /v1/runs/{id} shows it to the user
// who started it (ForUser): the data of its webhook event.
func (r Run) PublicJSON() ([]byte, error) {
	r = r.ForUser()
	p := publicRun{
		ID: r.ID.String(), Workflow: r.Workflow, Status: string(r.Status), FeeCents: r.FeeCents, ChargedCents: r.ChargedCents,
		Input: jsonOrNull(r.Input), Output: jsonOrNull(r.Output), Error: nonEmpty(r.Error),
		StartedAt: apiTime(r.StartedAt), FinishedAt: apiTime(r.FinishedAt), CreatedAt: apiTime(&r.CreatedAt),
	}
	if r.HTTPStatus != 0 {
		p.HTTPStatus = &r.HTTPStatus
	}
	if d, ok := r.Duration(); ok {
		ms := d.Milliseconds()
		p.DurationMS = &ms
	}
	if r.APIKeyID != uuid.Nil {
		p.APIKeyID = nonEmpty(r.APIKeyID.String())
	}
	// Without HTML escaping (<, > and & stay as they are, where the
	// gateway writes \u003c...): the same JSON value, and an output full of
	// them stays the size it is stored at (notify takes data up to 3 MiB).
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// apiTime is a time as the API writes it: RFC 3339 in UTC, to the second.
func apiTime(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jsonOrNull is a stored JSON value as the API passes it on: null when
// absent, a JSON string when it is (against the columns' type) not JSON.
func jsonOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if !json.Valid(b) {
		s, _ := json.Marshal(string(b))
		return s
	}
	return json.RawMessage(b)
}
