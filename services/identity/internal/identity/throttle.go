package identity

import "time"

// LoginThrottle limits password guessing per account, whatever the client
// IP: after FreeFailures consecutive failures (each within Window of the
// previous one), every further attempt must wait 2^(n-FreeFailures) seconds
// after the last failure, at most MaxDelay. An attacker can therefore slow
// the owner down by at most MaxDelay after they stop; a success resets it.
type LoginThrottle struct {
	FreeFailures int
	Window       time.Duration
	MaxDelay     time.Duration
}

// DefaultLoginThrottle: 5 free failures, a 15-minute window, 60 s at most.
var DefaultLoginThrottle = LoginThrottle{FreeFailures: 5, Window: 15 * time.Minute, MaxDelay: 60 * time.Second}

// LoginFailures is the stored failure counter of one account key.
type LoginFailures struct {
	Count int
	Last  time.Time
}

// Wait returns how long after now the next attempt may run; 0 means now.
func (t LoginThrottle) Wait(f LoginFailures, now time.Time) time.Duration {
	if f.Count < t.FreeFailures || now.Sub(f.Last) >= t.Window {
		return 0
	}
	until := f.Last.Add(t.delay(f.Count))
	if now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

func (t LoginThrottle) delay(n int) time.Duration {
	exp := n - t.FreeFailures
	if exp >= 31 {
		return t.MaxDelay
	}
	return min(time.Second<<exp, t.MaxDelay)
}

// next is the counter after one more failure at now; a failure more than
// Window after the previous one starts a new run.
func (t LoginThrottle) next(f LoginFailures, now time.Time) LoginFailures {
	if now.Sub(f.Last) >= t.Window {
		return LoginFailures{Count: 1, Last: now}
	}
	return LoginFailures{Count: f.Count + 1, Last: now}
}
