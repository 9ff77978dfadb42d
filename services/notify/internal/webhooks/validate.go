package webhooks

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/validation"
)

// Bounds of an endpoint's fields.
const (
	MaxURLLen         = 2048
	MaxDescriptionLen = 500
)

// resolveTimeout bounds the look-up of a URL's host when it is set.
const resolveTimeout = 3 * time.Second

// Resolver looks host names up (net.Resolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// URLPolicy says which endpoint URLs are accepted.
type URLPolicy struct {
	// AllowHTTP accepts http:// (local development); production takes
	// https:// only.
	AllowHTTP bool
	// Addresses is the policy every attempt dials under
	// (WEBHOOK_ALLOW_PRIVATE).
	Addresses safehttp.AddressPolicy
	// Resolver looks names up when a URL is set; nil skips the look-up.
	Resolver Resolver
}

// checkURL refuses a URL that no attempt could be made to: not https
// (or http in development), credentials, a fragment, or a host that is or
// resolves to an address outside the policy. It is early feedback only:
// every attempt checks the address it dials again (safehttp), since a
// name may resolve elsewhere later.
func (p URLPolicy) checkURL(ctx context.Context, raw string) error {
	bad := func(msg string) error { return validation.Field("url", msg) }
	if raw == "" || len(raw) > MaxURLLen {
		return bad(fmt.Sprintf("must be an absolute URL of at most %d characters", MaxURLLen))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("must be an absolute URL such as https://example.com/webhooks")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return bad("must use https://")
	default:
		return bad("must be an http(s) URL")
	}
	if u.User != nil {
		return bad("must not carry credentials (user:password@)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("must not have a fragment (#...)")
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.Addresses.Check(a); err != nil {
			return bad("must not point at a private, loopback or otherwise internal address")
		}
		return nil
	}
	if p.Resolver == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := p.Resolver.LookupNetIP(lctx, "ip", host)
	if err != nil {
		// A name that does not resolve yet may later: attempts will fail
		// until it does and show why.
		return nil
	}
	for _, a := range addrs {
		if err := p.Addresses.Check(a); err != nil {
			return bad("must not resolve to a private, loopback or otherwise internal address")
		}
	}
	return nil
}

// checkEvents returns the event types, in the contract's order, or a
// validation error.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, validation.Field("events", "must list at least one of "+strings.Join(SubscribableEvents, ", "))
	}
	seen := map[string]bool{}
	for _, e := range events {
		switch {
		case e == EventPing:
			return nil, validation.Field("events", "ping is sent only by the test route; subscribe to "+strings.Join(SubscribableEvents, ", "))
		case !Subscribable(e):
			return nil, validation.Field("events", fmt.Sprintf("%q is not an event type; use %s", e, strings.Join(SubscribableEvents, ", ")))
		case seen[e]:
			return nil, validation.Field("events", fmt.Sprintf("%q is listed twice", e))
		}
		seen[e] = true
	}
	out := slices.Clone(events)
	slices.SortFunc(out, func(a, b string) int {
		return slices.Index(SubscribableEvents, a) - slices.Index(SubscribableEvents, b)
	})
	return out, nil
}

func checkDescription(d string) error {
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxDescriptionLen {
		return validation.Field("description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLen))
	}
	return nil
}
