package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"money":       Money,
	"signedMoney": signedMoney,
	"when":        when,
	"pretty":      prettyJSON,
	"short":       shortID,
	"badge":       badgeClass,
	"dollars":     dollarsInput,
	"duration":    durationMS,
	"query":       queryWith,
	"deref":       func(p *int64) int64 { return derefInt(p) },
	"hasInt":      func(p *int64) bool { return p != nil },
	"dict":        dict,
}

// dict builds a map from key, value pairs, to pass several values to a
// shared template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, errors.New("dict: keys must be strings")
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// Money formats cents as dollars: $1.23, and −$1.23 (with a minus sign,
// U+2212) for negative amounts.
func Money(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "−"
		u = uint64(-(cents + 1)) + 1 // no overflow at math.MinInt64
	}
	return sign + "$" + groupThousands(u/100) + "." + twoDigits(u%100)
}

// signedMoney is Money with an explicit + for credits.
func signedMoney(cents int64) string {
	if cents > 0 {
		return "+" + Money(cents)
	}
	return Money(cents)
}

func twoDigits(n uint64) string {
	if n < 10 {
		return "0" + strconv.FormatUint(n, 10)
	}
	return strconv.FormatUint(n, 10)
}

func groupThousands(n uint64) string {
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

// dollarsInput formats cents for an input field: 1.50, -0.25.
func dollarsInput(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1
	}
	return sign + strconv.FormatUint(u/100, 10) + "." + twoDigits(u%100)
}

// errAmount is the message of an amount that is not dollars and cents.
var errAmount = errors.New("enter dollars and cents, like 12.50 or -1.50")

// maxAmountCents bounds what one form may move (one million dollars):
// a typo of a few extra digits is refused instead of booked.
const maxAmountCents = 100_000_000

// parseDollars reads a signed dollar amount with at most two decimals:
// "12", "12.5", "-1.50", "+3", "−2.00" (U+2212), "$4.10"; commas group thousands.
func parseDollars(s string) (int64, error) {
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
		return 0, errAmount
	}
	if whole == "" {
		whole = "0"
	}
	if len(frac) > 2 || (hasDot && frac == "") || len(whole) > 12 {
		return 0, errAmount
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, errAmount
		}
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, errAmount
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	cents := w*100 + f
	if cents > maxAmountCents {
		return 0, errors.New("at most $1,000,000.00 at a time")
	}
	if neg {
		cents = -cents
	}
	return cents, nil
}

// when formats a timestamp in UTC, or "—" when absent.
func when(ts *timestamppb.Timestamp) string {
	if ts == nil || (ts.GetSeconds() == 0 && ts.GetNanos() == 0) {
		return "—"
	}
	return ts.AsTime().UTC().Format("2006-01-02 15:04:05 UTC")
}

// prettyJSON indents JSON for reading; what is not JSON is shown as is.
func prettyJSON(raw []byte) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// shortID keeps the first block of a UUID: enough to tell rows apart.
func shortID(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}

// badgeClass maps a status to the CSS class of its badge.
func badgeClass(s string) string {
	switch s {
	case "succeeded", "active", "deposit", "paid", "up":
		return "badge ok"
	case "failed", "disabled", "chargeback", "withdrawal":
		return "badge bad"
	case "running", "queued", "pending", "adjustment", "admin":
		return "badge warn"
	}
	return "badge"
}

// durationMS formats milliseconds for people.
func durationMS(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// queryWith returns "?"+values with key set to value (dropped when empty),
// for pagination links that keep the filters.
func queryWith(v url.Values, kv ...string) string {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "?" + out.Encode()
}
