package outbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// fakeNotify stores emails and events by idempotency key as notify does,
// refusing the template and the event type "bad" and failing the first
// `unavailable` calls.
type fakeNotify struct {
	mu          sync.Mutex
	unavailable int
	calls       int
	emails      map[string]*notifyv1.SendEmailRequest
	events      map[string]*notifyv1.PublishEventRequest
	// batches is the size of each PublishEvents call answered; published
	// counts the events they stored or answered (repeats included).
	batches   []int
	published int
}

// refuse counts a call and answers Unavailable while notify is, and
// InvalidArgument for "bad"; the caller holds f.mu.
func (f *fakeNotify) refuse(what string) error {
	f.calls++
	if f.unavailable > 0 {
		f.unavailable--
		return status.Error(codes.Unavailable, "notify is restarting")
	}
	if what == "bad" {
		return status.Error(codes.InvalidArgument, "unknown: bad")
	}
	return nil
}

func (f *fakeNotify) SendEmail(_ context.Context, req *notifyv1.SendEmailRequest, _ ...grpc.CallOption) (*notifyv1.SendEmailResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse(req.GetTemplate()); err != nil {
		return nil, err
	}
	_, seen := f.emails[req.GetIdempotencyKey()]
	if !seen {
		f.emails[req.GetIdempotencyKey()] = req
	}
	return &notifyv1.SendEmailResponse{EmailId: req.GetIdempotencyKey(), Created: !seen}, nil
}

func (f *fakeNotify) PublishEvent(_ context.Context, req *notifyv1.PublishEventRequest, _ ...grpc.CallOption) (*notifyv1.PublishEventResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse(req.GetType()); err != nil {
		return nil, err
	}
	if f.events == nil {
		f.events = map[string]*notifyv1.PublishEventRequest{}
	}
	_, seen := f.events[req.GetIdempotencyKey()]
	if !seen {
		f.events[req.GetIdempotencyKey()] = req
	}
	return &notifyv1.PublishEventResponse{EventId: req.GetIdempotencyKey(), Created: !seen}, nil
}

// PublishEvents answers each event as PublishEvent would, in one call
// that fails as a whole while notify is unavailable.
func (f *fakeNotify) PublishEvents(_ context.Context, req *notifyv1.PublishEventsRequest, _ ...grpc.CallOption) (*notifyv1.PublishEventsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse(""); err != nil {
		return nil, err
	}
	if f.events == nil {
		f.events = map[string]*notifyv1.PublishEventRequest{}
	}
	f.batches = append(f.batches, len(req.GetEvents()))
	out := &notifyv1.PublishEventsResponse{}
	for _, e := range req.GetEvents() {
		if e.GetType() == "bad" {
			out.Results = append(out.Results, &notifyv1.PublishEventResult{Code: int32(codes.InvalidArgument), Message: "unknown: bad"})
			continue
		}
		_, seen := f.events[e.GetIdempotencyKey()]
		if !seen {
			f.events[e.GetIdempotencyKey()] = e
		}
		f.published++
		out.Results = append(out.Results, &notifyv1.PublishEventResult{EventId: e.GetIdempotencyKey(), Created: !seen})
	}
	return out, nil
}

func (f *fakeNotify) snapshot() (int, map[string]*notifyv1.SendEmailRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]*notifyv1.SendEmailRequest, len(f.emails))
	for k, v := range f.emails {
		out[k] = v
	}
	return f.calls, out
}

