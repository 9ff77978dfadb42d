package workflow

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/platform/validation"
)

// callbackBench is a bench whose workflow "echo" is in callback mode with a
// 60 s verdict window.
func callbackBench(t *testing.T, funds int64) *bench {
	t.Helper()
	b := newBench(t, funds)
	b.svc.callbackBaseURL = "https://api.example.com"
	mode, window := string(CompletionCallback), int64(60_000)
	if _, err := b.svc.UpdateWorkflow(context.Background(), uuid.New(), "echo", WorkflowChange{Completion: &mode, CallbackTimeoutMS: &window}); err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenOf returns the token of a request's callback URL, checking its form.
func tokenOf(t *testing.T, r Request) string {
	t.Helper()
	u, err := url.Parse(r.CallbackURL)
	if err != nil || u.Scheme != "https" || u.Host != "api.example.com" || u.Path != "/v1/callbacks/runs/"+r.RunID {
		t.Fatalf("callback URL %q", r.CallbackURL)
	}
	tok := u.Query().Get("token")
	if len(tok) < 22 { // 128 bits in base64url
		t.Fatalf("token %q is too short", tok)
	}
	return tok
}

// lastRequest is the last request n8n got.
func (b *bench) lastRequest(t *testing.T) Request {
	t.Helper()
	b.n8n.mu.Lock()
	defer b.n8n.mu.Unlock()
	if len(b.n8n.reqs) == 0 {
		t.Fatal("n8n was not called")
	}
	return b.n8n.reqs[len(b.n8n.reqs)-1]
}

// startQueued starts an async run and runs its job, which acknowledges it.
func (b *bench) startQueued(t *testing.T) (Run, string) {
	t.Helper()
	ctx := context.Background()
	r, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo", Async: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.svc.ExecuteQueued(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := b.run(t, r.ID); got.State() != StateAwaiting || !got.AwaitingCallback() {
		t.Fatalf("after the acknowledgement: %s", got.State())
	}
	return b.run(t, r.ID), tokenOf(t, b.lastRequest(t))
}

func TestCallbackRunIsChargedOnlyOnItsVerdict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name        string
		verdict     Verdict
		state       State
		charged     int64
		wantError   string
		wantOutput  string
		available   int64
		userSeesOut bool
	}{
		{"succeeded", Verdict{Status: StatusSucceeded, Output: []byte(`{"b": 2, "a": 1}`)}, StateCaptured, testFee, "", `{"a":1,"b":2}`, 90, true},
		{"failed", Verdict{Status: StatusFailed, Error: "the CRM refused the lead"}, StateReleased, 0, "the CRM refused the lead", "", 100, false},
		{"failed without a reason", Verdict{Status: StatusFailed}, StateReleased, 0, errorVerdictFailed, "", 100, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := callbackBench(t, 100)
			r, token := b.startQueued(t)
			b.wantMoney(t, 90, testFee, 0) // held while it waits
			if err := b.svc.SubmitVerdict(ctx, r.ID.String(), token, tc.verdict); err != nil {
				t.Fatal(err)
			}
			got := b.run(t, r.ID)
			if got.State() != tc.state || got.ChargedCents != tc.charged || got.Error != tc.wantError || string(got.Output) != tc.wantOutput {
				t.Fatalf("run %s, charged %d, error %q, output %s", got.State(), got.ChargedCents, got.Error, got.Output)
			}
			b.wantMoney(t, tc.available, 0, tc.charged)
			// The token counts once.
			if err := b.svc.SubmitVerdict(ctx, r.ID.String(), token, tc.verdict); !errors.Is(err, ErrAlreadySettled) {
				t.Fatalf("second verdict: %v, want ErrAlreadySettled", err)
			}
			b.wantMoney(t, tc.available, 0, tc.charged)
		})
	}
}

func TestVerdictAuthenticationAndValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := callbackBench(t, 100)
	r, token := b.startQueued(t)
	ok := Verdict{Status: StatusSucceeded}
	for name, call := range map[string]func() error{
		"wrong token":     func() error { return b.svc.SubmitVerdict(ctx, r.ID.String(), token+"x", ok) },
		"empty token":     func() error { return b.svc.SubmitVerdict(ctx, r.ID.String(), "", ok) },
		"unknown run":     func() error { return b.svc.SubmitVerdict(ctx, uuid.NewString(), token, ok) },
		"malformed run":   func() error { return b.svc.SubmitVerdict(ctx, "not-a-run", token, ok) },
		"invalid verdict": func() error { return b.svc.SubmitVerdict(ctx, r.ID.String(), token+"x", Verdict{Status: "done"}) },
	} {
		if err := call(); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("%s: %v, want ErrRunNotFound", name, err)
		}
	}
	for field, v := range map[string]Verdict{
		"status": {Status: "done"},
		"output": {Status: StatusSucceeded, Output: []byte(`{"a":`)},
		"error":  {Status: StatusFailed, Error: strings.Repeat("x", 1001)},
	} {
		var verr *validation.Error
		if err := b.svc.SubmitVerdict(ctx, r.ID.String(), token, v); !errors.As(err, &verr) || !strings.Contains(err.Error(), field) {
			t.Errorf("verdict with a bad %s: %v", field, err)
		}
	}
	if got := b.run(t, r.ID); got.State() != StateAwaiting {
		t.Fatalf("refused verdicts moved the run to %s", got.State())
	}
	// A response-mode run has no callback URL.
	mode := string(CompletionResponse)
	if _, err := b.svc.UpdateWorkflow(ctx, uuid.New(), "echo", WorkflowChange{Completion: &mode}); err != nil {
		t.Fatal(err)
	}
	plain, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if b.lastRequest(t).CallbackURL != "" || plain.State() != StateCaptured {
		t.Fatalf("response mode: callback URL %q, run %s", b.lastRequest(t).CallbackURL, plain.State())
	}
	if err := b.svc.SubmitVerdict(ctx, plain.ID.String(), token, ok); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("verdict for a response-mode run: %v", err)
	}
}

func TestNoVerdictFailsAtTheDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := callbackBench(t, 100)
	r, token := b.startQueued(t)
	// The verdict window starts with the call: 60 s from now, not from the queueing.
	if want := b.clock.Now().Add(60 * time.Second); !r.DeadlineAt.Equal(want) {
		t.Fatalf("deadline %s, want %s", r.DeadlineAt, want)
	}
	b.clock.Advance(59 * time.Second)
	if n, _ := b.svc.SettleOverdue(ctx); n != 0 {
		t.Fatalf("the settler settled %d runs before the deadline", n)
	}
	if n := b.settleAfterDeadline(t); n != 1 {
		t.Fatalf("settled %d", n)
	}
	got := b.run(t, r.ID)
	if got.State() != StateReleased || got.Error != CallbackTimeout || got.ChargedCents != 0 {
		t.Fatalf("run %s, error %q", got.State(), got.Error)
	}
	b.wantMoney(t, 100, 0, 0)
	if err := b.svc.SubmitVerdict(ctx, r.ID.String(), token, Verdict{Status: StatusSucceeded}); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("late verdict: %v", err)
	}
	b.wantMoney(t, 100, 0, 0)
}

// TestLateVerdictTimesTheRunOut: a verdict after the deadline, before the
// settler's turn, fails the run as the settler would.
func TestLateVerdictTimesTheRunOut(t *testing.T) {
	t.Parallel()
	b := callbackBench(t, 100)
	r, token := b.startQueued(t)
	b.clock.Advance(61 * time.Second)
	if err := b.svc.SubmitVerdict(context.Background(), r.ID.String(), token, Verdict{Status: StatusSucceeded}); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("verdict after the deadline: %v", err)
	}
	if got := b.run(t, r.ID); got.State() != StateReleased || got.Error != CallbackTimeout {
		t.Fatalf("run %s, error %q", got.State(), got.Error)
	}
	b.wantMoney(t, 100, 0, 0)
}

