package notify

import (
	"context"
	"fmt"
	"time"
)

// pruneBatch is how many emails one delete removes, so a large backlog
// is pruned in short transactions.
const pruneBatch = 5000

// Prune deletes the emails that became final more than retention ago and
// returns how many. Queued emails are never pruned; a producer's key is
// kept at least as long as retention, which must outlast the producers'
// retries (platform/outbox retries for about three days).
func (s *Service) Prune(ctx context.Context, retention time.Duration) (int64, error) {
	cutoff := s.now().Add(-retention)
	var total int64
	for {
		n, err := s.store.Prune(ctx, cutoff, pruneBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune emails: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}
