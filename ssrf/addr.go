package ssrf

import "net/netip"

// blocked4 lists the IPv4 ranges that are never a legitimate destination for a
// fetch on behalf of a user (IANA special-purpose registry, the ranges that are
// not globally reachable).
var blocked4 = mustPrefixes(
	"0.0.0.0/8",       // "this network", incl. the unspecified 0.0.0.0
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT (also Alibaba's metadata 100.100.100.200)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, incl. the cloud metadata 169.254.169.254
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments (Oracle's metadata 192.0.0.192)
	"192.0.2.0/24",    // documentation TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation TEST-NET-2
	"203.0.113.0/24",  // documentation TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, incl. the limited broadcast 255.255.255.255
)

var (
	// global6 is the IPv6 global unicast space; everything outside it (::/8 with
	// the unspecified, loopback and IPv4-compatible addresses, 100::/64 discard,
	// fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local,
	// ff00::/8 multicast, ...) is refused, except the IPv4 embeddings below.
	global6 = netip.MustParsePrefix("2000::/3")
	// nat64 embeds an IPv4 address in its last 32 bits (RFC 6052).
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// sixToFour embeds an IPv4 address in bits 16-47 (RFC 3056).
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// blocked6 lists the parts of global6 that are not globally reachable.
var blocked6 = mustPrefixes(
	"2001::/23",     // IETF protocol assignments, incl. Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation
)

// Blocked reports whether a connection to addr is refused: any address that is
// not publicly routable, unless Options.Allow exempts it. IPv4-mapped IPv6
// addresses are checked as the IPv4 address they map to, and so are the IPv4
// addresses embedded in NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses.
// The zero Addr is blocked.
func (g *Guard) Blocked(addr netip.Addr) bool {
	if !addr.IsValid() {
		return true
	}
	addr = addr.WithZone("")
	if g.allowedAddr(addr) {
		return false
	}
	if addr.Is4In6() {
		return g.Blocked(addr.Unmap())
	}
	if addr.Is4() {
		return containsAny(blocked4, addr)
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		return g.Blocked(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(addr):
		return g.Blocked(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	case !global6.Contains(addr):
		return true
	}
	return containsAny(blocked6, addr)
}

func (g *Guard) allowedAddr(addr netip.Addr) bool {
	for _, p := range g.allowNets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func containsAny(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
