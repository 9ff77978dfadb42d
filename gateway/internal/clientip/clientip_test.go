package clientip

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, cidrs, peer, xff, want string
	}{
		{"no proxy configured ignores header", "", "", "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"header without trusted proxies is ignored", "X-Forwarded-For", "", "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"untrusted peer cannot spoof", "X-Forwarded-For", "10.0.0.0/8", "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"trusted peer: header wins", "X-Forwarded-For", "10.0.0.0/8", "10.1.2.3", "198.51.100.7", "198.51.100.7"},
		{"trusted peer: right-most untrusted hop", "X-Forwarded-For", "10.0.0.0/8", "10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7"},
		{"trusted peer, empty header", "X-Forwarded-For", "10.0.0.0/8", "10.1.2.3", "", "10.1.2.3"},
		{"trusted peer, garbage header", "X-Forwarded-For", "10.0.0.0/8", "10.1.2.3", "not-an-ip", "10.1.2.3"},
		{"single address as proxy", "X-Real-IP", "127.0.0.1", "127.0.0.1", "198.51.100.8", "198.51.100.8"},
		{"ipv6 proxy", "X-Forwarded-For", "::1/128", "::1", "2001:db8::1", "2001:db8::1"},
		{"all hops trusted: left-most", "X-Forwarded-For", "10.0.0.0/8", "10.1.2.3", "10.0.0.5, 10.0.0.6", "10.0.0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(tt.header, tt.cidrs)
			if err != nil {
				t.Fatal(err)
			}
			got := r.ClientIP(netip.MustParseAddr(tt.peer), func(h string) string {
				if h == tt.header {
					return tt.xff
				}
				return ""
			})
			if got.String() != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := New("X-Forwarded-For", "10.0.0.0/33"); err == nil {
		t.Error("a bad CIDR must be refused")
	}
}

func TestLimitKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, want string
	}{
		{"ipv4", "198.51.100.7", "198.51.100.7"},
		{"ipv4 loopback", "127.0.0.1", "127.0.0.1"},
		{"ipv4-mapped ipv6 is the ipv4 client", "::ffff:198.51.100.7", "198.51.100.7"},
		{"ipv6 keys on its /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"same /64, other interface id", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"neighbouring /64 is another client", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"ipv6 loopback", "::1", "::/64"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := LimitKey(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Fatalf("LimitKey(%s) = %s, want %s", tt.addr, got, tt.want)
			}
			if got := LimitKeyOf(tt.addr); got != tt.want {
				t.Fatalf("LimitKeyOf(%s) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
	if got := LimitKeyOf("not-an-ip"); got != "not-an-ip" {
		t.Fatalf("LimitKeyOf of text = %q", got)
	}
}
