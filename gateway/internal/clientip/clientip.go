// Package clientip finds the client address of a request: the connection's
// peer, or a proxy header only when the peer is a trusted proxy.
package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// Resolver picks the client IP of a request.
type Resolver struct {
	// Header is the proxy header to read (e.g. X-Forwarded-For); empty: never.
	Header  string
	trusted []netip.Prefix
}

// New returns a resolver trusting header from peers in the given CIDRs
// (comma separated; single addresses are accepted as /32 or /128).
func New(header, cidrs string) (*Resolver, error) {
	r := &Resolver{Header: strings.TrimSpace(header)}
	for _, s := range strings.Split(cidrs, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q: %w", s, err)
			}
			r.trusted = append(r.trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q: %w", s, err)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client address given the connection's peer and a
// function reading a request header. A proxy header is believed only when
// the peer is a trusted proxy; with a list (X-Forwarded-For) the right-most
// address that is not itself a trusted proxy is the client, so a client
// cannot spoof its address by sending its own header.
func (r *Resolver) ClientIP(peer netip.Addr, header func(string) string) netip.Addr {
	peer = peer.Unmap()
	if r.Header == "" || len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	v := header(r.Header)
	if v == "" {
		return peer
	}
	parts := strings.Split(v, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return peer // a malformed hop: do not guess past it
		}
		a = a.Unmap()
		if !r.isTrusted(a) || i == 0 {
			return a
		}
	}
	return peer
}

// LimitKey is the key that per-client-IP limits count a client under: an
// IPv4 client's address, and an IPv6 client's /64. A /64 is what one
// subscriber, one host or one cloud instance is usually given, so a single
// client holds 2^64 addresses and could otherwise get a fresh budget for
// every request. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4
// client it names; a zone is dropped.
func LimitKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// LimitKeyOf is LimitKey of an address in text form; text that is not an
// address is returned unchanged.
func LimitKeyOf(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return LimitKey(a)
}
