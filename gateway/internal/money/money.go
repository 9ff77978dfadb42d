// Package money formats and parses amounts of integer cents for people: the
// admin console and the user portal show them, their forms read them, and
// the CSV exports write them. Amounts never pass through floating point.
package money

import (
	"errors"
	"strconv"
	"strings"
)

// Format writes cents as dollars for reading: $1.23, $1,234.00, and −$1.23
// (with a minus sign, U+2212) for negative amounts.
func Format(cents int64) string { return FormatIn(cents, "usd") }

// Signed is Format with an explicit + for credits.
func Signed(cents int64) string {
	if cents > 0 {
		return "+" + Format(cents)
	}
	return Format(cents)
}

// Decimal writes cents as a plain decimal number with two places, as an
// input field or a spreadsheet wants it: 1.50, -0.25.
func Decimal(cents int64) string {
	sign, u := split(cents)
	return sign + strconv.FormatUint(u/100, 10) + "." + twoDigits(u%100)
}

// split returns "-" for negative amounts and the magnitude, without
// overflowing at math.MinInt64.
func split(cents int64) (string, uint64) {
	if cents < 0 {
		return "-", uint64(-(cents + 1)) + 1
	}
	return "", uint64(cents)
}

func twoDigits(n uint64) string {
	if n < 10 {
		return "0" + strconv.FormatUint(n, 10)
	}
	return strconv.FormatUint(n, 10)
}

// Group writes n with commas between thousands (1,000,000), as Format
// writes dollars.
func Group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// ErrSyntax is the error of an amount that is not dollars and cents.
var ErrSyntax = errors.New("enter dollars and cents, like 12.50 or -1.50")

// MaxFormCents bounds what one form may move (one million dollars): a typo
// of a few extra digits is refused instead of booked.
const MaxFormCents = 100_000_000

// Parse reads a signed dollar amount with at most two decimals: "12",
// "12.5", "-1.50", "+3", "−2.00" (U+2212), "$4.10"; commas group
// thousands. Amounts beyond MaxFormCents either way are refused.
func Parse(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "−"):
		neg, s = true, strings.TrimPrefix(s, "−")
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	s = strings.ReplaceAll(s, ",", "")
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, ErrSyntax
	}
	if whole == "" {
		whole = "0"
	}
	if len(frac) > 2 || (hasDot && frac == "") || len(whole) > 12 {
		return 0, ErrSyntax
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, ErrSyntax
		}
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, ErrSyntax
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	cents := w*100 + f
	if cents > MaxFormCents {
		return 0, errors.New("at most $1,000,000.00 at a time")
	}
	if neg {
		cents = -cents
	}
	return cents, nil
}
