//go:build drills

package drills

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	wallet "github.com/meterflow/meterflow/services/wallet/app"
)

// TestCallbackCrashDrill: the workflow process is SIGKILLed after it
// recorded a workflow's verdict and before the wallet answered the capture
// (or release) that the verdict made due. After the restart the settler
// finishes the run: settled exactly once, the fee charged once for a
// succeeded verdict and never for a failed one, and a verdict posted again
// is 409 already_settled.
func TestCallbackCrashDrill(t *testing.T) {
	s := startStack(t, options{})
	ctx := context.Background()
	admin := s.admin(t)
	tok, uid := s.signup(t)
	s.mustDo(t, 201, "POST", "/v1/admin/users/"+uid+"/adjustments", admin,
		map[string]any{"amount_cents": 100, "reason": "drill credit"}, map[string]string{"Idempotency-Key": "drill-credit"})

	// n8n in callback mode: answers 200 at once and hands over the callback URL.
	urls := make(chan string, 10)
	n8n := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		urls <- r.Header.Get("X-Meterflow-Callback-URL")
		w.WriteHeader(http.StatusOK)
	}))
	defer n8n.Close()
	s.mustDo(t, 201, "POST", "/v1/admin/workflows", admin, map[string]any{
		"slug": "crm", "name": "CRM", "webhook_url": n8n.URL + "/webhook/crm", "fee_cents": 10, "timeout_ms": 2000,
		"completion": "callback", "callback_timeout_ms": 120000,
	}, nil)

	wf, err := pgxpool.New(ctx, s.workflowDB)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	holdState := func(id string) (status, hold string) {
		if err := wf.QueryRow(ctx, `SELECT status, hold_state FROM runs WHERE id = $1`, id).Scan(&status, &hold); err != nil {
			t.Fatal(err)
		}
		return status, hold
	}

	for _, tc := range []struct {
		verdict, finalStatus string
		balance, fees        float64
	}{
		{"succeeded", "succeeded", 90, 1},
		{"failed", "failed", 90, 1},
	} {
		run := s.mustDo(t, 202, "POST", "/v1/workflows/crm/runs?async=true", tok, map[string]any{"input": map[string]any{}}, nil)
		id := run["id"].(string)
		var cb string
		select {
		case cb = <-urls:
		case <-time.After(20 * time.Second):
			t.Fatal("n8n was not called")
		}
		// The workflow process has no PUBLIC_BASE_URL here (its default is
		// make run's gateway): post to this stack's gateway, path and token
		// as given.
		u, err := url.Parse(cb)
		if err != nil || !strings.HasPrefix(u.Path, "/v1/callbacks/runs/"+id) {
			t.Fatalf("callback URL %q", cb)
		}
		callback := u.RequestURI()
		eventually(t, 20*time.Second, "run acknowledged", func() bool { _, h := holdState(id); return h == "awaiting" })

		// The wallet stops answering the workflow; the verdict is recorded,
		// its capture or release hangs, and the process dies right then.
		heal := s.toxic(t, edgeWorkflowWallet, "blackhole", "timeout", "upstream", map[string]any{"timeout": 0})
		posted := make(chan response, 1)
		go func() {
			posted <- s.do(ctx, "POST", callback, "", map[string]any{"status": tc.verdict, "error": errorFor(tc.verdict)}, nil)
		}()
		eventually(t, 20*time.Second, "verdict recorded", func() bool {
			_, h := holdState(id)
			return h == "capturing" || h == "releasing"
		})
		s.workflow.Kill()
		if r := <-posted; r.status == 204 {
			t.Logf("the verdict was answered 204 before the kill")
		}
		heal()
		restart(t, s.workflow)

		// The verdict moved the deadline to its own time: the settler
		// finishes the run within a few passes.
		eventually(t, 30*time.Second, "run settled", func() bool {
			st, h := holdState(id)
			return st == tc.finalStatus && (h == "captured" || h == "released")
		})
		// n8n retries the verdict: it counts once.
		if r := s.do(ctx, "POST", callback, "", map[string]any{"status": tc.verdict, "error": errorFor(tc.verdict)}, nil); r.status != 409 || !isProblem(r) || r.json()["code"] != "already_settled" {
			t.Fatalf("repeated verdict: %d %s", r.status, r.body)
		}
		got := s.mustDo(t, 200, "GET", "/v1/runs/"+id, tok, nil, nil)
		if want := map[string]float64{"succeeded": 10, "failed": 0}[tc.verdict]; got["charged_cents"] != want {
			t.Fatalf("run %v", got)
		}
		w := s.mustDo(t, 200, "GET", "/v1/wallet", tok, nil, nil)
		fees := s.mustDo(t, 200, "GET", "/v1/wallet/transactions?kind=fee", tok, nil, nil)["items"].([]any)
		if w["balance_cents"] != tc.balance || w["held_cents"] != float64(0) || float64(len(fees)) != tc.fees {
			t.Fatalf("after the %s verdict: wallet %v, %d fees", tc.verdict, w, len(fees))
		}
		t.Logf("DRILL callback crash (%s): run %s settled once by the settler after a kill between verdict and wallet", tc.verdict, id)
	}
	quiesce(t, s)
	mism, err := wallet.Verify(ctx, s.walletDB)
	if err != nil || len(mism) != 0 {
		t.Fatalf("wallet verify: %v %v", err, mism)
	}
}

func errorFor(verdict string) string {
	if verdict == "failed" {
		return "the CRM refused the lead"
	}
	return ""
}
