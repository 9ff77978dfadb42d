package idempotency_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/idempotency"
)

func TestCheckKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key string
		ok  bool
	}{
		{"", true}, {"a", true}, {strings.Repeat("k", 255), true}, {"order-42:retry", true},
		{strings.Repeat("k", 256), false}, {"tab\there", false}, {"clé", false}, {"nul\x00", false},
	}
	for _, tc := range tests {
		if err := idempotency.CheckKey(tc.key); (err == nil) != tc.ok {
			t.Errorf("CheckKey(%q) = %v", tc.key, err)
		}
	}
}

func TestHashSeparatesParts(t *testing.T) {
	t.Parallel()
	if string(idempotency.Hash("ab", "c")) == string(idempotency.Hash("a", "bc")) {
		t.Fatal("parts are not separated")
	}
	if string(idempotency.Hash("u", int64(10))) != string(idempotency.Hash("u", int64(10))) {
		t.Fatal("the same request hashes differently")
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	expired, stale := now.Add(-24*time.Hour), now.Add(-5*time.Minute)
	same, other := []byte{1}, []byte{2}
	tests := []struct {
		name string
		r    idempotency.Record
		want idempotency.Decision
		err  error
	}{
		{"completed: replay", idempotency.Record{RequestHash: same, Completed: true, CreatedAt: now, UpdatedAt: now}, idempotency.Replay, nil},
		{"another request", idempotency.Record{RequestHash: other, Completed: true, CreatedAt: now, UpdatedAt: now}, 0, idempotency.ErrKeyReused},
		{"still processing", idempotency.Record{RequestHash: same, CreatedAt: now, UpdatedAt: now}, 0, idempotency.ErrInProgress},
		{"another request, still processing", idempotency.Record{RequestHash: other, CreatedAt: now, UpdatedAt: now}, 0, idempotency.ErrKeyReused},
		{"abandoned while processing", idempotency.Record{RequestHash: same, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)}, idempotency.Claim, nil},
		{"expired, even for another request", idempotency.Record{RequestHash: other, Completed: true, CreatedAt: now.Add(-25 * time.Hour), UpdatedAt: now.Add(-25 * time.Hour)}, idempotency.Claim, nil},
	}
	for _, tc := range tests {
		got, err := idempotency.Decide(tc.r, same, expired, stale)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: Decide = %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