// TestVerdictBeforeTheAnswer: n8n may run the whole workflow, verdict
// included, before it answers the call; the sync request then returns the
// settled run, charged once.
func TestVerdictBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	b := callbackBench(t, 100)
	var verdictErr error
	b.n8n.onReq = func(r Request) {
		verdictErr = b.svc.SubmitVerdict(context.Background(), r.RunID, tokenOf(t, r), Verdict{Status: StatusSucceeded, Output: []byte(`"done"`)})
	}
	r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo"})
	if err != nil || verdictErr != nil {
		t.Fatalf("start %v, verdict %v", err, verdictErr)
	}
	// The answer came after the verdict: the run had its outcome, so the
	// answer's status is not recorded.
	if r.State() != StateCaptured || string(r.Output) != `"done"` || r.HTTPStatus != 0 {
		t.Fatalf("run %s, output %s, http %d", r.State(), r.Output, r.HTTPStatus)
	}
	b.wantMoney(t, 90, 0, testFee)
}

// TestSyncCallbackRunAnswersRunningAtItsTimeout: no verdict within the
// workflow's timeout: the request returns the run still running, its fee
// held; a repeat of the request with its key waits the same way.
func TestSyncCallbackRunAnswersRunningAtItsTimeout(t *testing.T) {
	t.Parallel()
	b := callbackBench(t, 100)
	b.n8n.onReq = func(Request) { b.clock.Advance(31 * time.Second) } // n8n took the whole timeout
	r, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo", IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State() != StateAwaiting || !r.AwaitingCallback() {
		t.Fatalf("run %s", r.State())
	}
	b.wantMoney(t, 90, testFee, 0)
	// A repeat waits up to its own timeout: answer the verdict meanwhile.
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = b.svc.SubmitVerdict(context.Background(), r.ID.String(), tokenOf(t, b.lastRequest(t)), Verdict{Status: StatusSucceeded})
	}()
	again, err := b.svc.StartRun(context.Background(), b.user, StartRequest{Workflow: "echo", IdempotencyKey: "k1"})
	if err != nil || again.ID != r.ID || again.State() != StateCaptured {
		t.Fatalf("repeat: %v, %s", err, again.State())
	}
	if b.n8n.calls() != 1 {
		t.Fatalf("n8n called %d times", b.n8n.calls())
	}
	b.wantMoney(t, 90, 0, testFee)
}

func TestCallsAreSignedWithTheWorkflowsSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBench(t, 100)
	secret, err := stdwebhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.UpdateWorkflow(ctx, uuid.New(), "echo", WorkflowChange{SigningSecret: &secret}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo"}); err != nil {
		t.Fatal(err)
	}
	key, _ := stdwebhooks.ParseSecret(secret)
	if got := b.lastRequest(t).SigningKey; string(got) != string(key) {
		t.Fatalf("signing key %x, want %x", got, key)
	}
	bad := "whsec_short"
	var verr *validation.Error
	if _, err := b.svc.UpdateWorkflow(ctx, uuid.New(), "echo", WorkflowChange{SigningSecret: &bad}); !errors.As(err, &verr) {
		t.Fatalf("a malformed secret: %v", err)
	}
	none := ""
	w, err := b.svc.UpdateWorkflow(ctx, uuid.New(), "echo", WorkflowChange{SigningSecret: &none})
	if err != nil || w.SigningConfigured() {
		t.Fatalf("clearing the secret: %v, configured %v", err, w.SigningConfigured())
	}
	if _, err := b.svc.StartRun(ctx, b.user, StartRequest{Workflow: "echo"}); err != nil {
		t.Fatal(err)
	}
	if b.lastRequest(t).SigningKey != nil {
		t.Fatal("an unsigned workflow's call has a key")
	}
}
