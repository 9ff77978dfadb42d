package identity

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/meterflow/meterflow/platform/validation"
)

// Backoff is one throttle curve: after FreeFailures consecutive failures
// (each within Window of the previous one), the next attempt must wait
// min(2^(n-FreeFailures) s, MaxDelay) after the last failure.
type Backoff struct {
	FreeFailures int
	Window       time.Duration
	MaxDelay     time.Duration
}

// LoginThrottle limits password guessing on two levels, decided together
// under the counters' row locks:
//
//   - Client: per account and client address. A stranger hammering an
//     account from one address slows down only that address.
//   - Account: per account, all addresses together, so that spreading a
//     brute force over many addresses stays bounded. It only spaces
//     attempts out (MaxDelay is short), and it does not apply to an address
//     that logged in to the account within KnownClientTTL: a distributed
//     attack never keeps the owner out of their usual address, and costs an
//     owner on a new address at most about MaxDelay.
//
// docs/trust-model.md gives the numbers and why.
type LoginThrottle struct {
	Client         Backoff
	Account        Backoff
	KnownClientTTL time.Duration
}

// DefaultLoginThrottle: per account and client 5 free failures, then 1 s
// doubling to 60 s; per account 20 free failures, then one attempt a
// second from addresses that have not logged in to it in 30 days; both
// windows 15 minutes.
var DefaultLoginThrottle = LoginThrottle{
	Client:         Backoff{FreeFailures: 5, Window: 15 * time.Minute, MaxDelay: 60 * time.Second},
	Account:        Backoff{FreeFailures: 20, Window: 15 * time.Minute, MaxDelay: time.Second},
	KnownClientTTL: 30 * 24 * time.Hour,
}

// LoginFailures is one stored failure counter.
type LoginFailures struct {
	Count int
	Last  time.Time
}

// LoginKey names the counters of one attempt: Account is the lower-case
// email (whether or not the account exists), Client the client key
// (clientKey), "" when the address is unknown.
type LoginKey struct {
	Account string
	Client  string
}

// LoginState is what the store holds about a LoginKey.
type LoginState struct {
	Account LoginFailures
	Client  LoginFailures
	// LastSuccess is the client's last successful login to the account;
	// zero if none is remembered.
	LastSuccess time.Time
}

// Wait returns how long after now the next attempt may run; 0 means now.
func (b Backoff) Wait(f LoginFailures, now time.Time) time.Duration {
	if f.Count < b.FreeFailures || now.Sub(f.Last) >= b.Window {
		return 0
	}
	until := f.Last.Add(b.delay(f.Count))
	if now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

func (b Backoff) delay(n int) time.Duration {
	exp := n - b.FreeFailures
	if exp >= 31 {
		return b.MaxDelay
	}
	return min(time.Second<<exp, b.MaxDelay)
}

// next is the counter after one more failure at now; a failure more than
// Window after the previous one starts a new run.
func (b Backoff) next(f LoginFailures, now time.Time) LoginFailures {
	if now.Sub(f.Last) >= b.Window {
		return LoginFailures{Count: 1, Last: now}
	}
	return LoginFailures{Count: f.Count + 1, Last: now}
}

// known reports whether the client of st logged in to the account recently.
func (t LoginThrottle) known(st LoginState, now time.Time) bool {
	return !st.LastSuccess.IsZero() && now.Sub(st.LastSuccess) < t.KnownClientTTL
}

// Decide returns the counters with this attempt counted as a failure (it
// is counted before the password is checked, and the client's counter is
// reset on success), or, when the attempt must wait, st unchanged and the
// wait.
func (t LoginThrottle) Decide(st LoginState, now time.Time) (LoginState, time.Duration) {
	if w := t.Client.Wait(st.Client, now); w > 0 {
		return st, w
	}
	if !t.known(st, now) {
		if w := t.Account.Wait(st.Account, now); w > 0 {
			return st, w
		}
	}
	st.Client = t.Client.next(st.Client, now)
	st.Account = t.Account.next(st.Account, now)
	return st, 0
}

// Window is the longest throttle window: counters untouched for longer no
// longer count.
func (t LoginThrottle) Window() time.Duration {
	return max(t.Client.Window, t.Account.Window)
}

// clientKey is the throttle key of a client address: an IPv4 address as
// is, an IPv6 address as its /64 (one subscriber usually holds a whole
// /64, so single addresses would be free to rotate). "" stays "".
func clientKey(ip string) (string, error) {
	if ip == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", validation.Field("client_ip", fmt.Sprintf("%q is not an IP address", ip))
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String(), nil
	}
	return netip.PrefixFrom(a, 64).Masked().String(), nil
}
