//go:build drills

package drills

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	gateway "github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	identity "github.com/meterflow/meterflow/services/identity/app"
	identitymigrations "github.com/meterflow/meterflow/services/identity/migrations"
	notify "github.com/meterflow/meterflow/services/notify/app"
	"github.com/meterflow/meterflow/services/notify/smtptest"
	walletapp "github.com/meterflow/meterflow/services/wallet/app"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
	workflow "github.com/meterflow/meterflow/services/workflow/app"
	workflowmigrations "github.com/meterflow/meterflow/services/workflow/migrations"
)

// eventsRig is the product for the webhook drill: notify and the workflow
// service as processes (SIGKILLed and restarted), identity, the wallet and
// the gateway in process, and the users' endpoints on one receiver.
type eventsRig struct {
	*stack
	notify *e2e.Proc
	hooks  *hookReceiver
}

// hookReceiver is the users' webhook endpoints: /u/<user id>, answering
// 204 and keeping every request.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []hookRequest
	hits atomic.Int64
}

type hookRequest struct {
	user   string
	header http.Header
	body   []byte
}

func startHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, hookRequest{user: strings.TrimPrefix(req.URL.Path, "/u/"), header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		r.hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// startEventsRig starts the rig with fast settling and notify's rescue of
// a killed attempt after 12 s.
func startEventsRig(t *testing.T) *eventsRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	log := logger()
	dir := t.TempDir()
	if err := e2e.Build(dir, "notify", "workflow"); err != nil {
		t.Fatal(err)
	}
	notifyAddr, workflowAddr := freeAddr(t), freeAddr(t)
	serve := func(serveFn func(context.Context, net.Listener) error) string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _ = serveFn(ctx, lis) })
		return lis.Addr().String()
	}

	_, idURL := dbtest.New(t, identitymigrations.FS)
	if err := identity.MigrateJobs(ctx, idURL, log); err != nil {
		t.Fatal(err)
	}
	idCfg := e2e.IdentityConfig(idURL)
	idCfg.AccessTokenTTL, idCfg.NotifyAddr = time.Hour, notifyAddr
	ida, err := identity.New(ctx, idCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ida.Close)
	idAddr := serve(ida.Serve)

	_, walletDB := dbtest.New(t, walletmigrations.FS)
	if err := walletapp.MigrateQueue(ctx, walletDB, log); err != nil {
		t.Fatal(err)
	}
	wa, err := walletapp.New(ctx, walletapp.Config{
		Common: e2e.Common(), DatabaseURL: walletDB, IdentityAddr: idAddr,
		StripeSecretKey: "sk_test_123", StripeWebhookSecret: webhookSecret, StripeAPIBase: stripemocktest.Start(t),
		TopUpMinCents: 500, TopUpMaxCents: 100000, Currency: "usd", AdjustmentMaxCents: 1_000_000,
		CheckoutSuccessURL: "http://localhost/success", CheckoutCancelURL: "http://localhost/cancel",
		HoldDefaultTTL: 15 * time.Minute, IdempotencyTTL: 24 * time.Hour, HoldSweepInterval: sweepInterval,
		JobWorkers: 2, NotifyAddr: notifyAddr, PublicBaseURL: "http://127.0.0.1:8080",
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wa.Close)
	walletAddr := serve(wa.Serve)

	var notifyDB string
	_, notifyDB = dbtest.New(t, nil)
	if err := notify.Migrate(ctx, notifyDB, log); err != nil {
		t.Fatal(err)
	}
	_, workflowDB := dbtest.New(t, workflowmigrations.FS)
	if err := workflow.MigrateQueue(ctx, workflowDB, log); err != nil {
		t.Fatal(err)
	}
	common := []string{"APP_ENV=development", "LOG_LEVEL=info", "INTERNAL_AUTH_SECRET=" + secret,
		"JWT_ISSUER=meterflow-identity", "JWT_AUDIENCE=meterflow-api", "IDENTITY_ADDR=" + idAddr,
		"METRICS_ADDR=", "SHUTDOWN_GRACE=2s", "NOTIFY_ADDR=" + notifyAddr}
	proc := func(name, addr string, env ...string) *e2e.Proc {
		return &e2e.Proc{Name: name, Addr: addr, Bin: filepath.Join(dir, name), LogPath: filepath.Join(dir, name+".log"),
			Ready: e2e.GRPCServing(addr), DieWithParent: true, Env: append(append([]string{"GRPC_ADDR=" + addr}, common...), env...)}
	}
	rig := &eventsRig{hooks: startHookReceiver(t)}
	rig.notify = proc("notify", notifyAddr, "DATABASE_URL="+notifyDB, "SMTP_URL="+smtptest.Start(t).URL(),
		"MAIL_FROM="+e2e.MailFrom, "WEBHOOK_ALLOW_PRIVATE=true",
		"NOTIFY_SEND_TIMEOUT="+notifySendTimeout.String(), "NOTIFY_RESCUE_AFTER="+notifyRescueAfter.String())
	wf := proc("workflow", workflowAddr, "DATABASE_URL="+workflowDB, "WALLET_ADDR="+walletAddr,
		"WORKFLOW_SETTLE_GRACE="+settleGrace.String(), "WORKFLOW_SETTLE_INTERVAL="+settleInterval.String(),
		"WORKFLOW_ASYNC_START_WINDOW="+asyncWindow.String(), "WORKFLOW_WORKERS=8", "WORKFLOW_ALLOW_PRIVATE=true")
	for _, p := range []*e2e.Proc{rig.notify, wf} {
		t.Cleanup(func() {
			p.Kill()
			if t.Failed() {
				t.Logf("%s logs (last 4 KiB):\n%s", p.Name, e2e.Tail(p.LogPath, 4096))
			}
		})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}

	gwCfg := e2e.GatewayConfig(idAddr, walletAddr, workflowAddr, e2e.RedisURL())
	gwCfg.NotifyAddr = notifyAddr
	gwCfg.AuthPerMinute, gwCfg.RunsPerMinute, gwCfg.APIPerMinute = 100000, 100000, 100000
	gw, err := gateway.New(ctx, gwCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	rig.stack = &stack{URL: "http://" + serve(gw.Serve), walletDB: walletDB, workflowDB: workflowDB, identity: idCfg,
		gateway: gw, workflow: wf, client: &http.Client{Timeout: 30 * time.Second}}
	rig.waitReady(t)
	return rig
}

// TestWebhookEventsSurviveKills runs a burst of sync and async runs,
// succeeding and failing, for three users with an endpoint each, and
// SIGKILLs notify, then the workflow service, in the middle of it. Every
// run that exists ends with its event delivered to its user's endpoint,
// signed with that endpoint's secret, of the type its final status says;
// no run's event arrives under two webhook-ids (the same id twice is
// allowed: at least once).
func TestWebhookEventsSurviveKills(t *testing.T) {
	r := startEventsRig(t)
	admin := r.admin(t)
	n8n := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		if strings.HasSuffix(req.URL.Path, "/fail") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(n8n.Close)
	for _, slug := range []string{"ok", "fail"} {
		r.mustDo(t, 201, "POST", "/v1/admin/workflows", admin, map[string]any{
			"slug": slug, "name": slug, "webhook_url": n8n.URL + "/" + slug, "timeout_ms": 2000}, nil)
	}
	type user struct{ token, id string }
	var users []user
	keys := map[string]stdwebhooks.Key{}
	for range 3 {
		tok, id := r.signup(t)
		r.mustDo(t, 201, "POST", "/v1/admin/users/"+id+"/adjustments", admin,
			map[string]any{"amount_cents": 100000, "reason": "drill funds"}, map[string]string{"Idempotency-Key": e2e.RandomHex()})
		ep := r.mustDo(t, 201, "POST", "/v1/webhook-endpoints", tok, map[string]any{
			"url": r.hooks.URL + "/u/" + id, "events": []string{"run.succeeded", "run.failed"}}, nil)
		key, err := stdwebhooks.ParseSecret(ep["secret"].(string))
		if err != nil {
			t.Fatal(err)
		}
		users, keys[id] = append(users, user{tok, id}), key
	}

	// The burst, and the kills in its middle.
	ctx, stop := context.WithTimeout(context.Background(), 16*time.Second)
	defer stop()
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				u := users[(w+i)%len(users)]
				slug := "ok"
				if rand.IntN(5) == 0 {
					slug = "fail"
				}
				path := "/v1/workflows/" + slug + "/runs"
				if rand.IntN(2) == 0 {
					path += "?async=true"
				}
				r.do(context.Background(), "POST", path, u.token, map[string]any{"input": map[string]any{"w": w, "i": i}}, nil)
				sent.Add(1)
			}
		})
	}
	var workflowKilledAt time.Time
	kill := func(p *e2e.Proc, at, down time.Duration) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(at):
		}
		if p == r.workflow {
			workflowKilledAt = time.Now()
		}
		p.Kill()
		time.Sleep(down)
		restart(t, p)
	}
	wg.Go(func() { kill(r.notify, 4*time.Second, 1500*time.Millisecond) })
	wg.Go(func() { kill(r.workflow, 9*time.Second, time.Second) })
	wg.Wait()
	if t.Failed() {
		return
	}

	runs := waitRunsFinal(t, r.workflowDB)
	stuck := r.leftRunning(t, workflowKilledAt)
	r.waitRunEvents(t, runs, keys)
	// The jobs the kill left running are run again once taken back (their
	// events were often handed over already, only River's record of it was
	// lost): notify must answer them with the events it has.
	r.waitOutboxDrained(t)
	got := r.waitRunEvents(t, runs, keys)
	var twice int
	for _, n := range got {
		twice += n - 1
	}
	t.Logf("DRILL webhooks: %d requests sent, %d runs, every run's event delivered once per webhook-id (%d redeliveries of an id, %d requests in all; %d event jobs the kill left running, taken back by the outbox's rescuer)",
		sent.Load(), len(runs), twice, r.hooks.hits.Load(), stuck)
}

