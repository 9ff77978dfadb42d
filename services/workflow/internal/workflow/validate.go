package workflow

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/meterflow/meterflow/platform/validation"
)

// Bounds of workflow fields.
const (
	MinTimeoutMS     = 100
	MaxTimeoutMS     = 300_000
	DefaultTimeoutMS = 30_000
	// Bounds of the verdict window of callback mode (15 min by default, at
	// most 24 h; never shorter than the workflow's timeout).
	MinCallbackTimeoutMS     = 1000
	MaxCallbackTimeoutMS     = 86_400_000
	DefaultCallbackTimeoutMS = 900_000
	MinFeeCents              = 1
	MaxFeeCents              = 1_000_000
	maxNameLen               = 200
	maxDescLen               = 2000
	maxURLLen                = 2048
	maxHeaderNameLen         = 128
	maxHeaderValLen          = 4096
	maxReasonLen             = 1000
)

var slugRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// reservedHeaders are set by the service on every call and cannot carry the secret.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "host": true, "x-run-id": true,
	"x-meterflow-callback-url": true, "webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"user-agent": true, "transfer-encoding": true, "connection": true, "te": true,
	"upgrade": true, "trailer": true, "expect": true, "keep-alive": true, "proxy-connection": true,
}

// HostPolicy is the webhook host allow-list; empty allows any host (local
// development only: production requires WORKFLOW_ALLOWED_HOSTS).
type HostPolicy []string

// Allows reports whether host (no port) may be called.
func (p HostPolicy) Allows(host string) bool {
	if len(p) == 0 {
		return true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, h := range p {
		if strings.TrimSuffix(strings.ToLower(h), ".") == host {
			return true
		}
	}
	return false
}

// ParseHostPolicy reads a comma-separated host list.
func ParseHostPolicy(s string) HostPolicy {
	var p HostPolicy
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			p = append(p, h)
		}
	}
	return p
}

func (s *Service) validateWorkflow(w Workflow, e *validation.Error) {
	if !slugRE.MatchString(w.Slug) {
		e.Add("slug", "must be 1-64 characters of a-z, 0-9 and -")
	}
	if strings.TrimSpace(w.Name) == "" {
		e.Add("name", "is required")
	} else if utf8.RuneCountInString(w.Name) > maxNameLen || !utf8.ValidString(w.Name) {
		e.Add("name", "must be valid text of at most 200 characters")
	}
	if utf8.RuneCountInString(w.Description) > maxDescLen || !utf8.ValidString(w.Description) {
		e.Add("description", "must be valid text of at most 2000 characters")
	}
	if msg := checkWebhookURL(w.WebhookURL, s.allowedHosts, s.checkAddress); msg != "" {
		e.Add("webhook_url", msg)
	}
	if w.AuthHeaderName != "" {
		if msg := checkHeaderName(w.AuthHeaderName); msg != "" {
			e.Add("auth_header_name", msg)
		}
	}
	if w.FeeCents < MinFeeCents || w.FeeCents > MaxFeeCents {
		e.Add("fee_cents", "must be between 1 and 1000000")
	}
	if w.TimeoutMS < MinTimeoutMS || w.TimeoutMS > MaxTimeoutMS {
		e.Add("timeout_ms", "must be between 100 and 300000")
	}
	if _, ok := ParseCompletion(string(w.Completion)); !ok {
		e.Add("completion", "must be response or callback")
	}
	switch {
	case w.CallbackTimeoutMS < MinCallbackTimeoutMS || w.CallbackTimeoutMS > MaxCallbackTimeoutMS:
		e.Add("callback_timeout_ms", "must be between 1000 and 86400000 (24 h)")
	case w.Completion == CompletionCallback && w.CallbackTimeoutMS < w.TimeoutMS:
		e.Add("callback_timeout_ms", "must be at least timeout_ms: the verdict window includes the call")
	}
}

// checkWebhookURL says what is wrong with a webhook URL, or "". A host that
// is an IP address is judged by checkAddr at once, so an admin learns here,
// not from failed runs, that the address is refused; host names are judged
// where it counts, on the address dialed for every call.
func checkWebhookURL(raw string, hosts HostPolicy, checkAddr func(netip.Addr) error) string {
	if raw == "" {
		return "is required"
	}
	if len(raw) > maxURLLen {
		return "must be at most 2048 characters"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute http or https URL"
	}
	if u.User != nil {
		return "must not contain credentials; use the auth header"
	}
	if port := u.Port(); port != "" {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return "has an invalid port"
		}
	}
	if !hosts.Allows(u.Hostname()) {
		return "host is not in WORKFLOW_ALLOWED_HOSTS"
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && checkAddr != nil && checkAddr(ip) != nil {
		return "address is not allowed (loopback, private, link-local, metadata or another non-public range; see WORKFLOW_ALLOWED_CIDRS)"
	}
	return ""
}

func checkHeaderName(name string) string {
	if len(name) > maxHeaderNameLen {
		return "must be at most 128 characters"
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "must be a valid HTTP header name"
		}
	}
	if reservedHeaders[strings.ToLower(name)] {
		return "is set by the service and cannot be used"
	}
	return ""
}

func checkHeaderValue(v string) string {
	if v == "" {
		return ""
	}
	if len(v) > maxHeaderValLen {
		return "must be at most 4096 bytes"
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "must not contain control characters"
		}
	}
	return ""
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
