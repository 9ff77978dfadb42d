// Package webtest drives a site built on gateway/internal/web from tests the way a
// browser without JavaScript does: cookies kept, redirects shown rather
// than followed, forms posted with the CSRF token of the page they are on.
// The console's tests (e2e/console) and web's own use it; the user
// portal's can. It is outside internal/ so that the e2e module can import it.
package webtest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is an HTTP client with a cookie jar that does not follow
// redirects, aimed at one site.
type Browser struct {
	T testing.TB
	// Base is the site's URL, e.g. http://127.0.0.1:1234/admin; paths are
	// relative to it.
	Base   string
	Client *http.Client
}

// New returns a browser with no cookies yet.
func New(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, Base: base, Client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Page is a response with its body read and its HTML entities unescaped,
// so tests can look for text as a reader sees it.
type Page struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends a request; a form is sent URL-encoded.
func (br *Browser) Do(method, path string, form url.Values) Page {
	br.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, br.Base+path, body)
	if err != nil {
		br.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := br.Client.Do(req)
	if err != nil {
		br.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		br.T.Fatal(err)
	}
	return Page{Status: resp.StatusCode, Header: resp.Header, Body: html.UnescapeString(string(raw))}
}

// Get loads path.
func (br *Browser) Get(path string) Page { return br.Do(http.MethodGet, path, nil) }

// Post submits form to path.
func (br *Browser) Post(path string, form url.Values) Page { return br.Do(http.MethodPost, path, form) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF returns the CSRF token of the first form on p.
func CSRF(t testing.TB, p Page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no csrf field in page (status %d): %s", p.Status, p.Body)
	}
	return m[1]
}

// Login signs in through the site's login form and returns the answer to
// the form (a redirect when it worked).
func (br *Browser) Login(email, password string) Page {
	br.T.Helper()
	lp := br.Get("/login")
	return br.Post("/login", url.Values{"csrf": {CSRF(br.T, lp)}, "email": {email}, "password": {password}})
}
