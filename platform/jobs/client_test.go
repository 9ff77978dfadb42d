package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// pingArgs is a service's own job.
type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "test_ping" }

// pingWorker records the jobs it works.
type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan int
}

func (w *pingWorker) Work(_ context.Context, job *river.Job[pingArgs]) error {
	w.done <- job.Args.N
	return nil
}

// recordingNotify is notify's SendEmail, recording the idempotency keys.
type recordingNotify struct {
	notifyv1.NotifyServiceClient // other methods are not called
	mu                           sync.Mutex
	keys                         []string
}

func (n *recordingNotify) SendEmail(_ context.Context, req *notifyv1.SendEmailRequest, _ ...grpc.CallOption) (*notifyv1.SendEmailResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys = append(n.keys, req.GetIdempotencyKey())
	return &notifyv1.SendEmailResponse{}, nil
}

func (n *recordingNotify) sent() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.keys)
}

// TestNewClient: a client with the service's queue and the outbox works
// both kinds of job, inserted in the caller's transaction, and reports
// both queues' metrics from the start; an insert-only client inserts
// jobs and works none.
func TestNewClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.New(t, nil)
	if err := jobs.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}

	inserter, err := jobs.NewClient(pool, jobs.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(args river.JobArgs) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := inserter.InsertTx(ctx, tx, args, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	insert(pingArgs{N: 7})
	insert(outbox.Email{ToAddress: "a@example.com", Template: "welcome"})

	reg := prometheus.NewRegistry()
	worker := &pingWorker{done: make(chan int, 1)}
	notify := &recordingNotify{}
	client, err := jobs.NewClient(pool, jobs.ClientOptions{
		Queues:  map[string]int{river.QueueDefault: 1},
		Workers: []jobs.Worker{jobs.AddWorker(worker)},
		Emails:  &outbox.EmailWorker{Notify: notify, Service: "svc"}, OutboxWorkers: 1,
		Metrics: reg,
		River:   river.Config{FetchPollInterval: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP river_queue_jobs River jobs per queue and state (available, running, retryable, scheduled), read at scrape.
# TYPE river_queue_jobs gauge
river_queue_jobs{queue="default",state="available"} 1
river_queue_jobs{queue="default",state="retryable"} 0
river_queue_jobs{queue="default",state="running"} 0
river_queue_jobs{queue="default",state="scheduled"} 0
river_queue_jobs{queue="outbox",state="available"} 1
river_queue_jobs{queue="outbox",state="retryable"} 0
river_queue_jobs{queue="outbox",state="running"} 0
river_queue_jobs{queue="outbox",state="scheduled"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "river_queue_jobs"); err != nil {
		t.Errorf("queue metrics before the client starts: %v", err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	select {
	case n := <-worker.done:
		if n != 7 {
			t.Errorf("worked ping %d, want 7", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the service's job was not worked")
	}
	deadline := time.Now().Add(30 * time.Second)
	for notify.sent() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := notify.sent(); n != 1 || !strings.HasPrefix(notify.keys[0], "svc:") {
		t.Errorf("outbox emails handed to notify: %v; want one keyed svc:<job id>", notify.keys)
	}
}

// TestNewClientRefusesAnIncompleteOutbox: an email worker without its
// notify client is a configuration error at start, not at the first email.
func TestNewClientRefusesAnIncompleteOutbox(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, nil)
	_, err := jobs.NewClient(pool, jobs.ClientOptions{Emails: &outbox.EmailWorker{Service: "svc"}, OutboxWorkers: 1})
	if err == nil || !strings.Contains(err.Error(), "notify client") {
		t.Errorf("NewClient with an email worker without notify: %v; want an error naming the notify client", err)
	}
}
