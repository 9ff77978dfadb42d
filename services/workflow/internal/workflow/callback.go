package workflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/platform/validation"
)

// This file is the callback mode (docs/adr/0007): the run's callback URL
// and its token, the workflow's verdict, and the sync request that waits
// for it.

// callbackTokenBytes is the randomness of a callback token: 256 bits, more
// than the contract's 128.
const callbackTokenBytes = 32

// Bounds of a verdict.
const (
	// MaxVerdictOutputBytes bounds a verdict's output (the gateway's body
	// limit is the same), like an n8n answer's.
	MaxVerdictOutputBytes = 1 << 20
	maxVerdictErrorLen    = 1000
)

// CallbackTimeout is the error of a callback-mode run whose verdict did not
// come before its deadline (the contract's code).
const CallbackTimeout = "callback_timeout"

// errorVerdictFailed is a failed verdict's error when the workflow gave none.
const errorVerdictFailed = "the workflow reported a failure"

// newCallbackToken returns a fresh callback token and its hash, the only
// form of it that is stored.
func newCallbackToken() (token string, hash []byte, err error) {
	b := make([]byte, callbackTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("callback token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// callbackURL is where run id's workflow posts its verdict: the gateway's
// POST /v1/callbacks/runs/{id}?token=...
func (s *Service) callbackURL(id uuid.UUID, token string) string {
	return s.callbackBaseURL + "/v1/callbacks/runs/" + id.String() + "?token=" + url.QueryEscape(token)
}

// signingKey opens wf's signing secret: nil and true when calls are not
// signed, false when the stored secret cannot be read.
func (s *Service) signingKey(ctx context.Context, wf Workflow) ([]byte, bool) {
	if !wf.SigningConfigured() {
		return nil, true
	}
	plain, err := s.secrets.Open(wf.SigningSecretEnc, signingContext(wf.Slug))
	if err == nil {
		var key stdwebhooks.Key
		if key, err = stdwebhooks.ParseSecret(string(plain)); err == nil {
			return key, true
		}
	}
	s.log.ErrorContext(ctx, "cannot open workflow signing secret (was WORKFLOW_SECRETS_KEY changed?)", "workflow", wf.Slug)
	return nil, false
}

// signingContext is the associated data of a sealed signing secret: the
// workflow's slug. Unlike the auth header value it is not bound to the
// URL: a signature does not give the secret away to the host it goes to.
func signingContext(slug string) string {
	return "meterflow/workflow-signing/v1\x00" + slug
}

// Verdict is what a workflow in callback mode posts for its run.
type Verdict struct {
	// Status is StatusSucceeded or StatusFailed.
	Status Status
	// Output is the run's output as JSON; nil for none.
	Output []byte
	// Error says why the run failed (failed verdicts), in the workflow's words.
	Error string
}

// check validates v and returns it with its output in canonical form.
func (v Verdict) check() (Verdict, error) {
	var verr validation.Error
	if v.Status != StatusSucceeded && v.Status != StatusFailed {
		verr.Add("status", "must be succeeded or failed")
	}
	if len(v.Output) > 0 {
		out, msg := canonicalValue(v.Output, MaxVerdictOutputBytes)
		if msg != "" {
			verr.Add("output", msg)
		}
		v.Output = out
	}
	if utf8.RuneCountInString(v.Error) > maxVerdictErrorLen || !utf8.ValidString(v.Error) || strings.ContainsRune(v.Error, 0) {
		verr.Add("error", "must be valid text of at most 1000 characters")
	}
	if v.Status == StatusSucceeded && v.Error != "" {
		verr.Add("error", "is only for failed verdicts")
	}
	return v, verr.Err()
}

// SubmitVerdict records the verdict of run id, whose callback token token
// must be, and settles it: capture on succeeded, release on failed. A run
// that does not exist, is not in callback mode or has another token is
// ErrRunNotFound; one that has its verdict already, or failed (at its
// deadline, or any other way), is ErrAlreadySettled. A verdict after the
// deadline fails the run with callback_timeout, as the settler would.
// Concurrent verdicts and the settler move the run once: each writes its
// event with one conditional UPDATE, and the wallet's capture and release
// are idempotent by the run's key (ADR 0007).
func (s *Service) SubmitVerdict(ctx context.Context, id, token string, v Verdict) error {
	rid, err := uuid.Parse(id)
	if err != nil || token == "" {
		return ErrRunNotFound
	}
	r, err := s.store.GetRun(ctx, rid)
	if err != nil {
		return err
	}
	if r.Completion != CompletionCallback || len(r.CallbackTokenHash) == 0 ||
		subtle.ConstantTimeCompare(r.CallbackTokenHash, hashToken(token)) != 1 {
		return ErrRunNotFound
	}
	if v, err = v.check(); err != nil {
		return err
	}
	ctx, span := s.runSpan(ctx, "workflow.SubmitVerdict", r)
	defer span.End()
	ctx = context.WithoutCancel(ctx)
	if !r.AwaitingCallback() {
		return ErrAlreadySettled
	}
	now := s.now()
	if now.After(r.DeadlineAt) {
		s.fail(ctx, r, failure(EventDeadline, CallbackTimeout))
		s.verdicts.wake(r.ID)
		return ErrAlreadySettled
	}
	c := Step(EventVerdictSucceeded)
	if v.Status == StatusFailed {
		c = failure(EventVerdictFailed, v.Error)
		if c.Error == "" {
			c.Error = errorVerdictFailed
		}
	}
	c.Output, c.Deadline = v.Output, &now
	rec, err := s.store.Apply(ctx, r.ID, c)
	if errors.Is(err, ErrStateChanged) {
		return ErrAlreadySettled
	}
	if err != nil {
		return fmt.Errorf("record verdict of run %s: %w", r.ID, err)
	}
	if rec.Status == StatusFailed {
		s.finished(ctx, rec)
	}
	s.settleDue(ctx, rec, 3)
	s.verdicts.wake(r.ID)
	return nil
}

// Polling bounds of a sync request waiting for a verdict that another
// replica records (one of this process wakes it at once).
const (
	firstVerdictPoll = 50 * time.Millisecond
	maxVerdictPoll   = time.Second
)

// awaitOutcome waits until r is finished, until, or until the caller
// (ctx) is gone, and returns the run as it is then.
func (s *Service) awaitOutcome(ctx context.Context, r Run, until time.Time) Run {
	wake, stop := s.verdicts.watch(r.ID)
	defer stop()
	poll := firstVerdictPoll
	for !r.Status.Finished() {
		wait := until.Sub(s.now())
		if wait <= 0 {
			return r
		}
		t := time.NewTimer(min(poll, wait))
		select {
		case <-wake:
			wake = nil // closed: from now on only the timer
		case <-t.C:
			poll = min(2*poll, maxVerdictPoll)
		case <-ctx.Done():
			t.Stop()
			return r
		}
		t.Stop()
		if cur, err := s.store.GetRun(context.WithoutCancel(ctx), r.ID); err == nil {
			r = cur
		}
	}
	return r
}

// waiters are the sync requests of this process waiting for verdicts.
type waiters struct {
	mu sync.Mutex
	m  map[uuid.UUID][]chan struct{}
}

// watch returns a channel closed when a verdict for id is settled by this
// process, and a function to stop watching.
func (w *waiters) watch(id uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[uuid.UUID][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], ch)
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.m[id]
		for i, c := range list {
			if c == ch {
				w.m[id] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(w.m[id]) == 0 {
			delete(w.m, id)
		}
	}
}

// wake closes the channels of every request watching id.
func (w *waiters) wake(id uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.m[id] {
		close(c)
	}
	delete(w.m, id)
}
