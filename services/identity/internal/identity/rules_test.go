package identity

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/validation"
)

func TestThrottleWait(t *testing.T) {
	t.Parallel()
	th := DefaultLoginThrottle.Client
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		f    LoginFailures
		want time.Duration
	}{
		{"no failures", LoginFailures{}, 0},
		{"4 failures just now", LoginFailures{Count: 4, Last: now}, 0},
		{"5 failures just now", LoginFailures{Count: 5, Last: now}, time.Second},
		{"5 failures 400ms ago", LoginFailures{Count: 5, Last: now.Add(-400 * time.Millisecond)}, 600 * time.Millisecond},
		{"5 failures 1s ago", LoginFailures{Count: 5, Last: now.Add(-time.Second)}, 0},
		{"6 failures", LoginFailures{Count: 6, Last: now}, 2 * time.Second},
		{"10 failures", LoginFailures{Count: 10, Last: now}, 32 * time.Second},
		{"11 failures: capped", LoginFailures{Count: 11, Last: now}, time.Minute},
		{"1000 failures: capped", LoginFailures{Count: 1000, Last: now}, time.Minute},
		{"1000 failures a minute ago", LoginFailures{Count: 1000, Last: now.Add(-time.Minute)}, 0},
		{"outside the window", LoginFailures{Count: 7, Last: now.Add(-16 * time.Minute)}, 0},
	}
	for _, tt := range tests {
		if got := th.Wait(tt.f, now); got != tt.want {
			t.Errorf("%s: Wait = %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := th.next(LoginFailures{Count: 9, Last: now.Add(-15 * time.Minute)}, now); got.Count != 1 {
		t.Errorf("next after the window = %d, want a new run of 1", got.Count)
	}
	if got := th.next(LoginFailures{Count: 9, Last: now.Add(-time.Minute)}, now); got.Count != 10 || !got.Last.Equal(now) {
		t.Errorf("next = %+v, want 10 at now", got)
	}
}

// TestThrottleDecide: the per-client backoff always applies; the account's
// ceiling (20 failures, then one attempt a second) only to clients that
// have not logged in to the account within 30 days.
func TestThrottleDecide(t *testing.T) {
	t.Parallel()
	th := DefaultLoginThrottle
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	busy := LoginFailures{Count: 500, Last: now.Add(-100 * time.Millisecond)} // an account under attack
	tests := []struct {
		name string
		st   LoginState
		want time.Duration
	}{
		{"fresh", LoginState{}, 0},
		{"client backed off", LoginState{Client: LoginFailures{Count: 7, Last: now}}, 4 * time.Second},
		{"client backed off, even when known", LoginState{Client: LoginFailures{Count: 7, Last: now}, LastSuccess: now.Add(-time.Hour)}, 4 * time.Second},
		{"account under its ceiling", LoginState{Account: LoginFailures{Count: 19, Last: now}}, 0},
		{"account at its ceiling: a second", LoginState{Account: LoginFailures{Count: 20, Last: now}}, time.Second},
		{"account under attack: at most a second", LoginState{Account: busy}, 900 * time.Millisecond},
		{"account under attack, a second after its last failure", LoginState{Account: LoginFailures{Count: 500, Last: now.Add(-time.Second)}}, 0},
		{"account under attack, known client", LoginState{Account: busy, LastSuccess: now.Add(-29 * 24 * time.Hour)}, 0},
		{"account under attack, client known too long ago", LoginState{Account: busy, LastSuccess: now.Add(-31 * 24 * time.Hour)}, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		next, got := th.Decide(tt.st, now)
		if got != tt.want {
			t.Errorf("%s: wait = %s, want %s", tt.name, got, tt.want)
		}
		switch {
		case got > 0 && next != tt.st:
			t.Errorf("%s: a refused attempt changed the counters: %+v", tt.name, next)
		case got == 0 && (next.Client.Count != th.Client.next(tt.st.Client, now).Count || next.Account.Count != th.Account.next(tt.st.Account, now).Count):
			t.Errorf("%s: an attempt was not counted on both levels: %+v", tt.name, next)
		}
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                      "",
		"203.0.113.7":           "203.0.113.7",
		"::ffff:203.0.113.7":    "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":    "2001:db8:1:2::/64",
		"fe80::1%eth0":          "fe80::/64",
		"2001:db8:1:3::1":       "2001:db8:1:3::/64",
		"::1":                   "::/64",
		"2001:0db8:0001:0002::": "2001:db8:1:2::/64",
	} {
		if got, err := clientKey(in); err != nil || got != want {
			t.Errorf("clientKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"203.0.113.7:443", "localhost", "1.2.3"} {
		if _, err := clientKey(bad); err == nil {
			t.Errorf("clientKey(%q) accepted", bad)
		}
	}
}

func TestValidateCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		email, password string
		want            string // comma-separated invalid fields
	}{
		{"a@example.com", "12345678", ""},
		{"a.b+tag@sub.example.co", strings.Repeat("ü", 128), ""},
		{"a@example.com", "1234567", "password"},
		{"a@example.com", strings.Repeat("ü", 129), "password"},
		{"a@example.com", "bad\xffutf8!", "password"},
		{"", "12345678", "email"},
		{"a", "12345678", "email"},
		{"A <a@example.com>", "12345678", "email"},
		{"a@example.com (comment)", "12345678", "email"},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", "12345678", "email"},
		{"x", "y", "email,password"},
	}
	for _, tt := range tests {
		var got []string
		if err := ValidateCredentials(tt.email, tt.password); err != nil {
			for _, f := range err.(*validation.Error).Fields {
				got = append(got, f.Field)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("ValidateCredentials(%q, %q) fields = %v, want %q", tt.email, tt.password, got, tt.want)
		}
	}
}

// TestCursorRoundTrip: the lists' cursors (platform/paging's since the
// structure refactor) keep a row's microsecond time and id, and refuse
// junk, including a cursor of identity's former format with a bad id.
func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := paging.Cursor{CreatedAt: time.Date(2026, 11, 25, 20, 30, 1, 123456000, time.UTC), ID: uuid.MustParse("0b8f3f4e-5a41-4c6e-9d55-3f0c7e0b9a11")}
	_, got, err := pageRequest(0, c.Encode())
	if err != nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	formerFormat := base64.RawURLEncoding.EncodeToString([]byte("1764102601123456:not-a-uuid"))
	for _, bad := range []string{"%%%", "bm9wZQ", formerFormat} {
		if _, _, err := pageRequest(0, bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestAuditEventsForChange(t *testing.T) {
	t.Parallel()
	before := User{ID: uuid.New(), IsActive: true, IsAdmin: false}
	tests := []struct {
		ch   UserChange
		want string
	}{
		{UserChange{IsActive: new(false)}, "user.disable"},
		{UserChange{IsAdmin: new(true)}, "user.promote"},
		{UserChange{IsActive: new(false), IsAdmin: new(true)}, "user.disable,user.promote"},
		{UserChange{IsActive: new(true), IsAdmin: new(false)}, ""},
		{UserChange{}, ""},
	}
	for _, tt := range tests {
		var got []string
		for _, ev := range AuditEventsForChange(before, tt.ch.Apply(before), "admin", "why", time.Now()) {
			got = append(got, ev.Action)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%+v: actions = %v, want %q", tt.ch, got, tt.want)
		}
	}
}

// TestUserChangeDecide: a change that changes no flag writes nothing;
// disabling a user revokes their refresh tokens; create-admin's promotion
// always does, and replaces the password.
func TestUserChangeDecide(t *testing.T) {
	t.Parallel()
	now := time.Now()
	active := User{ID: uuid.New(), IsActive: true}
	tests := []struct {
		name   string
		before User
		ch     UserChange
		write  bool
		revoke bool
	}{
		{"no flag", active, UserChange{}, false, false},
		{"same flags", active, UserChange{IsActive: new(true), IsAdmin: new(false)}, false, false},
		{"disable", active, UserChange{IsActive: new(false)}, true, true},
		{"promote", active, UserChange{IsAdmin: new(true)}, true, false},
		{"enable", User{ID: active.ID}, UserChange{IsActive: new(true)}, true, false},
	}
	for _, tt := range tests {
		up, _ := tt.ch.decide(tt.before, "admin", now)
		if (up != nil) != tt.write || (up != nil && (up.RevokeTokens != tt.revoke || len(up.Audit) == 0 || up.PasswordHash != "")) {
			t.Errorf("%s: decide = %+v", tt.name, up)
		}
	}
	up, _ := promoteExistingUser(active, "hash", now)
	if !up.After.IsAdmin || !up.After.EmailVerified() || !up.RevokeTokens || up.PasswordHash != "hash" || len(up.Audit) != 2 {
		t.Errorf("promoteExistingUser = %+v", up)
	}
}