// finalRun is a run as the workflow's database has it once it finished.
type finalRun struct{ user, status string }

// waitRunsFinal waits until no run is queued or running (the settler
// finishes the ones the kill left) and returns every run.
func waitRunsFinal(t *testing.T, dbURL string) map[string]finalRun {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	deadline := time.Now().Add(asyncWindow + 3*time.Second + settleGrace + 10*settleInterval + 20*time.Second)
	for {
		var open int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM runs WHERE status IN ('queued', 'running')`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs still queued or running", open)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rows, err := pool.Query(ctx, `SELECT id::text, user_id, status FROM runs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]finalRun{}
	for rows.Next() {
		var id string
		var f finalRun
		if err := rows.Scan(&id, &f.user, &f.status); err != nil {
			t.Fatal(err)
		}
		out[id] = f
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// leftRunning counts the outbox jobs that were being worked when the
// workflow process was killed: River would take them back only after the
// longest run's horizon (35 min); the outbox's rescuer takes them back
// after outbox.RescueAfter (docs/adr/0014), which the drill waits for.
func (r *eventsRig) leftRunning(t *testing.T, killedBefore time.Time) int {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), r.workflowDB)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job
		WHERE queue = 'outbox' AND state = 'running' AND attempted_at < $1`, killedBefore).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitOutboxDrained waits until the workflow's outbox has nothing left to
// hand to notify: no row in its outbox table (the relay's, ADR 0021) and
// every event job (River's, queued before it) completed, none discarded
// or cancelled.
func (r *eventsRig) waitOutboxDrained(t *testing.T) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), r.workflowDB)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	deadline := time.Now().Add(outbox.RescueAfter + 2*time.Minute)
	for {
		var open, lost int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE state NOT IN ('completed', 'cancelled', 'discarded')),
			count(*) FILTER (WHERE state IN ('cancelled', 'discarded')) FROM river_job WHERE queue = 'outbox'`).Scan(&open, &lost); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox_events`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if lost > 0 {
			t.Fatalf("%d event jobs cancelled or discarded", lost)
		}
		if open+rows == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d event jobs still open, %d events in the outbox table", open, rows)
		}
		time.Sleep(time.Second)
	}
}

// waitRunEvents waits until every run's event arrived at its user's
// endpoint and checks each request: signed with the user's secret, the
// type of the run's final status, one webhook-id per run. It returns how
// many requests each webhook-id took.
func (r *eventsRig) waitRunEvents(t *testing.T, runs map[string]finalRun, keys map[string]stdwebhooks.Key) map[string]int {
	t.Helper()
	// Notify's retries and the outbox's rescue (outbox.RescueAfter plus
	// its 30 s interval) bound the wait.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		byRun, perID := map[string]string{}, map[string]int{}
		r.hooks.mu.Lock()
		got := append([]hookRequest(nil), r.hooks.got...)
		r.hooks.mu.Unlock()
		for _, h := range got {
			if err := stdwebhooks.Verify(h.body, h.header, time.Now(), keys[h.user]); err != nil {
				t.Fatalf("a delivery to %s: %v", h.user, err)
			}
			var ev struct {
				Type string
				Data struct{ ID, Status string }
			}
			if err := json.Unmarshal(h.body, &ev); err != nil {
				t.Fatal(err)
			}
			run, ok := runs[ev.Data.ID]
			id := h.header.Get("webhook-id")
			switch {
			case !ok || run.user != h.user:
				t.Fatalf("an event for run %s reached %s: %s", ev.Data.ID, h.user, h.body)
			case ev.Type != "run."+run.status || ev.Data.Status != run.status:
				t.Fatalf("run %s ended %s but its event says %s: %s", ev.Data.ID, run.status, ev.Type, h.body)
			case byRun[ev.Data.ID] != "" && byRun[ev.Data.ID] != id:
				t.Fatalf("run %s's event arrived under two webhook-ids: %s and %s", ev.Data.ID, byRun[ev.Data.ID], id)
			}
			byRun[ev.Data.ID] = id
			perID[id]++
		}
		if len(byRun) == len(runs) {
			return perID
		}
		if time.Now().After(deadline) {
			var missing []string
			for id := range runs {
				if byRun[id] == "" {
					missing = append(missing, id)
				}
			}
			t.Fatalf("%d of %d runs have no event after 5 min: %s", len(missing), len(runs), fmt.Sprint(missing))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
