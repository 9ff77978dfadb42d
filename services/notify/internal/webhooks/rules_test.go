package webhooks

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestDeliveryIDRoundTrip(t *testing.T) {
	t.Parallel()
	for range 100 {
		id := uuid.Must(uuid.NewV7())
		s := FormatDeliveryID(id)
		if len(s) != 30 || !strings.HasPrefix(s, "msg_") {
			t.Fatalf("FormatDeliveryID = %q", s)
		}
		if got, ok := ParseDeliveryID(s); !ok || got != id {
			t.Fatalf("ParseDeliveryID(%q) = %v, %v", s, got, ok)
		}
	}
	for _, bad := range []string{"", "msg_", "msg_0123", "evt_06H4Z99AHNYRSB7TKJ1EKE6FFR", "msg_06H4Z99AHNYRSB7TKJ1EKE6FFU", "msg_06H4Z99AHNYRSB7TKJ1EKE6FFZ"} {
		if _, ok := ParseDeliveryID(bad); ok {
			t.Errorf("ParseDeliveryID(%q) accepted", bad)
		}
	}
}

func TestDefaultScheduleIsTheContracts(t *testing.T) {
	t.Parallel()
	s := Schedule(DefaultSchedule)
	var total time.Duration
	for _, d := range s {
		total += d
	}
	if s.Attempts() != 8 || total < 24*time.Hour || total > 30*time.Hour {
		t.Fatalf("%d attempts over %s", s.Attempts(), total)
	}
	if _, ok := s.After(8); ok {
		t.Fatal("a wait after the eighth attempt")
	}
}

func TestDisableReason(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	since := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	tests := []struct {
		name string
		rec  AttemptRecord
		ep   Endpoint
		want string
	}{
		{"success", AttemptRecord{Succeeded: true}, Endpoint{Enabled: true, FailingSince: since(6 * 24 * time.Hour)}, ""},
		{"gone", AttemptRecord{Gone: true}, Endpoint{Enabled: true, FailingSince: since(time.Second)}, "410"},
		{"4 days", AttemptRecord{}, Endpoint{Enabled: true, FailingSince: since(4 * 24 * time.Hour)}, ""},
		{"5 days", AttemptRecord{}, Endpoint{Enabled: true, FailingSince: since(DisableAfter)}, "5 days"},
		{"already disabled", AttemptRecord{Gone: true}, Endpoint{Enabled: false}, ""},
	}
	for _, tc := range tests {
		got := disableReason(tc.rec, tc.ep, now)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAnswerErrorBounded(t *testing.T) {
	t.Parallel()
	msg := answerError(Response{Status: 500, Body: []byte(strings.Repeat("é", 40<<10))})
	if len(msg) > MaxLastError || !strings.HasPrefix(msg, "HTTP 500: é") || !strings.HasSuffix(msg, "é") {
		t.Fatalf("len %d: %.40q", len(msg), msg)
	}
}
