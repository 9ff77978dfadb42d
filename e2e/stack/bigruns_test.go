package stack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBigRunsKeepAdminListingsWorking: runs with big inputs, refused for
// funds (free) or paid, leave the admin run listing, the user's admin page,
// the CSV export and the user's own list answering. Before, five refused
// runs of about 1 MiB each pushed those past the 4 MiB gRPC cap and the
// gateway answered 429.
func TestBigRunsKeepAdminListingsWorking(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 100})
	rc := newReceiver(t) // echoes the input: the output is as big
	admin := s.Admin(t)
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "echo", "name": "Echo", "webhook_url": rc.URL + "/webhook/echo", "fee_cents": 1, "timeout_ms": 5000,
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	run := func(tok string, textBytes int) Response {
		return s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok,
			Body: map[string]any{"input": map[string]any{"text": strings.Repeat("a", textBytes)}}})
	}

	broke, _, brokeID := s.Signup(t, "broke@example.com", "password-1")
	var tooBig []Response
	for range 5 {
		tooBig = append(tooBig, run(broke, 900<<10))
	}
	for range 5 {
		wantProblem(t, run(broke, 250<<10), 402, "insufficient_funds")
	}
	paid, _, paidID := s.Signup(t, "paid@example.com", "password-1")
	if r := adjust(t, s, admin, paidID, 100, "credit", ""); r.Status != 201 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	var paidRun map[string]any
	for range 3 {
		r := run(paid, 250<<10)
		if r.Status != 200 {
			t.Fatalf("paid run: %d %.300s", r.Status, r.Body)
		}
		paidRun = r.JSON(t)
	}

	type listed struct {
		Items []struct {
			ID     string          `json:"id"`
			Status string          `json:"status"`
			Input  json.RawMessage `json:"input"`
			Output json.RawMessage `json:"output"`
		} `json:"items"`
	}
	list := func(path, token string) listed {
		t.Helper()
		r := s.Do(t, Request{Method: "GET", Path: path, Token: token})
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, r.Status, r.Body)
		}
		var l listed
		if err := json.Unmarshal(r.Body, &l); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return l
	}
	all := list("/v1/admin/runs?limit=200", admin)
	if len(all.Items) != 8 {
		t.Fatalf("%d runs listed, want 8", len(all.Items))
	}
	for _, it := range all.Items {
		switch it.Status {
		case "succeeded":
			// Over 4 KiB: left out of lists, the gateway shows null.
			if string(it.Input) != "null" || string(it.Output) != "null" {
				t.Fatalf("paid run listed with %d bytes of input, %d of output", len(it.Input), len(it.Output))
			}
		case "failed":
			// Refused for funds: a preview of at most 4 KiB is kept.
			if len(it.Input) > 4<<10 || !strings.HasPrefix(string(it.Input), `{"$truncated":{"preview":"{\"text\": \"aaa`) {
				t.Fatalf("refused run's input: %.200s (%d bytes)", it.Input, len(it.Input))
			}
		}
	}
	if l := list("/v1/runs?limit=200", paid); len(l.Items) != 3 || string(l.Items[0].Input) != "null" {
		t.Fatalf("own list: %d items, input %.100s", len(l.Items), l.Items[0].Input)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/users/" + brokeID, Token: admin}); r.Status != 200 ||
		len(r.JSON(t)["recent_runs"].([]any)) != 5 {
		t.Fatalf("admin user page: %d %.300s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/runs?format=csv", Token: admin}); r.Status != 200 {
		t.Fatalf("CSV export: %d %.300s", r.Status, r.Body)
	}
	// The run itself has everything.
	r := s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + paidRun["id"].(string), Token: paid})
	got := r.JSON(t)
	if r.Status != 200 || len(got["input"].(map[string]any)["text"].(string)) != 250<<10 || got["output"] == nil {
		t.Fatalf("GET run: %d, input or output missing", r.Status)
	}
	// Inputs over 256 KiB are refused before anything is recorded.
	for _, r := range tooBig {
		if p := wantProblem(t, r, 400, "validation_failed"); !strings.Contains(string(r.Body), `"input"`) {
			t.Fatalf("a 900 KiB input: %v", p)
		}
	}
}
