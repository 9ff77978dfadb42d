package money

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cents int64
		want  string
	}{
		{0, "$0.00"}, {5, "$0.05"}, {123, "$1.23"}, {-123, "−$1.23"}, {-5, "−$0.05"},
		{100000, "$1,000.00"}, {123456789, "$1,234,567.89"},
		{math.MinInt64, "−$92,233,720,368,547,758.08"},
	} {
		if got := Format(tc.cents); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.cents, got, tc.want)
		}
	}
	if got := Signed(500); got != "+$5.00" {
		t.Errorf("Signed(500) = %q", got)
	}
}

func TestDecimal(t *testing.T) {
	t.Parallel()
	for cents, want := range map[int64]string{
		0: "0.00", 5: "0.05", -25: "-0.25", 150: "1.50", 123456789: "1234567.89",
		math.MinInt64: "-92233720368547758.08",
	} {
		if got := Decimal(cents); got != want {
			t.Errorf("Decimal(%d) = %q, want %q", cents, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"12", 1200, true}, {"12.5", 1250, true}, {"12.50", 1250, true}, {"-1.50", -150, true},
		{"+3", 300, true}, {"−2.00", -200, true}, {"$4.10", 410, true}, {"-$0.05", -5, true},
		{"1,000.00", 100000, true}, {".5", 50, true}, {" 7 ", 700, true}, {"0", 0, true},
		{"1000000", 100000000, true},
		{"", 0, false}, {"-", 0, false}, {"1.234", 0, false}, {"1.", 0, false}, {"abc", 0, false},
		{"1e3", 0, false}, {"--1", 0, false}, {"1.2.3", 0, false}, {"1000000.01", 0, false},
		{"99999999999999999", 0, false}, {"0x10", 0, false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatIn(t *testing.T) {
	tests := []struct {
		cents    int64
		currency string
		want     string
	}{
		{123450, "usd", "$1,234.50"},
		{123450, "USD", "$1,234.50"},
		{300, "eur", "€3.00"},
		{-25, "gbp", "−£0.25"},
		{1250, "chf", "12.50 CHF"},
		{-100000, "sek", "−1,000.00 SEK"},
		{5, "", "$0.05"},
	}
	for _, tt := range tests {
		if got := FormatIn(tt.cents, tt.currency); got != tt.want {
			t.Errorf("FormatIn(%d, %q) = %q, want %q", tt.cents, tt.currency, got, tt.want)
		}
	}
	if got := SignedIn(700, "eur"); got != "+€7.00" {
		t.Errorf("SignedIn = %q", got)
	}
}
