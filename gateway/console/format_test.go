package console

import (
	"math"
	"net/url"
	"testing"
)

func TestMoney(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cents int64
		want  string
	}{
		{0, "$0.00"}, {5, "$0.05"}, {123, "$1.23"}, {-123, "−$1.23"}, {-5, "−$0.05"},
		{100000, "$1,000.00"}, {123456789, "$1,234,567.89"},
		{math.MinInt64, "−$92,233,720,368,547,758.08"},
	} {
		if got := Money(tc.cents); got != tc.want {
			t.Errorf("Money(%d) = %q, want %q", tc.cents, got, tc.want)
		}
	}
	if got := signedMoney(500); got != "+$5.00" {
		t.Errorf("signedMoney(500) = %q", got)
	}
}

func TestParseDollars(t *testing.T) {
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
		got, err := parseDollars(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseDollars(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	c := &Console{base: "/admin"}
	for in, want := range map[string]string{
		"/admin/users?q=a":     "/admin/users?q=a",
		"/admin":               "/admin",
		"/admin/login":         "",
		"//evil.example/admin": "",
		"https://evil.example": "",
		"/administrator":       "",
		"/admin/\\evil":        "",
		"/admin//evil.example": "",
	} {
		if got := c.safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueryWith(t *testing.T) {
	t.Parallel()
	v := url.Values{"kind": {"fee"}}
	if got := queryWith(v, "cursor", "abc"); got != "?cursor=abc&kind=fee" {
		t.Errorf("queryWith = %q", got)
	}
	if got := queryWith(url.Values{}); got != "" {
		t.Errorf("empty queryWith = %q", got)
	}
	if v.Get("cursor") != "" {
		t.Error("queryWith changed its input")
	}
}

func TestPrettyJSON(t *testing.T) {
	t.Parallel()
	if got := prettyJSON([]byte(`{"a":[1,2]}`)); got != "{\n  \"a\": [\n    1,\n    2\n  ]\n}" {
		t.Errorf("prettyJSON = %q", got)
	}
	if got := prettyJSON([]byte(`not json`)); got != "not json" {
		t.Errorf("prettyJSON of text = %q", got)
	}
	if got := prettyJSON(nil); got != "" {
		t.Errorf("prettyJSON(nil) = %q", got)
	}
}
