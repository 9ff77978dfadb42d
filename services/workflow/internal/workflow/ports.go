package workflow

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store persists workflows, runs and audit events, and queues the jobs of
// async runs. A run changes state only through Apply, guarded by the
// transition table (machine.go). The lists return at most the filter's
// Limit rows, newest first, after its cursor.
// The queue has no port of its own: a job is inserted in the transaction
// that marks its run held (Apply), which a separate port could not share.
type Store interface {
	CreateWorkflow(ctx context.Context, w Workflow, audit AuditEvent) (Workflow, error)
	// UpdateWorkflow locks the workflow, applies change and writes the
	// returned audit event in the same transaction.
	UpdateWorkflow(ctx context.Context, slug string, change func(Workflow) (Workflow, AuditEvent, error)) (Workflow, error)
	GetWorkflow(ctx context.Context, slug string) (Workflow, error)
	ListWorkflows(ctx context.Context, activeOnly bool) ([]Workflow, error)
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// CreateRun inserts r; when r's idempotency key is already used by the
	// same user it inserts nothing and returns the existing run with created false.
	CreateRun(ctx context.Context, r Run) (run Run, created bool, err error)
	GetRun(ctx context.Context, id uuid.UUID) (Run, error)
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	ListUnsettled(ctx context.Context, deadlineBefore time.Time, limit int) ([]Run, error)
	// RunStats counts the runs created at or after q.Since by status,
	// returns at most q.TopFailing workflows with failed runs in that
	// window, and the series q asks for, all from one snapshot.
	RunStats(ctx context.Context, q StatsQuery) (RunStats, error)
	// UserRunsByDay counts one user's runs per UTC day from first to last
	// (midnights UTC), every day present.
	UserRunsByDay(ctx context.Context, userID uuid.UUID, first, last time.Time) ([]DayCounts, error)

	// Apply writes c when the run is in one of c.From: c.To and the columns
	// that state needs from c's data. In any other state it changes nothing
	// and returns ErrStateChanged, so concurrent actors move a run once.
	// Entering queued/held also inserts the run's job, in the same
	// transaction: a held async run always has a job, and a job always
	// finds its run.
	Apply(ctx context.Context, id uuid.UUID, c Change) (Run, error)
}

// Hold is a reserve request to the wallet.
type Hold struct {
	Key         string
	UserID      uuid.UUID
	AmountCents int64
	ExpiresAt   time.Time
	Description string
	RefType     string
	RefID       string
	// APIKeyID is the run's API key (uuid.Nil: none); the hold then counts
	// towards the key's month, within APIKeyLimitCents (nil: no limit).
	APIKeyID         uuid.UUID
	APIKeyLimitCents *int64
}

// Wallet holds, captures and releases fees. All three are idempotent by key.
type Wallet interface {
	// Reserve returns ErrInsufficientFunds when the available balance is
	// too small, ErrSpendLimitExceeded when the hold would take its API
	// key's month over the key's limit.
	Reserve(ctx context.Context, h Hold) error
	// Capture returns ErrHoldGone when the hold was released or expired.
	Capture(ctx context.Context, key string) error
	// Release succeeds when the hold is released, also when it never existed.
	Release(ctx context.Context, key string) error
}

// Request is one call of an n8n webhook.
type Request struct {
	URL         string
	HeaderName  string
	HeaderValue string
	RunID       string
	Body        []byte
	Timeout     time.Duration
	// CallbackURL, in callback mode, is where the workflow posts its
	// verdict (X-Meterflow-Callback-URL); it holds the run's token.
	CallbackURL string
	// SigningKey, when set, is the Standard Webhooks key the call is
	// signed with (webhook-id is the run id).
	SigningKey []byte
}

// Response is what came of a Request.
type Response struct {
	// OK is true for a 2xx answer that was read completely.
	OK         bool
	HTTPStatus int
	// Output is the answer as a JSON value, nil when there was no body.
	Output []byte
	// Error says why the call failed, in words fit for the run's error field.
	Error string
	// Class is a low-cardinality outcome for metrics: 2xx, 3xx, 4xx, 5xx,
	// timeout, refused, too_large (over the response cap, 2xx or not),
	// blocked (address or host not allowed), error.
	Class string
}

// Caller performs webhook requests.
type Caller interface {
	Call(ctx context.Context, r Request) Response
}

// Sealer encrypts header secrets at rest, bound to associated data (the
// workflow's slug and webhook URL, see authContext): a value opens only
// with the context it was sealed with.
type Sealer interface {
	Seal(plaintext []byte, context string) ([]byte, error)
	Open(sealed []byte, context string) ([]byte, error)
}

// Metrics receives run outcomes.
type Metrics interface {
	RunFinished(workflow string, status Status, d time.Duration)
	N8NAnswered(workflow, class string)
	// OverdueSettled counts a run the settler finished (SettleOverdue):
	// its hold ended captured or released by a reconciler, not by the
	// run's own path.
	OverdueSettled(hold HoldState)
}

// noMetrics discards outcomes when no Metrics is set.
type noMetrics struct{}

func (noMetrics) RunFinished(string, Status, time.Duration) {}
func (noMetrics) N8NAnswered(string, string)                {}
func (noMetrics) OverdueSettled(HoldState)                  {}
