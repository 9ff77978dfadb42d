package workflow

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestEveryRunPublishesOneEvent: a finished status never changes, so a
// run publishes at most one event; every event's rows agree on whether
// they publish (the store writes one UPDATE per event); and every state
// with a finished status is entered only by publishing rows or from a
// finished state, so no run finishes without its event.
func TestEveryRunPublishesOneEvent(t *testing.T) {
	t.Parallel()
	for _, tr := range transitions {
		if tr.From.Status.Finished() && tr.To.Status != tr.From.Status {
			t.Errorf("row %s --%s--> %s changes a finished status", tr.From, tr.Event, tr.To)
		}
	}
	for _, ev := range Events() {
		c := Step(ev)
		typ, publishes := c.Publishes()
		for _, from := range c.From {
			rowPublishes := !from.Status.Finished() && c.To.Status.Finished()
			if rowPublishes != publishes {
				t.Errorf("event %s: the row from %s publishes %v, the event %v", ev, from, rowPublishes, publishes)
			}
		}
		want := map[Status]string{StatusSucceeded: WebhookRunSucceeded, StatusFailed: WebhookRunFailed}[c.To.Status]
		if publishes && typ != want {
			t.Errorf("event %s enters %s and publishes %q, want %q", ev, c.To, typ, want)
		}
	}
	if _, ok := (Change{To: StateCaptured}).Publishes(); ok {
		t.Error("a change without From states publishes")
	}
}

// TestPublicJSON: the run as the API shows it to its user, field for
// field: nulls for what is absent, RFC 3339 seconds in UTC, no output of a
// failed run, values compacted but not HTML-escaped.
func TestPublicJSON(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 12, 7, 9, 0, 0, 250e6, time.FixedZone("CET", 3600))
	finished := started.Add(1500 * time.Millisecond)
	id, key := uuid.MustParse("7d3c4c49-3d52-4d6b-9a40-7f0f4e0c3d01"), uuid.MustParse("0b7c2a44-55a4-4fd8-9f5c-2e9f1c1f9a02")
	for _, tc := range []struct {
		name string
		run  Run
		want string
	}{
		{"succeeded", Run{ID: id, Workflow: "echo", Status: StatusSucceeded, FeeCents: 10, ChargedCents: 10,
			Input: []byte(`{"a": "<&>"}`), Output: []byte(`{"ok": true}`), HTTPStatus: 200, CreatedAt: started,
			StartedAt: &started, FinishedAt: &finished, APIKeyID: key},
			`{"id":"7d3c4c49-3d52-4d6b-9a40-7f0f4e0c3d01","workflow":"echo","status":"succeeded","fee_cents":10,"charged_cents":10,` +
				`"input":{"a":"<&>"},"output":{"ok":true},"error":null,"http_status":200,"started_at":"2026-12-07T08:00:00Z",` +
				`"finished_at":"2026-12-07T08:00:01Z","duration_ms":1500,"created_at":"2026-12-07T08:00:00Z",` +
				`"api_key_id":"0b7c2a44-55a4-4fd8-9f5c-2e9f1c1f9a02"}`},
		{"failed", Run{ID: id, Workflow: "echo", Status: StatusFailed, FeeCents: 10, Input: []byte(`{}`),
			Output: []byte(`"stack trace"`), HTTPStatus: 500, Error: "n8n answered 500", CreatedAt: started, FinishedAt: &finished},
			`{"id":"7d3c4c49-3d52-4d6b-9a40-7f0f4e0c3d01","workflow":"echo","status":"failed","fee_cents":10,"charged_cents":0,` +
				`"input":{},"output":null,"error":"n8n answered 500","http_status":500,"started_at":null,` +
				`"finished_at":"2026-12-07T08:00:01Z","duration_ms":null,"created_at":"2026-12-07T08:00:00Z","api_key_id":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.run.PublicJSON()
			if err != nil || string(got) != tc.want {
				t.Fatalf("PublicJSON() = %s, %v\nwant %s", got, err, tc.want)
			}
			if !json.Valid(got) {
				t.Fatal("not JSON")
			}
		})
	}
}
