package money

import "strings"

// symbols are the currencies written with a sign before the amount; any
// other is written after it by its ISO 4217 code (12.50 CHF).
var symbols = map[string]string{"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "jpy": "¥"}

// FormatIn writes cents in a deployment's currency (ISO 4217, any case)
// with two decimals: $1,234.50, €3.00, −£0.25, 12.50 CHF. Format is
// FormatIn(cents, "usd").
func FormatIn(cents int64, currency string) string {
	code := strings.ToLower(currency)
	sign, u := split(cents)
	if sign != "" {
		sign = "−"
	}
	digits := Group(u/100) + "." + twoDigits(u%100)
	if sym, ok := symbols[code]; ok || code == "" {
		if !ok {
			sym = "$"
		}
		return sign + sym + digits
	}
	return sign + digits + " " + strings.ToUpper(code)
}

// SignedIn is FormatIn with an explicit + for credits.
func SignedIn(cents int64, currency string) string {
	if cents > 0 {
		return "+" + FormatIn(cents, currency)
	}
	return FormatIn(cents, currency)
}
