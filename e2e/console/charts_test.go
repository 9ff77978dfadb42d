package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/gateway/webtest"
	"github.com/meterflow/meterflow/platform/callauth"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// TestOverviewChartsMatchTheLedger seeds deposits (paid top-ups through
// the Stripe webhook), fees and runs (succeeded and failed runs through the
// public API), spreads them over the last month (and one beyond it) in
// the services' databases, and checks that every number the overview's
// charts draw is the ledger's: deposits and fees per UTC day, runs per
// UTC hour by outcome, and the busiest workflows in order. The users'
// own statistics (GetSpendByDay, GetRunStats) hold their own data only.
func TestOverviewChartsMatchTheLedger(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{LoginPerMinute: 1000})
	admin := b.stack.Login(t, b.admin, adminPassword)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(ok.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	for _, wf := range []struct {
		slug, url string
		fee       int
	}{{"alpha", ok.URL, 25}, {"beta", broken.URL, 10}, {"gamma", ok.URL, 5}} {
		if r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
			"slug": wf.slug, "name": wf.slug, "webhook_url": wf.url, "fee_cents": wf.fee, "timeout_ms": 5000,
		}}); r.Status != http.StatusCreated {
			t.Fatalf("create workflow %s: %d %s", wf.slug, r.Status, r.Body)
		}
	}

	type user struct {
		id, token string
		topUps    []int64
		runs      []string // workflow slugs
	}
	users := []*user{
		{topUps: []int64{2000, 750}, runs: []string{"alpha", "alpha", "beta", "gamma", "alpha", "beta", "alpha"}},
		{topUps: []int64{1500}, runs: []string{"gamma", "alpha", "gamma", "beta", "gamma", "alpha"}},
	}
	for i, u := range users {
		email := fmt.Sprintf("chart-%d-%s@example.com", i, randomHex())
		u.id = b.signUp(email)
		u.token = b.stack.Login(t, email, "user-password-1")
		for j, cents := range u.topUps {
			topUp(t, b, u.token, u.id, cents, fmt.Sprintf("pi_chart_%d_%d", i, j))
		}
		for _, slug := range u.runs {
			r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/" + slug + "/runs", Token: u.token, Body: map[string]any{"input": map[string]any{}}})
			if want := map[bool]int{true: http.StatusBadGateway, false: http.StatusOK}[slug == "beta"]; r.Status != want {
				t.Fatalf("run %s: %d %s", slug, r.Status, r.Body)
			}
		}
	}

	// Every succeeded run's fee is booked before the rows move.
	ctx, cancel := context.WithTimeout(callauth.WithUserToken(context.Background(), admin), time.Minute)
	defer cancel()
	for deadline := time.Now().Add(10 * time.Second); ; {
		fees := 0
		for _, tx := range allTransactions(t, ctx, b.wallet) {
			if tx.GetKind() == "fee" {
				fees++
			}
		}
		if fees == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fees booked, want 10 (one per succeeded run)", fees)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Spread the rows over the month: each row moves back by the next of
	// these shifts (the last two leave the daily and the hourly window).
	shifts := []time.Duration{0, time.Hour, 5 * time.Hour, 26 * time.Hour, 7*24*time.Hour + 3*time.Hour, 29 * 24 * time.Hour, 24 * time.Hour, 31 * 24 * time.Hour}
	backdate(t, b.stack.WalletDatabaseURL, "transactions", shifts, true)
	backdate(t, b.stack.WorkflowDatabaseURL, "runs", shifts, false)

	ledger := allTransactions(t, ctx, b.wallet)
	runs := allRuns(t, ctx, b.workflow)
	if len(runs) != 13 {
		t.Fatalf("%d runs, want 13", len(runs))
	}

	before := time.Now().UTC()
	p := b.newBrowser().mustLogin(b.admin)
	after := time.Now().UTC()

	// Deposits and fees per UTC day: 30 days, today last, each the ledger's sum.
	money := webtest.ReadChart(t, p.Body, "chart-money")
	if len(money.Bars) != 30 || !oneOf(money.Bars[29].Label, before.Format(time.DateOnly), after.Format(time.DateOnly)) {
		t.Fatalf("money chart: %d bars, last %q", len(money.Bars), money.Bars[len(money.Bars)-1].Label)
	}
	perDay := map[string][2]int64{}
	for _, tx := range ledger {
		day := tx.GetCreatedAt().AsTime().UTC().Format(time.DateOnly)
		s := perDay[day]
		switch tx.GetKind() {
		case "deposit":
			s[0] += tx.GetAmountCents()
		case "fee":
			s[1] -= tx.GetAmountCents()
		}
		perDay[day] = s
	}
	var shownDeposits, shownFees, inWindow int64
	for i, bar := range money.Bars {
		if i > 0 && bar.Label != dayAfter(t, money.Bars[i-1].Label) {
			t.Fatalf("money chart: %s follows %s", bar.Label, money.Bars[i-1].Label)
		}
		want := perDay[bar.Label]
		if bar.Values[0] != want[0] || bar.Values[1] != want[1] {
			t.Errorf("money chart %s: deposits %d, fees %d; the ledger has %d, %d", bar.Label, bar.Values[0], bar.Values[1], want[0], want[1])
		}
		shownDeposits += bar.Values[0]
		shownFees += bar.Values[1]
	}
	for day, s := range perDay {
		if day >= money.Bars[0].Label {
			inWindow += s[0] + s[1]
		}
	}
	if shownDeposits+shownFees != inWindow || shownDeposits == 0 || shownFees == 0 {
		t.Errorf("money chart sums %d+%d, the ledger's window %d", shownDeposits, shownFees, inWindow)
	}

	// Runs per UTC hour by outcome: 720 hours, this one last.
	hourly := webtest.ReadChart(t, p.Body, "chart-runs-hourly")
	const hourLayout = "2006-01-02 15:04 UTC"
	if len(hourly.Bars) != 720 || !oneOf(hourly.Bars[719].Label, before.Truncate(time.Hour).Format(hourLayout), after.Truncate(time.Hour).Format(hourLayout)) {
		t.Fatalf("hourly chart: %d bars, last %q", len(hourly.Bars), hourly.Bars[len(hourly.Bars)-1].Label)
	}
	first, err := time.Parse(hourLayout, hourly.Bars[0].Label)
	if err != nil {
		t.Fatal(err)
	}
	perHour := map[string]map[string]int64{}
	perWorkflow := map[string]map[string]int64{}
	for _, r := range runs {
		at := r.GetCreatedAt().AsTime().UTC()
		if at.Before(first) {
			continue
		}
		h := at.Truncate(time.Hour).Format(hourLayout)
		if perHour[h] == nil {
			perHour[h] = map[string]int64{}
		}
		perHour[h][r.GetStatus()]++
		if perWorkflow[r.GetWorkflow()] == nil {
			perWorkflow[r.GetWorkflow()] = map[string]int64{}
		}
		perWorkflow[r.GetWorkflow()][r.GetStatus()]++
	}
	var shownRuns int64
	for _, bar := range hourly.Bars {
		for _, status := range []string{"queued", "running", "succeeded", "failed"} {
			got, _ := hourly.Value(bar.Label, status)
			if want := perHour[bar.Label][status]; got != want {
				t.Errorf("hourly chart %s %s: %d, the runs say %d", bar.Label, status, got, want)
			}
			shownRuns += got
		}
	}
	if shownRuns != 12 { // 13 runs, one moved out of the window
		t.Errorf("hourly chart shows %d runs, want 12", shownRuns)
	}

	// The busiest workflows: most runs in the window first, then by slug.
	type ranked struct {
		slug  string
		total int64
	}
	var want []ranked
	for slug, byStatus := range perWorkflow {
		r := ranked{slug: slug}
		for _, n := range byStatus {
			r.total += n
		}
		want = append(want, r)
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].total != want[j].total {
			return want[i].total > want[j].total
		}
		return want[i].slug < want[j].slug
	})
	busiest := webtest.ReadChart(t, p.Body, "chart-busiest")
	if len(busiest.Bars) != len(want) {
		t.Fatalf("busiest chart: %d bars, want %d", len(busiest.Bars), len(want))
	}
	for i, w := range want {
		bar := busiest.Bars[i]
		var total int64
		for j, status := range busiest.Series {
			total += bar.Values[j]
			if bar.Values[j] != perWorkflow[w.slug][status] {
				t.Errorf("busiest %s %s: %d, the runs say %d", w.slug, status, bar.Values[j], perWorkflow[w.slug][status])
			}
		}
		if bar.Label != w.slug || total != w.total {
			t.Errorf("busiest #%d: %s with %d, want %s with %d", i+1, bar.Label, total, w.slug, w.total)
		}
	}

	// Each user's statistics hold their own rows only.
	for _, u := range users {
		uctx := callauth.WithUserToken(context.Background(), u.token)
		spend, err := b.wallet.GetSpendByDay(uctx, &walletv1.GetSpendByDayRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var wantSpend int64
		for _, tx := range ledger {
			if tx.GetUserId() == u.id && tx.GetKind() == "fee" && tx.GetCreatedAt().AsTime().UTC().Format(time.DateOnly) >= spend.GetDays()[0].GetDate() {
				wantSpend -= tx.GetAmountCents()
			}
		}
		if len(spend.GetDays()) != 30 || spend.GetTotalCents() != wantSpend || wantSpend == 0 {
			t.Errorf("user %s spend: %d days, %d cents; the ledger has %d", u.id, len(spend.GetDays()), spend.GetTotalCents(), wantSpend)
		}
		st, err := b.workflow.GetRunStats(uctx, &workflowv1.GetRunStatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var wantRuns int64
		for _, r := range runs {
			if r.GetUserId() == u.id && r.GetCreatedAt().AsTime().UTC().Format(time.DateOnly) >= st.GetByDay()[0].GetDate() {
				wantRuns++
			}
		}
		tot := st.GetTotal()
		if got := tot.GetQueued() + tot.GetRunning() + tot.GetSucceeded() + tot.GetFailed(); len(st.GetByDay()) != 30 || got != wantRuns {
			t.Errorf("user %s runs: %d days, %d runs; want %d", u.id, len(st.GetByDay()), got, wantRuns)
		}
	}
}

// topUp pays a top-up of cents for the user: created through the API,
// credited by a signed checkout.session.completed webhook.
func topUp(t *testing.T, b *bundle, token, userID string, cents int64, paymentIntent string) {
	t.Helper()
	r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/wallet/topups", Token: token, Body: map[string]any{"amount_cents": cents}})
	if r.Status != http.StatusCreated {
		t.Fatalf("top-up: %d %s", r.Status, r.Body)
	}
	top := r.JSON(t)
	event := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: top["id"].(string), UserID: userID, AmountTotal: cents,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: paymentIntent,
	})
	if r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, stack.WebhookSecret, time.Now())}}); r.Status != http.StatusOK {
		t.Fatalf("webhook: %d %s", r.Status, r.Body)
	}
}

