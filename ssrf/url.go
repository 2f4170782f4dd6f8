package ssrf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// CheckURL validates a URL before any network use and returns it normalised:
//
//   - the scheme must be http or https (ErrScheme otherwise);
//   - a host is required, userinfo is refused, a port must be a number in 1-65535;
//   - an internationalised host name is converted to its ASCII (punycode) form,
//     the way net/http does before dialing, and lowercased;
//   - a host that is an IP address in any notation the resolvers of the world
//     accept (dotted decimal, a single 32-bit integer, octal or hex parts,
//     short forms such as 127.1, IPv6 literals incl. IPv4-mapped forms) is
//     parsed, refused with ErrBlocked when Blocked, and rewritten to its
//     canonical form; a host that ends in a number but is no valid address is
//     refused (ErrInvalidURL);
//   - "localhost" and names under ".localhost" are refused by name.
//
// CheckURL does not resolve host names: the addresses a name resolves to are
// checked when connecting (see Client), where they cannot change afterwards.
func (g *Guard) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	return g.checkParsed(u, false)
}

// checkParsed checks a parsed URL's scheme, userinfo and host (what decides
// where a request goes) and returns a copy with the host normalised. Requests
// may use Opaque to send a raw path, URLs to check may not.
func (g *Guard) checkParsed(u *url.URL, opaqueOK bool) (*url.URL, error) {
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return nil, fmt.Errorf("%w: missing scheme", ErrScheme)
		}
		return nil, fmt.Errorf("%w: %q", ErrScheme, truncate(u.Scheme, 32))
	}
	if u.Host == "" || (u.Opaque != "" && !opaqueOK) {
		return nil, fmt.Errorf("%w: missing host", ErrInvalidURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: credentials in the URL are not supported", ErrInvalidURL)
	}
	h, err := g.checkHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if err != nil {
		return nil, err
	}
	port, err := checkPort(u.Port())
	if err != nil {
		return nil, err
	}
	out := *u
	out.Host = joinHostPort(h.host, port)
	return &out, nil
}

// target is a checked host.
type target struct {
	host    string     // normalised: lowercase ASCII name, or canonical IP address
	ip      netip.Addr // valid when the host is an IP address
	allowed bool       // the name is in Options.Allow: its addresses are exempt
}

// checkHost validates and normalises a host (without port). bracketed reports
// whether the URL wrote it in brackets, which only IPv6 literals may use.
func (g *Guard) checkHost(host string, bracketed bool) (target, error) {
	if host == "" {
		return target{}, fmt.Errorf("%w: missing host", ErrInvalidURL)
	}
	if bracketed || strings.Contains(host, ":") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return target{}, fmt.Errorf("%w: malformed IPv6 address", ErrInvalidURL)
		}
		if ip.Zone() != "" {
			return target{}, fmt.Errorf("%w: IPv6 zones are not supported", ErrInvalidURL)
		}
		return g.checkIP(ip)
	}
	if !isASCII(host) {
		// What net/http does before dialing (idnaASCII in net/http): full-width
		// digits and ideographic full stops map to ASCII here, so a host written
		// "１２７.０.０.１" is dialed as 127.0.0.1.
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return target{}, fmt.Errorf("%w: malformed international host name", ErrInvalidURL)
		}
		host = a
	}
	host = strings.ToLower(host)
	name := strings.TrimSuffix(host, ".")
	if endsInNumber(name) {
		ip, ok := parseIPv4(name)
		if !ok {
			return target{}, fmt.Errorf("%w: malformed IPv4 address", ErrInvalidURL)
		}
		return g.checkIP(ip)
	}
	if !validName(name) {
		return target{}, fmt.Errorf("%w: malformed host name", ErrInvalidURL)
	}
	if _, ok := g.allowNames[name]; ok {
		return target{host: host, allowed: true}, nil
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		g.log.Warn("ssrf: refused destination", "host", host, "reason", "localhost name")
		return target{}, fmt.Errorf("%w: %s is a local name", ErrBlocked, name)
	}
	return target{host: host}, nil
}

func (g *Guard) checkIP(ip netip.Addr) (target, error) {
	if g.Blocked(ip) {
		g.log.Warn("ssrf: refused destination", "ip", ip, "reason", "non-public address")
		return target{}, fmt.Errorf("%w: %s is not a public address", ErrBlocked, ip)
	}
	return target{host: ip.String(), ip: ip}, nil
}

func checkPort(port string) (string, error) {
	if port == "" {
		return "", nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", fmt.Errorf("%w: port out of range", ErrInvalidURL)
	}
	return strconv.FormatUint(n, 10), nil
}

func joinHostPort(host, port string) string {
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// endsInNumber reports whether the last label of a host name is a number in
// the sense of the WHATWG URL standard: such a host is an IPv4 address (or
// invalid), never a DNS name, because resolvers (glibc's inet_aton, browsers)
// read it as one.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		last = last[2:]
		for i := 0; i < len(last); i++ {
			if digitVal(last[i]) >= 16 {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// parseIPv4 parses an IPv4 address the way inet_aton(3) and the WHATWG URL
// standard do: one to four parts, each decimal, octal (leading 0) or hex
// (leading 0x); the last part fills the remaining bytes, so "127.1",
// "2130706433", "0177.0.0.1" and "0x7f.1" all are 127.0.0.1.
func parseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseIPv4Part(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	var n uint64
	for i := 0; i < len(p); i++ {
		d := digitVal(p[i])
		if d >= base {
			return 0, false
		}
		n = n*base + d
		if n > 0xffffffff {
			return 0, false
		}
	}
	return n, true
}

func digitVal(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 255
}

// validName reports whether name (lowercase, without the trailing dot) is a
// syntactically valid DNS name: letters, digits, '-' and '_' in labels of 1 to
// 63 characters, 253 characters in all.
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseAllow parses the Options.Allow entries into host names and prefixes.
func parseAllow(entries []string) (map[string]struct{}, []netip.Prefix, error) {
	names := make(map[string]struct{})
	var nets []netip.Prefix
	for _, e := range entries {
		s := strings.TrimSpace(e)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, nil, fmt.Errorf("ssrf: allow entry %q: %w", e, err)
			}
			nets = append(nets, unmapPrefix(p.Masked()))
			continue
		}
		if ip, err := netip.ParseAddr(s); err == nil {
			if ip.Zone() != "" {
				return nil, nil, fmt.Errorf("ssrf: allow entry %q: IPv6 zones are not supported", e)
			}
			nets = append(nets, unmapPrefix(netip.PrefixFrom(ip, ip.BitLen())))
			continue
		}
		name := s
		if !isASCII(name) {
			a, err := idna.Lookup.ToASCII(name)
			if err != nil {
				return nil, nil, fmt.Errorf("ssrf: allow entry %q: %w", e, err)
			}
			name = a
		}
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		if endsInNumber(name) || !validName(name) {
			return nil, nil, fmt.Errorf("ssrf: allow entry %q: %w", e,
				errors.New("want a host name, an IP address in canonical form, or a CIDR prefix"))
		}
		names[name] = struct{}{}
	}
	return names, nets, nil
}

// unmapPrefix turns a prefix within ::ffff:0:0/96 into the IPv4 prefix it maps.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}
