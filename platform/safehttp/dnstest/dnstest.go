// Package dnstest is a DNS server inside a test's process: the test
// decides what a name resolves to, as an attacker controlling a domain's
// DNS would, and can change the answer between two look-ups.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers A and AAAA queries from a zone the test controls.
type Server struct {
	mu   sync.Mutex
	zone map[string][]netip.Addr
	// Resolver asks only this server.
	Resolver *net.Resolver
}

// Set makes name (lower case, without the final dot) resolve to addrs
// from the next query on.
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[name] = addrs
}

func (s *Server) lookup(name string) ([]netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.zone[name]
	return a, ok
}

// Start serves A and AAAA answers for the names in zone (lower case,
// without the final dot) on a loopback UDP port until the test ends and
// returns a resolver that asks only that server.
func Start(t testing.TB, zone map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	return StartServer(t, zone).Resolver
}

// StartServer is Start returning the server, whose zone can change.
func StartServer(t testing.TB, zone map[string][]netip.Addr) *Server {
	t.Helper()
	s := &Server{zone: map[string][]netip.Addr{}}
	for k, v := range zone {
		s.zone[k] = v
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out, ok := answer(buf[:n], s.lookup); ok {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	addr := pc.LocalAddr().String()
	s.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
	return s
}

// answer builds the reply to one query: the zone's addresses of the asked
// type, or NXDOMAIN for a name it does not hold.
func answer(query []byte, zone func(string) ([]netip.Addr, bool)) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	addrs, known := zone(strings.TrimSuffix(strings.ToLower(q.Name.String()), "."))
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	for _, a := range addrs {
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rr, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
