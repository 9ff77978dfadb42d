package stack

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// auditItem is one item of GET /v1/admin/audit.
type auditItem struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	ActorID    string          `json:"actor_id"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Reason     string          `json:"reason"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	CreatedAt  string          `json:"created_at"`
}

type auditPage struct {
	Items      []auditItem `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

func getAudit(t *testing.T, s *Stack, token, query string) auditPage {
	t.Helper()
	r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit" + query, Token: token})
	if r.Status != http.StatusOK {
		t.Fatalf("audit%s: %d %s", query, r.Status, r.Body)
	}
	var p auditPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// walkAudit reads every page of the audit log with pages of limit.
func walkAudit(t *testing.T, s *Stack, token, filter string, limit int) []auditItem {
	t.Helper()
	var all []auditItem
	cursor := ""
	for range 1000 {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		p := getAudit(t, s, token, "?"+q.Encode()+filter)
		if len(p.Items) > limit || (p.NextCursor != nil && len(p.Items) != limit) {
			t.Fatalf("page of %d items with limit %d, next %v", len(p.Items), limit, p.NextCursor)
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all
		}
		cursor = *p.NextCursor
	}
	t.Fatal("the audit walk does not end")
	return nil
}

func userID(t *testing.T, s *Stack, token string) string {
	t.Helper()
	r := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: token})
	if r.Status != 200 {
		t.Fatalf("/v1/me: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["id"].(string)
}

// adjust posts an adjustment with Idempotency-Key key, or a fresh one when
// key is "" (the header is required).
func adjust(t *testing.T, s *Stack, admin, user string, cents int64, reason, key string) Response {
	t.Helper()
	if key == "" {
		key = uuid.NewString()
	}
	return s.Do(t, Request{Method: "POST", Path: "/v1/admin/users/" + user + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": cents, "reason": reason}, Headers: map[string]string{"Idempotency-Key": key}})
}

func jsonObject(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %v", raw, err)
	}
	return m
}

// TestAdminAuditLog: an adjustment, a user disable and a workflow create
// each leave a record in their own service, and GET /v1/admin/audit shows
// them merged, newest first, with the actor, the reason, before and after;
// the merged log pages without losing or repeating an event.
func TestAdminAuditLog(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	admin := s.Admin(t)
	adminID := userID(t, s, admin)
	userTok, _, uid := s.Signup(t, "audited@example.com", "password-1")

	if r := adjust(t, s, admin, uid, 500, "goodwill credit", "audit-adj-1"); r.Status != 201 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/users/" + uid, Token: admin,
		Body: map[string]any{"is_active": false, "reason": "chargeback fraud"}}); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "audited", "name": "Audited", "webhook_url": "http://127.0.0.1:1/hook", "fee_cents": 7, "timeout_ms": 1000,
		"auth_header_name": "X-Key", "auth_header_value": "never-in-the-audit-log",
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}

	r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit", Token: admin})
	if r.Status != 200 || r.Header.Get("RateLimit-Limit") == "" {
		t.Fatalf("audit: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "never-in-the-audit-log") {
		t.Fatalf("the audit log shows a workflow secret: %s", r.Body)
	}
	var page auditPage
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if page.NextCursor != nil {
		t.Fatalf("next_cursor %v on a short log", *page.NextCursor)
	}
	find := func(action string) auditItem {
		t.Helper()
		for _, it := range page.Items {
			if it.Action == action {
				return it
			}
		}
		t.Fatalf("no %s event in %s", action, r.Body)
		return auditItem{}
	}
	adj, dis, wf := find("wallet.adjust"), find("user.disable"), find("workflow.create")
	// The three admin actions, newest first: workflow, disable, adjustment.
	if idx := func(id string) int {
		return slices.IndexFunc(page.Items, func(it auditItem) bool { return it.ID == id })
	}; !(idx(wf.ID) < idx(dis.ID) && idx(dis.ID) < idx(adj.ID)) {
		t.Fatalf("order: %s", r.Body)
	}
	for _, it := range []auditItem{adj, dis, wf} {
		if it.ActorID != adminID {
			t.Errorf("%s actor %q, want the admin %s", it.Action, it.ActorID, adminID)
		}
		if _, err := time.Parse(time.RFC3339, it.CreatedAt); err != nil || it.ID == "" {
			t.Errorf("%s: id %q created_at %q", it.Action, it.ID, it.CreatedAt)
		}
	}
	if adj.Source != "wallet" || adj.TargetID != uid || adj.Reason != "goodwill credit" {
		t.Errorf("adjustment %+v", adj)
	}
	if b, a := jsonObject(t, adj.Before), jsonObject(t, adj.After); len(a) == 0 || bytes.Equal(adj.Before, adj.After) || len(b) == 0 {
		t.Errorf("adjustment before %s after %s", adj.Before, adj.After)
	}
	if !strings.Contains(string(adj.After), "500") {
		t.Errorf("adjustment after %s does not show the new balance", adj.After)
	}
	if dis.Source != "identity" || dis.TargetType != "user" || dis.TargetID != uid || dis.Reason != "chargeback fraud" {
		t.Errorf("disable %+v", dis)
	}
	if jsonObject(t, dis.Before)["is_active"] != true || jsonObject(t, dis.After)["is_active"] != false {
		t.Errorf("disable before %s after %s", dis.Before, dis.After)
	}
	if wf.Source != "workflow" || wf.TargetType != "workflow" || wf.TargetID != "audited" || string(wf.Before) != "null" {
		t.Errorf("workflow create %+v", wf)
	}
	if after := jsonObject(t, wf.After); after["fee_cents"] != float64(7) {
		t.Errorf("workflow create after %s", wf.After)
	}

	// Filters.
	for _, it := range getAudit(t, s, admin, "?source=wallet").Items {
		if it.Source != "wallet" {
			t.Fatalf("?source=wallet gave %+v", it)
		}
	}
	byUser := getAudit(t, s, admin, "?target_id="+uid)
	if len(byUser.Items) != 2 || byUser.Items[0].ID != dis.ID || byUser.Items[1].ID != adj.ID {
		t.Fatalf("?target_id=user: %+v", byUser.Items)
	}
	if p := getAudit(t, s, admin, "?target_id=audited&source=workflow"); len(p.Items) != 1 || p.Items[0].ID != wf.ID {
		t.Fatalf("?target_id=slug: %+v", p.Items)
	}

	// Non-admins see nothing (the disabled user's access token is still
	// valid until it expires, and is no admin's).
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit", Token: userTok}), 403, "forbidden")
	other, _, _ := s.Signup(t, "curious@example.com", "password-1")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit", Token: other}), 403, "forbidden")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit"}), 401, "unauthorized")

	// More events in all three services, interleaved, then walk the merged
	// log with small pages: every event once, in order.
	for i := range 6 {
		switch i % 3 {
		case 0:
			if r := adjust(t, s, admin, uid, int64(i+1), "batch "+strconv.Itoa(i), ""); r.Status != 201 {
				t.Fatalf("adjust: %d %s", r.Status, r.Body)
			}
		case 1:
			if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/users/" + uid, Token: admin,
				Body: map[string]any{"is_active": i%2 == 0, "reason": "toggle"}}); r.Status != 200 {
				t.Fatalf("toggle: %d %s", r.Status, r.Body)
			}
		case 2:
			if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/workflows/audited", Token: admin,
				Body: map[string]any{"fee_cents": i}}); r.Status != 200 {
				t.Fatalf("edit workflow: %d %s", r.Status, r.Body)
			}
		}
	}
	full := walkAudit(t, s, admin, "", 200)
	if len(full) < 9 {
		t.Fatalf("%d events", len(full))
	}
	for i := 1; i < len(full); i++ {
		if full[i-1].CreatedAt < full[i].CreatedAt {
			t.Fatalf("not newest first at %d: %s then %s", i, full[i-1].CreatedAt, full[i].CreatedAt)
		}
	}
	sources := map[string]int{}
	for _, it := range full {
		sources[it.Source]++
	}
	if sources["identity"] < 3 || sources["wallet"] < 3 || sources["workflow"] < 3 {
		t.Fatalf("sources %v", sources)
	}
	ids := func(items []auditItem) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = it.Source + "/" + it.ID
		}
		return out
	}
	for _, limit := range []int{1, 2, 4} {
		if got := walkAudit(t, s, admin, "", limit); !slices.Equal(ids(got), ids(full)) {
			t.Fatalf("limit %d walk:\n%v\nwant\n%v", limit, ids(got), ids(full))
		}
	}
	// A cursor only continues the list it was made for.
	first := getAudit(t, s, admin, "?limit=2")
	if first.NextCursor == nil || len(*first.NextCursor) > 1024 {
		t.Fatalf("next_cursor %v (the route accepts 2048 bytes; keep a margin)", first.NextCursor)
	}
	m := wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit?source=wallet&cursor=" + url.QueryEscape(*first.NextCursor), Token: admin}), 400, "validation_failed")
	if m["errors"].([]any)[0].(map[string]any)["field"] != "cursor" {
		t.Fatalf("%v", m)
	}
}

// TestAdminCSVExports: the transactions and runs listings as CSV files,
// through Accept and ?format=, with formula cells neutralised.
func TestAdminCSVExports(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 100})
	rc := newReceiver(t)
	admin := s.Admin(t)
	tok, _, uid := s.Signup(t, "exported@example.com", "password-1")
	if r := adjust(t, s, admin, uid, 1000, `=HYPERLINK("http://evil.example","click")`, ""); r.Status != 201 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	if r := adjust(t, s, admin, uid, -100, "+correction", ""); r.Status != 201 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "echo", "name": "Echo", "webhook_url": rc.URL, "fee_cents": 10, "timeout_ms": 5000,
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	for i := range 3 {
		if r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{"n": i}}}); r.Status != 200 {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
	}
	today := time.Now().UTC().Format("2006-01-02")

	readCSV := func(r Response, name string) [][]string {
		t.Helper()
		if r.Status != 200 || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("%d %s: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if d := r.Header.Get("Content-Disposition"); d != `attachment; filename="`+name+`-`+today+`.csv"` {
			t.Fatalf("Content-Disposition %q", d)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v: %s", err, r.Body)
		}
		return rows
	}

	// Transactions: adjustments and fees of the user, newest first.
	for _, req := range []Request{
		{Method: "GET", Path: "/v1/admin/transactions?user_id=" + uid, Token: admin, Headers: map[string]string{"Accept": "text/csv"}},
		{Method: "GET", Path: "/v1/admin/transactions?format=csv&user_id=" + uid, Token: admin},
	} {
		rows := readCSV(s.Do(t, req), "transactions")
		if strings.Join(rows[0], ",") != "id,created_at,user_id,kind,amount_cents,amount,balance_after_cents,description,reference_type,reference_id" {
			t.Fatalf("header %v", rows[0])
		}
		if len(rows) != 6 {
			t.Fatalf("%d rows: %v", len(rows), rows)
		}
		kinds := []string{}
		for _, row := range rows[1:] {
			kinds = append(kinds, row[3])
			if row[2] != uid {
				t.Fatalf("row %v", row)
			}
		}
		if strings.Join(kinds, ",") != "fee,fee,fee,adjustment,adjustment" {
			t.Fatalf("kinds %v", kinds)
		}
		if rows[5][7] != `'=HYPERLINK("http://evil.example","click")` || rows[5][4] != "1000" || rows[5][5] != "10.00" {
			t.Fatalf("first adjustment %v", rows[5])
		}
		if rows[4][7] != "'+correction" || rows[4][4] != "-100" || rows[4][5] != "-1.00" || rows[4][6] != "900" {
			t.Fatalf("second adjustment %v", rows[4])
		}
	}
	// Filters apply to the export: kind, and a date range.
	if rows := readCSV(s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?format=csv&kind=adjustment&user_id=" + uid, Token: admin}), "transactions"); len(rows) != 3 {
		t.Fatalf("kind filter: %v", rows)
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if rows := readCSV(s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?format=csv&from=" + future, Token: admin}), "transactions"); len(rows) != 1 {
		t.Fatalf("from in the future: %v", rows)
	}
	past := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?from=" + past + "&to=" + future + "&user_id=" + uid, Token: admin})
	if r.Status != 200 || strings.Count(string(r.Body), `"user_id":"`+uid+`"`) != 5 {
		t.Fatalf("date range (JSON): %d %s", r.Status, r.Body)
	}
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?from=" + future + "&to=" + past, Token: admin}), 400, "validation_failed")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?from=yesterday", Token: admin}), 400, "validation_failed")

	// Runs.
	for _, req := range []Request{
		{Method: "GET", Path: "/v1/admin/runs?user_id=" + uid, Token: admin, Headers: map[string]string{"Accept": "text/csv"}},
		{Method: "GET", Path: "/v1/admin/runs?format=csv&workflow=echo", Token: admin},
	} {
		rows := readCSV(s.Do(t, req), "runs")
		if strings.Join(rows[0], ",") != "id,created_at,user_id,workflow,status,fee_cents,charged_cents,http_status,duration_ms,started_at,finished_at,error,input_json,output_json,api_key_id" {
			t.Fatalf("header %v", rows[0])
		}
		if len(rows) != 4 {
			t.Fatalf("%d rows", len(rows))
		}
		for i, row := range rows[1:] {
			if row[2] != uid || row[3] != "echo" || row[4] != "succeeded" || row[6] != "10" || row[7] != "200" ||
				!jsonEqual(row[12], `{"n":`+strconv.Itoa(2-i)+`}`) {
				t.Fatalf("row %d: %v", i, row)
			}
		}
	}
	// Non-admins get no export.
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?format=csv", Token: tok}), 403, "forbidden")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/runs", Token: tok, Headers: map[string]string{"Accept": "text/csv"}}), 403, "forbidden")
}