// start runs a River client with the outbox worker on a fresh database.
func start(t *testing.T, notify *fakeNotify) (*river.Client[pgx.Tx], *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, _ := dbtest.New(t, nil)
	if err := jobs.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	workers, queues := river.NewWorkers(), map[string]river.QueueConfig{}
	if err := outbox.Register(workers, queues, &outbox.EmailWorker{Notify: notify, Service: "test"}, 2); err != nil {
		t.Fatal(err)
	}
	if err := outbox.RegisterEvents(workers, queues, &outbox.EventWorker{Notify: notify, Service: "test"}, 2); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues: queues, Workers: workers, FetchPollInterval: 200 * time.Millisecond,
		RetryPolicy: quickRetry{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	return client, pool
}

// quickRetry retries after 100 ms: the test is about what is delivered,
// not River's backoff.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

// enqueue inserts e in a transaction that commits when commit is true.
func enqueue(t *testing.T, client *river.Client[pgx.Tx], pool *pgxpool.Pool, e outbox.Email, commit bool) {
	t.Helper()
	inTx(t, pool, commit, func(ctx context.Context, tx pgx.Tx) error { return outbox.EnqueueEmail(ctx, client, tx, e) })
}

// inTx runs enqueue in a transaction that commits when commit is true.
func inTx(t *testing.T, pool *pgxpool.Pool, commit bool, enqueue func(context.Context, pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := enqueue(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// waitJobs waits until no outbox job is left to work (completed,
// cancelled or discarded).
func waitJobs(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var open int
		if err := pool.QueryRow(context.Background(),
			`SELECT count(*) FROM river_job WHERE queue = $1 AND state NOT IN ('completed', 'cancelled', 'discarded')`, outbox.Queue).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("outbox jobs still open after 30 s")
}

// TestEmailReachesNotifyOnceOnlyWhenCommitted: a rolled-back change sends
// nothing; a committed one reaches notify once, with the producer's key,
// after notify was unavailable twice.
func TestEmailReachesNotifyOnceOnlyWhenCommitted(t *testing.T) {
	t.Parallel()
	notify := &fakeNotify{unavailable: 2, emails: map[string]*notifyv1.SendEmailRequest{}}
	client, pool := start(t, notify)
	enqueue(t, client, pool, outbox.Email{ToUserID: "u-rolled-back", Template: "verify_email"}, false)
	enqueue(t, client, pool, outbox.Email{ToUserID: "u1", Template: "verify_email", Data: map[string]string{"link": "https://x/verify?token=t"}}, true)
	enqueue(t, client, pool, outbox.Email{ToAddress: "ops@example.com", Template: "password_changed"}, true)
	waitJobs(t, pool)

	calls, emails := notify.snapshot()
	if len(emails) != 2 || calls != 4 {
		t.Fatalf("notify got %d emails in %d calls, want 2 emails after 2 refused calls: %v", len(emails), calls, emails)
	}
	var users, addresses int
	for key, req := range emails {
		if len(key) < len("test:1") || key[:5] != "test:" {
			t.Errorf("idempotency key %q, want test:<job id>", key)
		}
		switch {
		case req.GetToUserId() == "u1" && req.GetData()["link"] == "https://x/verify?token=t":
			users++
		case req.GetToAddress() == "ops@example.com" && req.GetTemplate() == "password_changed":
			addresses++
		}
	}
	if users != 1 || addresses != 1 {
		t.Fatalf("emails = %v, want the user's and the address's", emails)
	}
}

// TestRefusedRequestsAreNotRetried: notify refusing the email or the
// event itself cancels the job instead of retrying it for days.
func TestRefusedRequestsAreNotRetried(t *testing.T) {
	t.Parallel()
	for name, enqueue := range map[string]func(context.Context, *river.Client[pgx.Tx], pgx.Tx) error{
		"email": func(ctx context.Context, c *river.Client[pgx.Tx], tx pgx.Tx) error {
			return outbox.EnqueueEmail(ctx, c, tx, outbox.Email{ToUserID: "u1", Template: "bad"})
		},
		"event": func(ctx context.Context, c *river.Client[pgx.Tx], tx pgx.Tx) error {
			return outbox.EnqueueEvent(ctx, c, tx, outbox.Event{UserID: "u1", Type: "bad", Data: []byte(`{}`)})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			notify := &fakeNotify{emails: map[string]*notifyv1.SendEmailRequest{}}
			client, pool := start(t, notify)
			inTx(t, pool, true, func(ctx context.Context, tx pgx.Tx) error { return enqueue(ctx, client, tx) })
			waitJobs(t, pool)
			var state string
			if err := pool.QueryRow(context.Background(), `SELECT state FROM river_job WHERE queue = $1`, outbox.Queue).Scan(&state); err != nil {
				t.Fatal(err)
			}
			if calls, _ := notify.snapshot(); state != "cancelled" || calls != 1 {
				t.Fatalf("job %s after %d calls, want cancelled after 1", state, calls)
			}
		})
	}
}

// TestEnqueueRefusesIncompleteEmails: a template and exactly one recipient.
func TestEnqueueRefusesIncompleteEmails(t *testing.T) {
	t.Parallel()
	for _, e := range []outbox.Email{
		{Template: "verify_email"},
		{ToUserID: "u", ToAddress: "a@example.com", Template: "verify_email"},
		{ToUserID: "u"},
	} {
		if err := outbox.EnqueueEmail(context.Background(), nil, nil, e); err == nil {
			t.Errorf("EnqueueEmail(%+v) = nil, want an error", e)
		}
	}
}
