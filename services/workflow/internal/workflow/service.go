package workflow

import (
	"log/slog"
	"net/netip"
	"sync"
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

// Service runs the catalog and paid runs. Set the fields, then use it; it is
// safe for concurrent use.
type Service struct {
	Store   Store
	Wallet  Wallet
	Caller  Caller
	Secrets Sealer
	Metrics Metrics
	Log     *slog.Logger

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
	// Now returns the current time; time.Now when nil.
	Now func() time.Time

	catalogOnce sync.Once
	catalog     *expirable.LRU[string, Workflow]
}

var tracer trace.Tracer = otel.Tracer("github.com/meterflow/meterflow/services/workflow/internal/workflow")

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) metrics() Metrics {
	if s.Metrics == nil {
		return noMetrics{}
	}
	return s.Metrics
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// holdExpiry is when the wallet drops an open hold of r by itself.
func (s *Service) holdExpiry(r Run) time.Time {
	return r.DeadlineAt.Add(s.SettleGrace + holdSlack)
}
