package webhooks

import (
	"errors"
	"time"
)

// DefaultSchedule is the wait after each failed attempt before the next
// (the contract's "about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h"): eight
// attempts over a little more than a day. Only tests shorten it
// (Config.Schedule); no environment variable does.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DisableAfter is how long an endpoint may fail every attempt before it is
// disabled: 5 days, so an endpoint that is down over a long weekend keeps
// its subscription, and one that is gone stops costing attempts.
const DisableAfter = 5 * 24 * time.Hour

// RotationOverlap is how long a rotated-out secret still signs.
const RotationOverlap = 24 * time.Hour

// MaxEndpoints is how many endpoints a user may have.
const MaxEndpoints = 5

// Schedule is the waits between attempts: len(Schedule)+1 attempts.
type Schedule []time.Duration

// Attempts is how many attempts a delivery gets.
func (s Schedule) Attempts() int { return len(s) + 1 }

// After is the wait after failed attempt n (1-based) of a delivery's
// automatic attempts; ok is false after the last.
func (s Schedule) After(n int) (time.Duration, bool) {
	if n < 1 || n > len(s) {
		return 0, false
	}
	return s[n-1], true
}

func (s Schedule) validate() error {
	if len(s) == 0 {
		return errors.New("webhooks: empty retry schedule")
	}
	for _, d := range s {
		if d <= 0 {
			return errors.New("webhooks: every wait of the retry schedule must be positive")
		}
	}
	return nil
}

// disableReason decides, inside the attempt's transaction, whether the
// endpoint is disabled now: at once on a 410 answer, or when every
// attempt since failingSince has failed for DisableAfter. "" keeps it.
func disableReason(r AttemptRecord, ep Endpoint, now time.Time) string {
	switch {
	case r.Succeeded || !ep.Enabled:
		return ""
	case r.Gone:
		return "the endpoint answered 410 Gone"
	case ep.FailingSince != nil && now.Sub(*ep.FailingSince) >= DisableAfter:
		return "every delivery attempt since " + ep.FailingSince.UTC().Format(time.RFC3339) + " failed (5 days)"
	}
	return ""
}
