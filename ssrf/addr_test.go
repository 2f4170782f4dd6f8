package ssrf

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBlocked(t *testing.T) {
	t.Parallel()
	g, err := New(Options{})
	require.NoError(t, err)

	tests := []struct {
		name    string
		addr    string
		blocked bool
	}{
		{"unspecified IPv4", "0.0.0.0", true},
		{"this network", "0.1.2.3", true},
		{"unspecified IPv6", "::", true},
		{"loopback", "127.0.0.1", true},
		{"loopback other", "127.255.255.254", true},
		{"loopback IPv6", "::1", true},
		{"private 10/8", "10.0.0.1", true},
		{"private 172.16/12 low", "172.16.0.1", true},
		{"private 172.16/12 high", "172.31.255.255", true},
		{"private 192.168/16", "192.168.1.1", true},
		{"unique local IPv6", "fc00::1", true},
		{"unique local IPv6 fd", "fd12:3456::1", true},
		{"AWS IPv6 metadata", "fd00:ec2::254", true},
		{"link-local", "169.254.1.1", true},
		{"cloud metadata", "169.254.169.254", true},
		{"link-local IPv6", "fe80::1", true},
		{"link-local IPv6 with zone", "fe80::1%eth0", true},
		{"site-local IPv6", "fec0::1", true},
		{"CGNAT", "100.64.0.1", true},
		{"CGNAT Alibaba metadata", "100.100.100.200", true},
		{"multicast", "224.0.0.1", true},
		{"multicast high", "239.255.255.250", true},
		{"multicast IPv6", "ff02::1", true},
		{"broadcast", "255.255.255.255", true},
		{"reserved", "240.0.0.1", true},
		{"benchmarking", "198.18.0.1", true},
		{"benchmarking high", "198.19.255.255", true},
		{"IETF protocol assignments", "192.0.0.192", true},
		{"TEST-NET-1", "192.0.2.1", true},
		{"TEST-NET-2", "198.51.100.1", true},
		{"TEST-NET-3", "203.0.113.1", true},
		{"documentation IPv6", "2001:db8::1", true},
		{"documentation IPv6 3fff", "3fff::1", true},
		{"discard IPv6", "100::1", true},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", true},
		{"IPv4-mapped metadata", "::ffff:169.254.169.254", true},
		{"IPv4-mapped private", "::ffff:10.0.0.1", true},
		{"IPv4-compatible loopback", "::127.0.0.1", true},
		{"IPv4-compatible public", "::8.8.8.8", true},
		{"IPv4-translated", "::ffff:0:7f00:1", true},
		{"NAT64 loopback", "64:ff9b::7f00:1", true},
		{"NAT64 metadata", "64:ff9b::169.254.169.254", true},
		{"NAT64 local-use prefix", "64:ff9b:1::8.8.8.8", true},
		{"6to4 loopback", "2002:7f00:1::1", true},
		{"6to4 private", "2002:c0a8:101::1", true},
		{"Teredo", "2001::1", true},
		{"Teredo embedding public", "2001:0:4136:e378:8000:63bf:3fff:fdd2", true},
		{"IPv6 benchmarking", "2001:2::1", true},
		{"public Cloudflare", "1.1.1.1", false},
		{"public Google", "8.8.8.8", false},
		{"public next to private", "172.32.0.1", false},
		{"public next to CGNAT", "100.128.0.1", false},
		{"public IPv6 Cloudflare", "2606:4700:4700::1111", false},
		{"IPv4-mapped public", "::ffff:1.1.1.1", false},
		{"NAT64 public", "64:ff9b::8.8.8.8", false},
		{"6to4 public", "2002:808:808::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.blocked, g.Blocked(netip.MustParseAddr(tt.addr)))
		})
	}

	t.Run("zero address", func(t *testing.T) {
		t.Parallel()
		require.True(t, g.Blocked(netip.Addr{}))
	})
}

func TestBlockedAllow(t *testing.T) {
	t.Parallel()
	g, err := New(Options{Allow: []string{"10.1.0.0/16", "127.0.0.1", "::ffff:192.168.7.0/120", "fd00::/8"}})
	require.NoError(t, err)

	tests := []struct {
		name    string
		addr    string
		blocked bool
	}{
		{"inside allowed CIDR", "10.1.2.3", false},
		{"outside allowed CIDR", "10.2.0.1", true},
		{"mapped form of allowed CIDR", "::ffff:10.1.2.3", false},
		{"allowed single IP", "127.0.0.1", false},
		{"next to allowed single IP", "127.0.0.2", true},
		{"allowed given in mapped form", "192.168.7.9", false},
		{"allowed IPv6 CIDR", "fd00::1", false},
		{"other unique local", "fc00::1", true},
		{"public stays allowed", "8.8.8.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.blocked, g.Blocked(netip.MustParseAddr(tt.addr)))
		})
	}
}

func TestNewAllow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		entry string
		ok    bool
	}{
		{"host name", "docs.internal", true},
		{"host name mixed case with trailing dot", "Docs.Internal.", true},
		{"localhost", "localhost", true},
		{"international host name", "bücher.example", true},
		{"IPv4", "127.0.0.1", true},
		{"IPv6", "::1", true},
		{"IPv4 CIDR", "10.0.0.0/8", true},
		{"IPv6 CIDR", "fd00::/8", true},
		{"empty", "", false},
		{"prefix too long", "10.0.0.0/33", false},
		{"URL", "http://docs.internal", false},
		{"wildcard", "*.example.com", false},
		{"integer IP notation", "2130706433", false},
		{"octal IP notation", "0177.0.0.1", false},
		{"zone", "fe80::1%eth0", false},
		{"host with port", "docs.internal:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Options{Allow: []string{tt.entry}})
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
