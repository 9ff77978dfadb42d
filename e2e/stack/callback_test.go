package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
	workflow "github.com/meterflow/meterflow/services/workflow/app"
)

// The callback completion mode over the whole stack (issue 18): the call
// to n8n carries the run's callback URL, the verdict posted there settles
// the run once, and no verdict releases the fee at the deadline.

// n8nCall is one call a callbackN8N received.
type n8nCall struct {
	header http.Header
	body   []byte
	at     time.Time
}

// callbackN8N plays an n8n workflow in callback mode: it answers every call
// 200 at once ("Respond Immediately") and hands the call to the test, which
// posts the verdict as the workflow's last node would. With verdict set,
// it posts that verdict itself right after answering.
type callbackN8N struct {
	*httptest.Server
	calls   chan n8nCall
	verdict map[string]any
}

func newCallbackN8N(t *testing.T, verdict map[string]any) *callbackN8N {
	t.Helper()
	n := &callbackN8N{calls: make(chan n8nCall, 100), verdict: verdict}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"message":"Workflow was started"}`))
		if n.verdict != nil {
			go func() { _, _ = postVerdict(r.Header.Get("X-Meterflow-Callback-URL"), n.verdict) }()
		}
		n.calls <- n8nCall{header: r.Header.Clone(), body: b, at: time.Now()}
	}))
	t.Cleanup(n.Close)
	return n
}

// next waits for the next call.
func (n *callbackN8N) next(t *testing.T) n8nCall {
	t.Helper()
	select {
	case c := <-n.calls:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("n8n was not called")
		return n8nCall{}
	}
}

// postVerdict posts a verdict to a callback URL as n8n's HTTP Request node does.
func postVerdict(url string, verdict any) (Response, error) {
	raw, _ := json.Marshal(verdict)
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

func mustPostVerdict(t *testing.T, url string, verdict any) Response {
	t.Helper()
	r, err := postVerdict(url, verdict)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// callbackSetup is a stack with one funded user and an admin.
type callbackSetup struct {
	s                   *Stack
	admin, user, userID string
}

func newCallbackSetup(t *testing.T, funds int64) callbackSetup {
	t.Helper()
	s := Start(t, Options{RunsPerMinute: 1000})
	c := callbackSetup{s: s, admin: s.Admin(t)}
	c.user, _, c.userID = s.Signup(t, "verdicts-"+RandomHex()+"@example.com", "password-1")
	if r := adjust(t, s, c.admin, c.userID, funds, "test credit", ""); r.Status != 201 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	return c
}

// workflow creates a workflow in callback mode pointing at url.
func (c callbackSetup) workflow(t *testing.T, slug, url string, extra map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"slug": slug, "name": slug, "webhook_url": url + "/webhook/" + slug, "fee_cents": 10,
		"timeout_ms": 5000, "completion": "callback", "callback_timeout_ms": 600000}
	for k, v := range extra {
		body[k] = v
	}
	r := c.s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: c.admin, Body: body})
	if r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// start starts a run (async unless sync) and returns the answer.
func (c callbackSetup) start(t *testing.T, slug string, async bool) Response {
	t.Helper()
	path := "/v1/workflows/" + slug + "/runs"
	if async {
		path += "?async=true"
	}
	return c.s.Do(t, Request{Method: "POST", Path: path, Token: c.user, Body: map[string]any{"input": map[string]any{"lead": "ada"}}})
}

func (c callbackSetup) run(t *testing.T, id string) map[string]any {
	t.Helper()
	r := c.s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + id, Token: c.user})
	if r.Status != 200 {
		t.Fatalf("get run: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// wantWallet checks the user's balance, held amount and number of fees.
func (c callbackSetup) wantWallet(t *testing.T, balanceCents, heldCents float64, fees int) {
	t.Helper()
	w := balance(t, c.s, c.user)
	if w["balance_cents"] != balanceCents || w["held_cents"] != heldCents {
		t.Fatalf("wallet %v, want balance %v, held %v", w, balanceCents, heldCents)
	}
	r := c.s.Do(t, Request{Method: "GET", Path: "/v1/wallet/transactions?kind=fee", Token: c.user})
	if n := strings.Count(string(r.Body), `"kind":"fee"`); r.Status != 200 || n != fees {
		t.Fatalf("%d fees, want %d: %s", n, fees, r.Body)
	}
}

// TestCallbackVerdicts: the call carries the callback URL and a signature
// made with the workflow's secret; the run waits with its fee held (and
// admins see it waiting); a wrong token or run is 404; succeeded captures
// once, failed releases, a second verdict is 409.
func TestCallbackVerdicts(t *testing.T) {
	t.Parallel()
	c := newCallbackSetup(t, 100)
	n8n := newCallbackN8N(t, nil)
	secret, err := stdwebhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	wf := c.workflow(t, "crm-sync", n8n.URL, map[string]any{"signing_secret": secret})
	list := c.s.Do(t, Request{Method: "GET", Path: "/v1/admin/workflows", Token: c.admin})
	if wf["completion"] != "callback" || wf["callback_timeout_ms"] != float64(600000) || wf["signing_configured"] != true ||
		strings.Contains(string(list.Body), "whsec_") || !strings.Contains(string(list.Body), `"signing_configured":true`) {
		t.Fatalf("workflow %v, list %s", wf, list.Body)
	}

	r := c.start(t, "crm-sync", true)
	if r.Status != 202 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	call := n8n.next(t)
	cbURL := call.header.Get("X-Meterflow-Callback-URL")
	if !strings.HasPrefix(cbURL, c.s.URL+"/v1/callbacks/runs/"+id+"?token=") || len(cbURL) < len(c.s.URL)+80 {
		t.Fatalf("callback URL %q", cbURL)
	}
	// The signature verifies with the workflow's secret, over the body as sent.
	key, _ := stdwebhooks.ParseSecret(secret)
	if err := stdwebhooks.Verify(call.body, call.header, time.Now(), key); err != nil || call.header.Get("webhook-id") != id {
		t.Fatalf("signature: %v (webhook-id %q)", err, call.header.Get("webhook-id"))
	}
	other, _ := stdwebhooks.NewSecret()
	otherKey, _ := stdwebhooks.ParseSecret(other)
	if err := stdwebhooks.Verify(call.body, call.header, time.Now(), otherKey); err == nil {
		t.Fatal("the signature verifies with another secret")
	}

	// Running, its fee held, and listed as waiting for its verdict.
	waitFor(t, func() bool { return awaiting(t, c, id) != nil })
	if run := c.run(t, id); run["status"] != "running" || run["charged_cents"] != float64(0) {
		t.Fatalf("run %v", run)
	}
	if w := awaiting(t, c, id); w["completion"] != "callback" || w["callback_deadline_at"] == nil || w["started_at"] == nil {
		t.Fatalf("admin view %v", w)
	}
	c.wantWallet(t, 100, 10, 0)

	// Wrong token, unknown run, another run's token: 404, nothing moves.
	wrong := strings.Replace(cbURL, "token=", "token=x", 1)
	wantProblem(t, mustPostVerdict(t, wrong, map[string]any{"status": "succeeded"}), 404, "not_found")
	wantProblem(t, mustPostVerdict(t, c.s.URL+"/v1/callbacks/runs/"+randomUUID()+"?token="+tokenOf(cbURL), map[string]any{"status": "succeeded"}), 404, "not_found")
	wantProblem(t, mustPostVerdict(t, c.s.URL+"/v1/callbacks/runs/"+id, map[string]any{"status": "succeeded"}), 404, "not_found")
	wantProblem(t, mustPostVerdict(t, cbURL, map[string]any{"status": "done"}), 400, "validation_failed")
	wantProblem(t, mustPostVerdict(t, cbURL, map[string]any{"status": "succeeded", "extra": 1}), 400, "validation_failed")
	c.wantWallet(t, 100, 10, 0)

	// succeeded: 204, captured once; a second verdict is 409.
	if r := mustPostVerdict(t, cbURL, map[string]any{"status": "succeeded", "output": map[string]any{"crm_id": 42}}); r.Status != 204 {
		t.Fatalf("verdict: %d %s", r.Status, r.Body)
	}
	run := c.run(t, id)
	if run["status"] != "succeeded" || run["charged_cents"] != float64(10) || !jsonEqual(string(mustJSON(t, run["output"])), `{"crm_id":42}`) {
		t.Fatalf("run %v", run)
	}
	c.wantWallet(t, 90, 0, 1)
	for _, v := range []string{"succeeded", "failed"} {
		wantProblem(t, mustPostVerdict(t, cbURL, map[string]any{"status": v}), 409, "already_settled")
	}
	c.wantWallet(t, 90, 0, 1)
	if awaiting(t, c, id) != nil {
		t.Fatal("a settled run is listed as waiting")
	}

	// failed: released, the workflow's reason is the run's error.
	id2 := c.start(t, "crm-sync", true).JSON(t)["id"].(string)
	cb2 := n8n.next(t).header.Get("X-Meterflow-Callback-URL")
	if cb2 == cbURL {
		t.Fatal("two runs share a callback URL")
	}
	if r := mustPostVerdict(t, cb2, map[string]any{"status": "failed", "error": "the CRM refused the lead"}); r.Status != 204 {
		t.Fatalf("verdict: %d %s", r.Status, r.Body)
	}
	if run := c.run(t, id2); run["status"] != "failed" || run["error"] != "the CRM refused the lead" || run["charged_cents"] != float64(0) {
		t.Fatalf("run %v", run)
	}
	wantProblem(t, mustPostVerdict(t, cb2, map[string]any{"status": "succeeded"}), 409, "already_settled")
	c.wantWallet(t, 90, 0, 1)
}

// TestSyncCallbackRuns: a sync request answers with the verdict (200 or
// 502), or 202 with the run still running once timeout_ms has passed.
func TestSyncCallbackRuns(t *testing.T) {
	t.Parallel()
	c := newCallbackSetup(t, 100)
	ok := newCallbackN8N(t, map[string]any{"status": "succeeded", "output": map[string]any{"done": true}})
	bad := newCallbackN8N(t, map[string]any{"status": "failed", "error": "no such lead"})
	silent := newCallbackN8N(t, nil)
	c.workflow(t, "ok", ok.URL, nil)
	c.workflow(t, "bad", bad.URL, nil)
	c.workflow(t, "silent", silent.URL, map[string]any{"timeout_ms": 1000})

	r := c.start(t, "ok", false)
	if run := r.JSON(t); r.Status != 200 || run["status"] != "succeeded" || run["charged_cents"] != float64(10) {
		t.Fatalf("sync run: %d %s", r.Status, r.Body)
	}
	r = c.start(t, "bad", false)
	if p := wantProblem(t, r, 502, "workflow_failed"); p["run"].(map[string]any)["error"] != "no such lead" {
		t.Fatalf("failed sync run %s", r.Body)
	}
	c.wantWallet(t, 90, 0, 1)

	r = c.start(t, "silent", false)
	run := r.JSON(t)
	if r.Status != 202 || run["status"] != "running" {
		t.Fatalf("sync run without a verdict: %d %s", r.Status, r.Body)
	}
	c.wantWallet(t, 90, 10, 1)
	cb := silent.next(t).header.Get("X-Meterflow-Callback-URL")
	if r := mustPostVerdict(t, cb, map[string]any{"status": "succeeded"}); r.Status != 204 {
		t.Fatalf("late verdict: %d %s", r.Status, r.Body)
	}
	if run := c.run(t, run["id"].(string)); run["status"] != "succeeded" {
		t.Fatalf("run %v", run)
	}
	c.wantWallet(t, 80, 0, 2)
}

// TestNoVerdictReleasesAtTheDeadline: with no verdict the settler fails
// the run with callback_timeout once its window has passed, and releases
// the fee; a verdict after that is 409.
func TestNoVerdictReleasesAtTheDeadline(t *testing.T) {
	t.Parallel()
	c := newCallbackSetup(t, 100)
	n8n := newCallbackN8N(t, nil)
	c.workflow(t, "slow", n8n.URL, map[string]any{"timeout_ms": 500, "callback_timeout_ms": 1000})
	settler := quickSettler(t, c.s)

	id := c.start(t, "slow", true).JSON(t)["id"].(string)
	cb := n8n.next(t).header.Get("X-Meterflow-Callback-URL")
	waitFor(t, func() bool { return awaiting(t, c, id) != nil })
	deadline, _ := time.Parse(time.RFC3339, awaiting(t, c, id)["callback_deadline_at"].(string))
	time.Sleep(time.Until(deadline.Add(time.Second))) // RFC 3339 in whole seconds
	if _, err := settler.SettleOverdue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if run := c.run(t, id); run["status"] != "failed" || run["error"] != "callback_timeout" || run["charged_cents"] != float64(0) {
		t.Fatalf("run %v", run)
	}
	c.wantWallet(t, 100, 0, 0)
	wantProblem(t, mustPostVerdict(t, cb, map[string]any{"status": "succeeded"}), 409, "already_settled")
	c.wantWallet(t, 100, 0, 0)
}

// TestVerdictRacesTheDeadline: verdicts (each posted twice at once) that
// arrive around their runs' deadlines while two settlers release overdue
// runs: every run ends exactly once, succeeded and charged exactly when a
// verdict was accepted (204), else failed with callback_timeout and free.
func TestVerdictRacesTheDeadline(t *testing.T) {
	t.Parallel()
	const runs = 12
	c := newCallbackSetup(t, 1000)
	n8n := newCallbackN8N(t, nil)
	c.workflow(t, "racy", n8n.URL, map[string]any{"timeout_ms": 500, "callback_timeout_ms": 1500})
	settlers := []*workflow.App{quickSettler(t, c.s), quickSettler(t, c.s)}

	ids := make([]string, runs)
	for i := range ids {
		ids[i] = c.start(t, "racy", true).JSON(t)["id"].(string)
	}
	// Each run's deadline is 1.5 s after its call (a little less after n8n
	// got it): its two verdicts are aimed a little before, at or after it.
	calls := map[string]n8nCall{}
	for range ids {
		call := n8n.next(t)
		calls[call.header.Get("X-Run-ID")] = call
	}
	waitFor(t, func() bool { return awaiting(t, c, ids[runs-1]) != nil })

	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	var last time.Time
	for i, id := range ids {
		aim := calls[id].at.Add(1500*time.Millisecond + time.Duration(i%3-1)*40*time.Millisecond)
		if aim.After(last) {
			last = aim
		}
		for range 2 {
			wg.Go(func() {
				time.Sleep(time.Until(aim))
				r, err := postVerdict(calls[id].header.Get("X-Meterflow-Callback-URL"), map[string]any{"status": "succeeded"})
				if err != nil || (r.Status != 204 && r.Status != 409) {
					t.Errorf("verdict for %s: %v %d %s", id, err, r.Status, r.Body)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if r.Status == 204 {
					accepted[id]++
				}
			})
		}
	}
	for _, st := range settlers {
		wg.Go(func() {
			for time.Now().Before(last.Add(200 * time.Millisecond)) {
				if _, err := st.SettleOverdue(context.Background()); err != nil {
					t.Error(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for _, st := range settlers {
		if _, err := st.SettleOverdue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	succeeded := 0
	for _, id := range ids {
		run := c.run(t, id)
		switch {
		case accepted[id] > 1:
			t.Errorf("run %s: %d verdicts accepted", id, accepted[id])
		case accepted[id] == 1 && (run["status"] != "succeeded" || run["charged_cents"] != float64(10)):
			t.Errorf("run %s: verdict accepted, run %v", id, run)
		case accepted[id] == 0 && (run["status"] != "failed" || run["error"] != "callback_timeout" || run["charged_cents"] != float64(0)):
			t.Errorf("run %s: verdict refused, run %v", id, run)
		}
		succeeded += accepted[id]
	}
	t.Logf("%d of %d verdicts beat their deadline", succeeded, runs)
	c.wantWallet(t, float64(1000-10*succeeded), 0, succeeded)
}

// quickSettler is another workflow replica of the stack whose settler acts
// right after a deadline (the stack's own waits a minute); its passes are
// run by the test.
func quickSettler(t *testing.T, s *Stack) *workflow.App {
	t.Helper()
	cfg := s.workflowConfig
	cfg.SettleGrace = time.Millisecond
	a, err := workflow.New(context.Background(), cfg, s.logFor("workflow"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// awaiting returns the admin view of run id while it waits for its
// verdict, nil otherwise.
func awaiting(t *testing.T, c callbackSetup, id string) map[string]any {
	t.Helper()
	r := c.s.Do(t, Request{Method: "GET", Path: "/v1/admin/runs?awaiting_callback=true&limit=200", Token: c.admin})
	if r.Status != 200 {
		t.Fatalf("admin runs: %d %s", r.Status, r.Body)
	}
	for _, item := range r.JSON(t)["items"].([]any) {
		if run := item.(map[string]any); run["id"] == id && run["awaiting_callback"] == true {
			return run
		}
	}
	return nil
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tokenOf(callbackURL string) string {
	_, tok, _ := strings.Cut(callbackURL, "token=")
	return tok
}

func randomUUID() string {
	h := RandomHex() + RandomHex()
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}
