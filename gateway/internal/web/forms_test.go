package web

import (
	"net/url"
	"testing"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	c := &Server{base: "/admin"}
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
