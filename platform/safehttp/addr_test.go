package safehttp

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAddressPolicyCheck(t *testing.T) {
	t.Parallel()
	strict := AddressPolicy{}
	dev := AddressPolicy{AllowPrivate: true}
	cidrs := AddressPolicy{AllowedCIDRs: []netip.Prefix{
		netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fd00:1::/64"),
	}}
	tests := []struct {
		name   string
		policy AddressPolicy
		addr   string
		allow  bool
	}{
		{"public IPv4", strict, "93.184.215.14", true},
		{"public IPv6", strict, "2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"NAT64 of a public IPv4", strict, "64:ff9b::5db8:d70e", true},
		{"6to4 of a public IPv4", strict, "2002:5db8:d70e::1", true},
		{"mapped public IPv4", strict, "::ffff:93.184.215.14", true},

		{"loopback", strict, "127.0.0.1", false},
		{"loopback elsewhere in 127/8", strict, "127.3.2.1", false},
		{"IPv6 loopback", strict, "::1", false},
		{"private 10/8", strict, "10.0.0.5", false},
		{"private 172.16/12", strict, "172.31.255.1", false},
		{"private 192.168/16", strict, "192.168.1.1", false},
		{"CGNAT", strict, "100.64.0.1", false},
		{"CGNAT top", strict, "100.127.255.254", false},
		{"link-local", strict, "169.254.1.1", false},
		{"metadata", strict, "169.254.169.254", false},
		{"Azure WireServer (public range)", strict, "168.63.129.16", false},
		{"Alibaba metadata", strict, "100.100.100.200", false},
		{"AWS IPv6 metadata", strict, "fd00:ec2::254", false},
		{"unspecified", strict, "0.0.0.0", false},
		{"this network", strict, "0.1.2.3", false},
		{"IPv6 unspecified", strict, "::", false},
		{"multicast", strict, "224.0.0.1", false},
		{"broadcast", strict, "255.255.255.255", false},
		{"reserved 240/4", strict, "240.0.0.1", false},
		{"benchmarking", strict, "198.18.0.1", false},
		{"documentation", strict, "192.0.2.1", false},
		{"IETF protocol assignments", strict, "192.0.0.8", false},
		{"ULA", strict, "fd12:3456::1", false},
		{"IPv6 link-local", strict, "fe80::1", false},
		{"IPv6 link-local with zone", strict, "fe80::1%eth0", false},
		{"site-local", strict, "fec0::1", false},
		{"IPv6 multicast", strict, "ff02::1", false},
		{"Teredo", strict, "2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"IPv6 documentation", strict, "2001:db8::1", false},
		{"outside 2000::/3", strict, "4000::1", false},
		{"mapped loopback", strict, "::ffff:127.0.0.1", false},
		{"mapped private", strict, "::ffff:10.0.0.1", false},
		{"mapped metadata", strict, "::ffff:169.254.169.254", false},
		{"compatible loopback", strict, "::127.0.0.1", false},
		{"compatible private", strict, "::10.0.0.1", false},
		{"compatible public (deprecated form)", strict, "::93.184.215.14", false},
		{"NAT64 of loopback", strict, "64:ff9b::7f00:1", false},
		{"NAT64 of metadata", strict, "64:ff9b::a9fe:a9fe", false},
		{"local-use NAT64", strict, "64:ff9b:1::5db8:d70e", false},
		{"6to4 of private", strict, "2002:0a00:0001::1", false},
		{"6to4 of loopback", strict, "2002:7f00:0001::1", false},

		{"dev: loopback", dev, "127.0.0.1", true},
		{"dev: private", dev, "192.168.1.1", true},
		{"dev: mapped loopback", dev, "::ffff:127.0.0.1", true},
		{"dev: still no metadata", dev, "169.254.169.254", false},
		{"dev: still no mapped metadata", dev, "::ffff:169.254.169.254", false},
		{"dev: still no unspecified", dev, "0.0.0.0", false},
		{"dev: still no multicast", dev, "224.0.0.1", false},

		{"cidr: inside", cidrs, "10.20.3.4", true},
		{"cidr: mapped inside", cidrs, "::ffff:10.20.3.4", true},
		{"cidr: outside", cidrs, "10.21.0.1", false},
		{"cidr: loopback not listed", cidrs, "127.0.0.1", false},
		{"cidr: IPv6 inside", cidrs, "fd00:1::7", true},
		{"cidr: link-local listed", cidrs, "169.254.10.10", true},
		{"cidr: metadata even when listed", cidrs, "169.254.169.254", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(netip.MustParseAddr(tc.addr))
			if tc.allow && err != nil {
				t.Fatalf("Check(%s) = %v, want allowed", tc.addr, err)
			}
			if !tc.allow && !errors.Is(err, ErrAddressNotAllowed) {
				t.Fatalf("Check(%s) = %v, want ErrAddressNotAllowed", tc.addr, err)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" 10.20.0.0/16 , fd00:1::/64", []string{"10.20.0.0/16", "fd00:1::/64"}, false},
		{"10.20.1.7/16", []string{"10.20.0.0/16"}, false},
		{"10.1.2.3", []string{"10.1.2.3/32"}, false},
		{"0.0.0.0/0", nil, true},
		{"::/0", nil, true},
		{"10.0.0.0/33", nil, true},
		{"n8n.internal", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseCIDRs(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("ParseCIDRs(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
		if tc.wantErr {
			continue
		}
		if len(got) != len(tc.want) {
			t.Fatalf("ParseCIDRs(%q) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range got {
			if got[i].String() != tc.want[i] {
				t.Fatalf("ParseCIDRs(%q) = %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}
