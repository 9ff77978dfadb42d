package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// The classes and keys that the API and the user portal share, so that a
// user's budget is one budget whichever front-end spends it: a run started
// from the portal's form counts against the same RATE_LIMIT_RUNS_PER_MINUTE
// as one started with curl.
const (
	// ClassAuth is per client (IPKey) on sign-ups, logins and
	// password-reset requests of the API (/v1/auth/*) and the portal's
	// sign-up and reset forms.
	ClassAuth = "auth"
	// ClassRuns is per user (UserKey) on starting runs.
	ClassRuns = "runs"
	// ClassTopUps is per user on opening Checkout (top-ups, saving a card).
	ClassTopUps = "topups"
	// ClassEmails is per user or per address (EmailKey), per EmailPeriod,
	// on requests that send an email.
	ClassEmails = "emails"
)

// EmailPeriod is the window of the ClassEmails budget.
const EmailPeriod = time.Hour

// UserKey is the key of a per-user budget.
func UserKey(userID string) string { return "user:" + userID }

// EmailKey is the key of a per-address budget: a hash of the address as
// identity compares it (trimmed, lower case), so the limit stores no
// address and tells nothing about whether it has an account.
func EmailKey(addr string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return "email:" + hex.EncodeToString(sum[:16])
}