// backdate moves the rows of table back in time, the i-th (in a fixed
// shuffle of their ids) by shifts[i % len(shifts)]. The ledger is append-only by trigger; the test
// (the database's owner) lifts the triggers for its own session only.
func backdate(t *testing.T, dbURL, table string, shifts []time.Duration, ledger bool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if ledger {
		if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT id::text FROM `+table+` ORDER BY md5(id::text)`) // a fixed shuffle: deposits, fees and runs of every kind move
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		shift := shifts[i%len(shifts)]
		if _, err := conn.Exec(ctx, `UPDATE `+table+` SET created_at = created_at - $1::interval WHERE id = $2`, fmt.Sprintf("%d seconds", int64(shift.Seconds())), id); err != nil {
			t.Fatal(err)
		}
	}
}

// allTransactions pages through the whole ledger as the admin sees it.
func allTransactions(t *testing.T, ctx context.Context, w walletv1.WalletServiceClient) []*walletv1.Transaction {
	t.Helper()
	var out []*walletv1.Transaction
	cursor := ""
	for {
		r, err := w.AdminListTransactions(ctx, &walletv1.AdminListTransactionsRequest{Limit: 200, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.GetTransactions()...)
		if cursor = r.GetNextCursor(); cursor == "" {
			return out
		}
	}
}

// allRuns pages through every run as the admin sees them.
func allRuns(t *testing.T, ctx context.Context, wf workflowv1.WorkflowServiceClient) []*workflowv1.Run {
	t.Helper()
	var out []*workflowv1.Run
	cursor := ""
	for {
		r, err := wf.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{Limit: 200, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.GetRuns()...)
		if cursor = r.GetNextCursor(); cursor == "" {
			return out
		}
	}
}

func dayAfter(t *testing.T, date string) string {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	return d.AddDate(0, 0, 1).Format(time.DateOnly)
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}
