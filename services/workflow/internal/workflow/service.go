package workflow

import (
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Timing constants of a run.
const (
	// syncSlack is what a sync call may take beyond the workflow's timeout
	// (reserve, bookkeeping, capture): the whole call ends within timeout + 1 s.
	syncSlack = time.Second
	// settleReserve is kept free before the deadline for the capture or release.
	settleReserve = 250 * time.Millisecond
	// walletCallTimeout bounds each wallet call.
	walletCallTimeout = 2 * time.Second
	// holdSlack keeps the wallet's own hold expiry well after the settler's
	// turn, so the settler, not the expiry, normally decides.
	holdSlack = 5 * time.Minute
)

// Config wires a Service: its ports and its values.
type Config struct {
	Store   Store
	Wallet  Wallet
	Caller  Caller
	Secrets Sealer
	// Metrics receives run outcomes; nil discards them.
	Metrics Metrics
	// Log is the service's logger; slog.Default() when nil.
	Log *slog.Logger

	// DefaultFeeCents is the fee of a workflow created without one.
	DefaultFeeCents int64
	// AllowedHosts limits webhook hosts; empty allows any.
	AllowedHosts HostPolicy
	// CheckAddress judges a webhook URL whose host is an IP address when it
	// is created or changed (the same policy the HTTP client applies to
	// every address it dials); nil accepts any address.
	CheckAddress func(netip.Addr) error
	// SettleGrace is how long after its deadline an unfinished run is settled.
	SettleGrace time.Duration
	// AsyncStartWindow is how long a queued async run may wait for a worker
	// before it fails unstarted.
	AsyncStartWindow time.Duration
	// CatalogTTL is how long the run path reuses a workflow it read
	// (runWorkflow); 0 reads it on every run.
	CatalogTTL time.Duration
	// CallbackBaseURL is the gateway's public URL (PUBLIC_BASE_URL): runs
	// in callback mode are told to post their verdict under it.
	CallbackBaseURL string
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Service runs the catalog and paid runs. It is safe for concurrent use.
type Service struct {
	store   Store
	wallet  Wallet
	caller  Caller
	secrets Sealer
	metrics Metrics
	log     *slog.Logger
	now     func() time.Time

	defaultFeeCents  int64
	allowedHosts     HostPolicy
	checkAddress     func(netip.Addr) error
	settleGrace      time.Duration
	asyncStartWindow time.Duration
	callbackBaseURL  string
	// verdicts wakes sync requests of this process waiting for a verdict.
	verdicts waiters
	// catalog is the run path's cache of workflows; nil when CatalogTTL is 0.
	catalog *expirable.LRU[string, Workflow]
}

// NewService returns a Service for c.
func NewService(c Config) *Service {
	s := &Service{
		store: c.Store, wallet: c.Wallet, caller: c.Caller, secrets: c.Secrets,
		metrics: c.Metrics, log: c.Log, now: c.Now,
		defaultFeeCents: c.DefaultFeeCents, allowedHosts: c.AllowedHosts, checkAddress: c.CheckAddress,
		settleGrace: c.SettleGrace, asyncStartWindow: c.AsyncStartWindow,
		callbackBaseURL: strings.TrimRight(c.CallbackBaseURL, "/"),
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if c.CatalogTTL > 0 {
		s.catalog = expirable.NewLRU[string, Workflow](catalogCacheSize, nil, c.CatalogTTL)
	}
	return s
}

var tracer trace.Tracer = otel.Tracer("github.com/meterflow/meterflow/services/workflow/internal/workflow")

// holdExpiry is when the wallet drops an open hold of r by itself.
func (s *Service) holdExpiry(r Run) time.Time {
	return r.DeadlineAt.Add(s.settleGrace + holdSlack)
}
