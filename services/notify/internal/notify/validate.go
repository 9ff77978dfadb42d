package notify

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// Bounds of a request. An email carries a few short fields; the bounds
// keep a producer's bug from filling the table.
const (
	MaxKeyLen     = 255
	MaxFields     = 32
	MaxTextLen    = 500
	MaxURLLen     = 2048
	MaxAddressLen = 254
)

// check validates r and returns the template and the data to store: the
// template's declared fields, each checked against its kind.
func check(r Request) (Template, map[string]string, error) {
	var v validation.Error
	if n := utf8.RuneCountInString(r.IdempotencyKey); n < 1 || n > MaxKeyLen || !printable(r.IdempotencyKey) {
		v.Add("idempotency_key", fmt.Sprintf("must be 1 to %d printable characters", MaxKeyLen))
	}
	tmpl, ok := Lookup(r.Template)
	if !ok {
		v.Add("template", "must be one of "+strings.Join(TemplateNames(), ", "))
	}
	switch {
	case (r.ToUserID == uuid.Nil) == (r.ToAddress == ""):
		v.Add("recipient", "exactly one of to_user_id and to_address is required")
	case r.ToAddress != "":
		if msg := checkAddress(r.ToAddress); msg != "" {
			v.Add("to_address", msg)
		}
	}
	if len(r.Data) > MaxFields {
		v.Add("data", fmt.Sprintf("must have at most %d fields", MaxFields))
	}
	data := map[string]string{}
	if ok && len(r.Data) <= MaxFields {
		for _, f := range tmpl.Fields {
			val, set := r.Data[f.Name]
			switch {
			case !set || val == "":
				if f.Required {
					v.Add("data."+f.Name, "is required by the "+tmpl.Name+" template")
				}
			case checkKind(f.Kind, val) != "":
				v.Add("data."+f.Name, checkKind(f.Kind, val))
			default:
				data[f.Name] = val
			}
		}
	}
	return tmpl, data, v.Err()
}

// checkKind returns what is wrong with val as a k, or "".
func checkKind(k Kind, val string) string {
	switch k {
	case KindURL:
		u, err := url.Parse(val)
		if len(val) > MaxURLLen || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || !printable(val) || strings.ContainsRune(val, ' ') {
			return fmt.Sprintf("must be an absolute http(s) URL without credentials, at most %d characters", MaxURLLen)
		}
	case KindAddress:
		return checkAddress(val)
	case KindCents:
		if _, err := strconv.ParseInt(val, 10, 64); err != nil {
			return "must be an integer number of cents"
		}
	case KindInt:
		if _, err := strconv.ParseInt(val, 10, 64); err != nil {
			return "must be an integer"
		}
	case KindCurrency:
		notLetter := func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') }
		if len(val) != 3 || strings.IndexFunc(val, notLetter) >= 0 {
			return "must be a three-letter ISO 4217 code such as usd"
		}
	case KindTime:
		if _, err := time.Parse(time.RFC3339, val); err != nil {
			return "must be an RFC 3339 time such as 2026-11-26T14:03:00Z"
		}
	case KindBool:
		if val != "true" && val != "false" {
			return "must be true or false"
		}
	default:
		if utf8.RuneCountInString(val) > MaxTextLen || !printable(val) || !utf8.ValidString(val) {
			return fmt.Sprintf("must be one line of at most %d characters", MaxTextLen)
		}
	}
	return ""
}

// checkAddress returns what is wrong with a as a bare recipient address
// ("ada@example.com", no display name), or "".
func checkAddress(a string) string {
	const bad = "must be an email address such as ada@example.com"
	p, err := mail.ParseAddress(a)
	if len(a) > MaxAddressLen || err != nil || p.Name != "" || p.Address != a {
		return bad
	}
	// A domain without a dot is a typo, except localhost (local tests).
	if domain := a[strings.LastIndexByte(a, '@')+1:]; !strings.Contains(domain, ".") && domain != "localhost" {
		return bad
	}
	return ""
}

// printable reports whether s holds no control characters (so no line
// break can reach a header).
func printable(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// requestHash is a digest of what makes an email: template, recipient and
// the stored data, in a fixed order.
func requestHash(template string, to uuid.UUID, address string, data map[string]string) []byte {
	h := sha256.New()
	write := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	write(template)
	if to != uuid.Nil {
		write("user:" + to.String())
	} else {
		write("address:" + address)
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		write(k)
		write(data[k])
	}
	return h.Sum(nil)
}
