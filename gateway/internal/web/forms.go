package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/problem"
)

// Funcs are the template functions of every site.
var Funcs = template.FuncMap{
	"money":       money.Format,
	"signedMoney": money.Signed,
	"dollars":     money.Decimal,
	"count":       func(n int) string { return money.Group(uint64(max(n, 0))) },
	"when":        when,
	"pretty":      prettyJSON,
	"short":       ShortID,
	"badge":       badgeClass,
	"duration":    durationMS,
	"query":       queryWith,
	"deref":       func(p *int64) int64 { return derefInt(p) },
	"hasInt":      func(p *int64) bool { return p != nil },
	"dict":        dict,
}

// FormMessage words a service's refusal of a form for the form itself
// (shown next to the fields, the form kept filled in): the invalid fields
// of a validation error, or the message of another 4xx.
func FormMessage(err error) string {
	p := problem.FromError(err)
	if len(p.Errors) == 0 {
		if p.Detail != "" {
			return p.Detail
		}
		return "Some values are not valid."
	}
	parts := make([]string, len(p.Errors))
	for i, f := range p.Errors {
		parts[i] = strings.ReplaceAll(f.Field, "_", " ") + " " + f.Message
	}
	return strings.Join(parts, "; ")
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

// ShortID keeps the first block of a UUID: enough to tell rows apart.
func ShortID(id string) string {
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
