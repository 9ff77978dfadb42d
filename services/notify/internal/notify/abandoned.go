package notify

import (
	"context"
	"errors"
	"fmt"
)

// abandonedBatch bounds the emails one FailAbandoned pass reads.
const abandonedBatch = 500

// FailAbandoned marks failed the queued emails that no send job will work
// any more, and returns how many. River gives up a job whose final attempt
// never returned (the process died mid-send: River's rescuer discards the
// job, since no attempt is left) without running Deliver again, so the
// email would stay queued for ever, in the backlog gauges and out of every
// operator's list of failures. Whether the cut-short attempt reached the
// mail server is unknown, so the reason says so; the producer's key stays
// used (a new email needs a new key). The queue runs this every
// AbandonedInterval.
func (s *Service) FailAbandoned(ctx context.Context) (int, error) {
	var total int
	for {
		emails, err := s.store.Abandoned(ctx, abandonedBatch)
		if err != nil {
			return total, err
		}
		for _, e := range emails {
			why := fmt.Sprintf("the send job ended without a result after attempt %d "+
				"(the process stopped during its last attempt, or an operator discarded the job): "+
				"whether the email reached the mail server is unknown; send a new one if it is still needed", e.Attempts)
			if err := s.fail(ctx, e, Attempt{EmailID: e.ID, N: e.Attempts, Last: true}, why, ""); !errors.Is(err, ErrPermanent) {
				return total, err
			}
			total++
		}
		if len(emails) < abandonedBatch {
			return total, nil
		}
	}
}
