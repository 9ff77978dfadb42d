package safehttp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrAddressNotAllowed is returned (wrapped) when a connection would go to
// an address outside the policy: loopback, private, link-local, a cloud
// metadata service, or any other range that is not globally routable.
var ErrAddressNotAllowed = errors.New("address not allowed")

// AddressPolicy decides which IP addresses a connection may go to. The zero
// value allows only globally routable unicast addresses.
type AddressPolicy struct {
	// AllowPrivate allows every address except the unspecified ones, the
	// cloud metadata services and multicast: local development and tests,
	// where the receiver runs on loopback.
	AllowPrivate bool
	// AllowedCIDRs are ranges allowed although they are not global, e.g.
	// the private network in which a deployment's own n8n runs. The
	// metadata services stay refused even inside them.
	AllowedCIDRs []netip.Prefix
}

// Check returns nil when a connection to ip may be made, else an error
// wrapping ErrAddressNotAllowed that names the address and why.
func (p AddressPolicy) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrAddressNotAllowed)
	}
	ip = ip.WithZone("")
	// The IPv4 forms hidden in IPv6 addresses are judged as the IPv4 address
	// they reach: ::ffff:127.0.0.1 is loopback.
	if v4, ok := embeddedIPv4(ip); ok {
		if err := p.Check(v4); err != nil {
			return fmt.Errorf("%w (as %s)", err, ip)
		}
		if ip.Is4In6() {
			return nil
		}
	}
	if why := never(ip); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrAddressNotAllowed, ip, why)
	}
	if p.AllowPrivate {
		return nil
	}
	for _, pfx := range p.AllowedCIDRs {
		if pfx.Contains(ip) {
			return nil
		}
	}
	if why := nonGlobal(ip); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrAddressNotAllowed, ip, why)
	}
	return nil
}

// ParseCIDRs reads a comma-separated list of CIDR prefixes ("10.20.0.0/16,
// fd00:1::/64"). A bare address is a single-address prefix. A prefix of
// length 0 is refused: it would switch the protection off.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var pfx netip.Prefix
		var err error
		if strings.Contains(part, "/") {
			pfx, err = netip.ParsePrefix(part)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(part); err == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
		}
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%q is not a CIDR prefix", part))
		case pfx.Bits() == 0:
			errs = append(errs, fmt.Errorf("%q would allow every address", part))
		default:
			out = append(out, pfx.Masked())
		}
	}
	return out, errors.Join(errs...)
}

// rangeOf is a named set of addresses.
type rangeOf struct {
	prefix netip.Prefix
	why    string
}

func ranges(why string, cidrs ...string) []rangeOf {
	out := make([]rangeOf, len(cidrs))
	for i, c := range cidrs {
		out[i] = rangeOf{netip.MustParsePrefix(c), why}
	}
	return out
}

func concat(lists ...[]rangeOf) []rangeOf {
	var out []rangeOf
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// neverAllowed holds what no option opens: nothing legitimate listens on
// an unspecified or multicast address (connecting to 0.0.0.0 reaches the
// local host on Linux), and the metadata services hand out cloud
// credentials. The metadata list names the well-known endpoints: AWS
// (169.254.169.254, fd00:ec2::254, the ECS task endpoint 169.254.170.2 and
// the EC2 DNS resolver 169.254.169.253), GCP and Azure IMDS (169.254.169.254),
// Azure's WireServer (168.63.129.16, a public address), Alibaba
// (100.100.100.200) and Oracle (192.0.0.192).
var neverAllowed = concat(
	ranges("unspecified", "0.0.0.0/8", "::/128"),
	ranges("multicast or broadcast", "224.0.0.0/4", "255.255.255.255/32", "ff00::/8"),
	ranges("a cloud metadata service", "169.254.169.254/32", "169.254.169.253/32", "169.254.170.2/32",
		"168.63.129.16/32", "100.100.100.200/32", "192.0.0.192/32", "fd00:ec2::254/128"),
)

// notGlobal is every IANA special-purpose range that is not globally
// reachable (RFC 6890 and its registries), plus a few kept out for safety.
var notGlobal = concat(
	ranges("loopback", "127.0.0.0/8", "::1/128"),
	ranges("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
	ranges("shared address space (CGNAT)", "100.64.0.0/10"),
	ranges("link-local", "169.254.0.0/16", "fe80::/10"),
	ranges("reserved", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "240.0.0.0/4",
		"::/96", "100::/64", "64:ff9b:1::/48", "2001::/23", "5f00::/16", "fec0::/10"),
	ranges("documentation", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"),
)

// globalUnicast6 is where every globally routable IPv6 unicast address lives.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

func never(ip netip.Addr) string {
	for _, r := range neverAllowed {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	return ""
}

func nonGlobal(ip netip.Addr) string {
	for _, r := range notGlobal {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) && !nat64.Contains(ip) {
		return "not global unicast"
	}
	return ""
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	compat    = netip.MustParsePrefix("::/96")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address stands for or
// carries: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, the
// deprecated form), NAT64 (64:ff9b::a.b.c.d, translated to a.b.c.d by a
// NAT64 gateway) and 6to4 (2002:AABB:CCDD::, relayed to a.b.c.d).
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap(), true
	case compat.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
