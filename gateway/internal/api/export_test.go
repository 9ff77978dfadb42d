package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// pagedWallet serves n transactions, newest first, in pages whose cursor is
// the offset; failAt makes the page at that offset fail.
type pagedWallet struct {
	walletv1.WalletServiceClient
	n      int
	failAt int
	mu     sync.Mutex
	reqs   []*walletv1.AdminListTransactionsRequest
}

func (w *pagedWallet) AdminListTransactions(_ context.Context, req *walletv1.AdminListTransactionsRequest, _ ...grpc.CallOption) (*walletv1.AdminListTransactionsResponse, error) {
	w.mu.Lock()
	w.reqs = append(w.reqs, req)
	w.mu.Unlock()
	off := 0
	if req.GetCursor() != "" {
		var err error
		if off, err = strconv.Atoi(req.GetCursor()); err != nil {
			return nil, rpcerr.Validation("bad cursor", rpcerr.FieldViolation{Field: "cursor", Message: "invalid"})
		}
	}
	if w.failAt > 0 && off >= w.failAt {
		return nil, errors.New("wallet exploded")
	}
	limit := int(req.GetLimit())
	if limit < 1 || limit > 200 {
		return nil, rpcerr.Validation("bad limit", rpcerr.FieldViolation{Field: "limit", Message: "1-200"})
	}
	resp := &walletv1.AdminListTransactionsResponse{}
	for i := off; i < min(off+limit, w.n); i++ {
		desc := fmt.Sprintf("row %d", i)
		if i == 1 {
			desc = `=HYPERLINK("http://evil.example","x")`
		}
		resp.Transactions = append(resp.Transactions, &walletv1.Transaction{
			Id: fmt.Sprintf("tx-%06d", i), UserId: "u1", Kind: "adjustment", AmountCents: -int64(i),
			BalanceAfterCents: 1000, Description: desc, CreatedAt: timestamppb.New(time.Unix(1_700_000_000-int64(i), 0)),
		})
	}
	if off+limit < w.n {
		resp.NextCursor = strconv.Itoa(off + limit)
	}
	return resp, nil
}

type pagedRuns struct {
	workflowv1.WorkflowServiceClient
	n int
}

func (w pagedRuns) AdminListRuns(_ context.Context, req *workflowv1.AdminListRunsRequest, _ ...grpc.CallOption) (*workflowv1.AdminListRunsResponse, error) {
	off, _ := strconv.Atoi(req.GetCursor())
	resp := &workflowv1.AdminListRunsResponse{}
	for i := off; i < min(off+int(req.GetLimit()), w.n); i++ {
		resp.Runs = append(resp.Runs, &workflowv1.Run{
			Id: fmt.Sprintf("run-%d", i), UserId: "u1", Workflow: "echo", Status: "failed",
			Error: "@SUM(A1)", InputJson: []byte(`{"a":1}`), CreatedAt: timestamppb.Now(),
		})
	}
	if off+int(req.GetLimit()) < w.n {
		resp.NextCursor = strconv.Itoa(off + int(req.GetLimit()))
	}
	return resp, nil
}

func readCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v: %.300s", err, body)
	}
	return rows
}

func TestTransactionsCSVExport(t *testing.T) {
	t.Parallel()
	w := &pagedWallet{n: 450}
	b := setup(t, setupOpts{wallet: w})
	admin := b.keys.test.AccessToken(t, "admin-1", true)

	for _, tc := range []struct {
		name, path, accept string
	}{
		{"Accept", "/v1/admin/transactions", "text/csv"},
		{"Accept with JSON less preferred", "/v1/admin/transactions", "application/json;q=0.5, text/csv"},
		{"format", "/v1/admin/transactions?format=csv", ""},
		{"format wins over Accept", "/v1/admin/transactions?format=csv", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := withToken(newReq(http.MethodGet, tc.path, ""), admin)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, body := b.do(t, req)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
				t.Fatalf("%d %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			wantDisp := `attachment; filename="transactions-` + time.Now().UTC().Format("2006-01-02") + `.csv"`
			if got := resp.Header.Get("Content-Disposition"); got != wantDisp {
				t.Errorf("Content-Disposition %q, want %q", got, wantDisp)
			}
			if resp.Header.Get("X-Export-Row-Limit") != "100000" || !strings.Contains(resp.Header.Get("Vary"), "Accept") {
				t.Errorf("headers %v", resp.Header)
			}
			rows := readCSV(t, body)
			if len(rows) != 451 || strings.Join(rows[0], ",") != strings.Join(csvexport.TransactionsHeader, ",") {
				t.Fatalf("%d rows, header %v", len(rows), rows[0])
			}
			for i, r := range rows[1:] {
				if r[0] != fmt.Sprintf("tx-%06d", i) {
					t.Fatalf("row %d is %s", i, r[0])
				}
			}
			if rows[2][7] != `'=HYPERLINK("http://evil.example","x")` || rows[3][4] != "-2" || rows[3][5] != "-0.02" {
				t.Fatalf("cells %v / %v", rows[2], rows[3])
			}
		})
	}
	// Explicit JSON stays JSON.
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/admin/transactions?format=json&limit=2", ""), admin))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !bytes.Contains(body, []byte(`"next_cursor":"2"`)) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestTransactionsCSVFiltersAndCap(t *testing.T) {
	t.Parallel()
	w := &pagedWallet{n: 450}
	b := setup(t, setupOpts{wallet: w, csvMaxRows: 250})
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	resp, body := b.do(t, withToken(newReq(http.MethodGet,
		"/v1/admin/transactions?format=csv&kind=adjustment&user_id=8a0c5c43-1f6b-4a43-9c39-0f8d5d6a9f11&q=x&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00%2B01:00&cursor=10", ""), admin))
	if resp.StatusCode != 200 || resp.Header.Get("X-Export-Row-Limit") != "250" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rows := readCSV(t, body)
	if len(rows) != 251 || rows[1][0] != "tx-000010" || rows[250][0] != "tx-000259" {
		t.Fatalf("%d rows, first %v last %v", len(rows), rows[1], rows[len(rows)-1])
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.reqs {
		if r.GetKind() != "adjustment" || r.GetUserId() != "8a0c5c43-1f6b-4a43-9c39-0f8d5d6a9f11" || r.GetQuery() != "x" ||
			!r.GetCreatedFrom().AsTime().Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
			!r.GetCreatedTo().AsTime().Equal(time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)) {
			t.Fatalf("request %v", r)
		}
		// Pages never ask for more than the cap leaves.
		if r.GetLimit() > 200 {
			t.Fatalf("limit %d", r.GetLimit())
		}
	}
	if len(w.reqs) != 2 || w.reqs[1].GetLimit() != 50 {
		t.Fatalf("requests %v", w.reqs)
	}
}

func TestAdminListingValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{wallet: &pagedWallet{n: 3}})
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	tests := []struct {
		name, path, field string
	}{
		{"format", "/v1/admin/transactions?format=xml", "format"},
		{"runs format", "/v1/admin/runs?format=pdf", "format"},
		{"from not RFC 3339", "/v1/admin/transactions?from=2026-01-01", "from"},
		{"to not RFC 3339", "/v1/admin/transactions?to=yesterday", "to"},
		{"to before from", "/v1/admin/transactions?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"},
		{"to equals from", "/v1/admin/transactions?from=2026-02-01T00:00:00Z&to=2026-02-01T00:00:00Z", "to"},
		{"csv with a bad filter", "/v1/admin/transactions?format=csv&kind=gift", "kind"},
		{"q too long", "/v1/admin/transactions?q=" + strings.Repeat("a", 501), "q"},
		{"audit source", "/v1/admin/audit?source=billing", "source"},
		{"audit limit", "/v1/admin/audit?limit=201", "limit"},
		{"audit cursor", "/v1/admin/audit?cursor=garbage", "cursor"},
		{"audit cursor too long", "/v1/admin/audit?cursor=" + strings.Repeat("a", 2049), "cursor"},
		{"audit target too long", "/v1/admin/audit?target_id=" + strings.Repeat("a", 256), "target_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := b.do(t, withToken(newReq(http.MethodGet, tt.path, ""), admin))
			p := wantProblem(t, resp, body, 400, "validation_failed")
			if len(p.Errors) == 0 || p.Errors[0].Field != tt.field {
				t.Fatalf("errors %+v", p.Errors)
			}
		})
	}
}

// TestCSVExportFirstPageErrorIsAProblem: nothing is sent before the first
// page is read, so a service error is an ordinary problem document.
func TestCSVExportFirstPageErrorIsAProblem(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{wallet: &pagedWallet{n: 10}})
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/admin/transactions?format=csv&cursor=nope", ""), admin))
	wantProblem(t, resp, body, 400, "validation_failed")
}

// TestCSVExportFailureMidStreamAborts: a service failure after the first
// page cuts the response off, so the client cannot take a short file for a
// complete one.
func TestCSVExportFailureMidStreamAborts(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{wallet: &pagedWallet{n: 1000, failAt: 400}, writeTimeout: 5 * time.Second})
	addr := b.listen(t)
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/admin/transactions?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the body ended normally after %d bytes", len(body))
	}
	if !bytes.HasPrefix(body, []byte("id,created_at")) || !bytes.Contains(body, []byte("tx-000399")) {
		t.Fatalf("rows before the failure were not streamed: %.200s", body)
	}
}

func TestRunsCSVExport(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{workflowClient: pagedRuns{n: 205}})
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	req := withToken(newReq(http.MethodGet, "/v1/admin/runs?status=failed", ""), admin)
	req.Header.Set("Accept", "text/csv")
	resp, body := b.do(t, req)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="runs-`) {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	rows := readCSV(t, body)
	if len(rows) != 206 || strings.Join(rows[0], ",") != strings.Join(csvexport.RunsHeader, ",") || rows[205][0] != "run-204" {
		t.Fatalf("%d rows: %v", len(rows), rows[0])
	}
	if rows[1][11] != "'@SUM(A1)" || rows[1][12] != `{"a":1}` || rows[1][13] != "" {
		t.Fatalf("row %v", rows[1])
	}
	// HEAD gets the headers and no body, and does not leak the producer.
	resp, body = b.do(t, withToken(newReq(http.MethodHead, "/v1/admin/runs?format=csv", ""), admin))
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("HEAD: %d %d bytes", resp.StatusCode, len(body))
	}
}
