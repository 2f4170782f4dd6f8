package ssrf

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/idna"
)

func TestCheckURLAccepts(t *testing.T) {
	t.Parallel()
	g, err := New(Options{})
	require.NoError(t, err)

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"plain https", "https://example.com/a?b=c#d", "https://example.com/a?b=c#d"},
		{"host and scheme lowercased", "HTTPS://Example.COM/Path", "https://example.com/Path"},
		{"surrounding space trimmed", "  http://example.com/  ", "http://example.com/"},
		{"public IPv4", "http://1.1.1.1/", "http://1.1.1.1/"},
		{"public IPv4 as integer normalised", "http://16843009/", "http://1.1.1.1/"},
		{"public IPv4 in hex parts normalised", "http://0x8.0x8.0x8.0x8/", "http://8.8.8.8/"},
		{"public IPv4 trailing dot normalised", "http://8.8.8.8./", "http://8.8.8.8/"},
		{"public IPv6", "http://[2606:4700:4700::1111]:8080/", "http://[2606:4700:4700::1111]:8080/"},
		{"public IPv6 canonicalised", "http://[2606:4700:4700:0:0:0:0:1111]/", "http://[2606:4700:4700::1111]/"},
		{"international name to punycode", "http://bücher.example/", "http://xn--bcher-kva.example/"},
		{"port leading zeros", "http://example.com:0443/", "http://example.com:443/"},
		{"empty port dropped", "http://example.com:/", "http://example.com/"},
		{"underscore in name", "http://my_host.example.com/", "http://my_host.example.com/"},
		{"name with digit labels", "http://1.2.3.example.com/", "http://1.2.3.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := g.CheckURL(tt.raw)
			require.NoError(t, err)
			require.Equal(t, tt.want, u.String())
		})
	}
}

func TestCheckURLRefuses(t *testing.T) {
	t.Parallel()
	g, err := New(Options{})
	require.NoError(t, err)

	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"file", "file:///etc/passwd", ErrScheme},
		{"gopher", "gopher://127.0.0.1:25/_HELO", ErrScheme},
		{"ftp", "ftp://example.com/", ErrScheme},
		{"data", "data:text/plain,hi", ErrScheme},
		{"javascript", "javascript:alert(1)", ErrScheme},
		{"websocket", "ws://example.com/", ErrScheme},
		{"scheme-relative", "//example.com/", ErrScheme},
		{"no scheme", "example.com", ErrScheme},
		{"no host", "http:///etc/passwd", ErrInvalidURL},
		{"opaque", "http:example.com", ErrInvalidURL},
		{"userinfo", "http://user:pass@example.com/", ErrInvalidURL},
		{"userinfo confusion", "http://1.1.1.1@127.0.0.1/", ErrInvalidURL},
		{"port out of range", "http://example.com:65536/", ErrInvalidURL},
		{"port zero", "http://example.com:0/", ErrInvalidURL},
		{"port not numeric", "http://example.com:http/", ErrInvalidURL},
		{"space in host", "http://exa mple.com/", ErrInvalidURL},
		{"empty label", "http://a..b/", ErrInvalidURL},
		{"IPv4 with five parts", "http://127.0.0.1.1/", ErrInvalidURL},
		{"IPv4 integer overflow", "http://4294967296/", ErrInvalidURL},
		{"IPv4 part overflow", "http://1.2.3.256/", ErrInvalidURL},
		{"bad octal digit", "http://0189.0.0.1/", ErrInvalidURL},
		{"name ending in a number", "http://foo.123/", ErrInvalidURL},
		{"IPv6 zone", "http://[fe80::1%25eth0]/", ErrInvalidURL},
		{"percent-encoded host", "http://%31%32%37.0.0.1/", ErrInvalidURL},
		{"loopback", "http://127.0.0.1/", ErrBlocked},
		{"loopback trailing dot", "http://127.0.0.1./", ErrBlocked},
		{"localhost", "http://localhost/", ErrBlocked},
		{"localhost uppercase trailing dot", "http://LOCALHOST./", ErrBlocked},
		{"localhost subdomain", "http://metadata.localhost/", ErrBlocked},
		{"unspecified", "http://0.0.0.0/", ErrBlocked},
		{"zero integer", "http://0/", ErrBlocked},
		{"empty hex", "http://0x/", ErrBlocked},
		{"decimal integer", "http://2130706433/", ErrBlocked},
		{"hex integer", "http://0x7f000001/", ErrBlocked},
		{"octal integer", "http://017700000001/", ErrBlocked},
		{"octal parts", "http://0177.0.0.1/", ErrBlocked},
		{"hex parts", "http://0x7f.0x0.0x0.0x1/", ErrBlocked},
		{"hex short", "http://0x7f.1/", ErrBlocked},
		{"uppercase hex short", "http://0X7F.1/", ErrBlocked},
		{"short form", "http://127.1/", ErrBlocked},
		{"three parts", "http://127.0.1/", ErrBlocked},
		{"metadata", "http://169.254.169.254/latest/meta-data/", ErrBlocked},
		{"metadata as integer", "http://2852039166/", ErrBlocked},
		{"private", "http://10.0.0.1:8080/", ErrBlocked},
		{"CGNAT", "http://100.100.100.200/", ErrBlocked},
		{"broadcast", "http://255.255.255.255/", ErrBlocked},
		{"full-width digits", "http://１２７.０.０.１/", ErrBlocked},
		{"ideographic full stops", "http://127。0。0。1/", ErrBlocked},
		{"circled digits", "http://①②⑦.0.0.1/", ErrBlocked},
		{"IPv6 loopback", "http://[::1]/", ErrBlocked},
		{"IPv6 unspecified", "http://[::]/", ErrBlocked},
		{"IPv4-mapped", "http://[::ffff:127.0.0.1]/", ErrBlocked},
		{"IPv4-mapped hex", "http://[::ffff:7f00:1]/", ErrBlocked},
		{"IPv4-mapped long form", "http://[0:0:0:0:0:ffff:127.0.0.1]/", ErrBlocked},
		{"IPv4-mapped metadata", "http://[::ffff:a9fe:a9fe]/", ErrBlocked},
		{"IPv4-compatible", "http://[::127.0.0.1]/", ErrBlocked},
		{"NAT64 metadata", "http://[64:ff9b::a9fe:a9fe]/", ErrBlocked},
		{"6to4 loopback", "http://[2002:7f00:1::]/", ErrBlocked},
		{"Teredo", "http://[2001::1]/", ErrBlocked},
		{"unique local", "http://[fd00:ec2::254]/", ErrBlocked},
		{"link-local IPv6", "http://[fe80::1]/", ErrBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := g.CheckURL(tt.raw)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, u)
			require.NotContains(t, err.Error(), "%!", "broken error format")
		})
	}
}

func TestCheckURLAllow(t *testing.T) {
	t.Parallel()
	g, err := New(Options{Allow: []string{"localhost", "127.0.0.0/8", "Docs.Internal."}})
	require.NoError(t, err)

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"allowed name", "http://localhost:8080/", "http://localhost:8080/"},
		{"allowed name case and trailing dot insensitive", "http://DOCS.internal./x", "http://docs.internal./x"},
		{"allowed CIDR in integer notation", "http://2130706433/", "http://127.0.0.1/"},
		{"allowed CIDR as mapped IPv6", "http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := g.CheckURL(tt.raw)
			require.NoError(t, err)
			require.Equal(t, tt.want, u.String())
		})
	}

	t.Run("other names under an allowed one stay blocked", func(t *testing.T) {
		t.Parallel()
		_, err := g.CheckURL("http://app.localhost/")
		require.ErrorIs(t, err, ErrBlocked)
	})
	t.Run("addresses outside the allowed CIDR stay blocked", func(t *testing.T) {
		t.Parallel()
		_, err := g.CheckURL("http://[::1]/")
		require.ErrorIs(t, err, ErrBlocked)
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://example.com/", "https://1.1.1.1:443/x", "http://127.0.0.1/", "http://2130706433/",
		"http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
		"http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:127.0.0.1]/", "http://[64:ff9b::7f00:1]/",
		"http://[2002:7f00:1::]/", "http://１２７.０.０.１/", "http://127。0。0。1/", "file:///etc/passwd",
		"gopher://127.0.0.1:25/", "http://user@host/", "http://0x/", "http://0/", "http://1.2.3.256/",
		"http://[fe80::1%25eth0]/", "http://localhost./", "HTTP://0X7F.1", "http://0x7f.0x0.0x0.0x1/",
	} {
		f.Add(s)
	}
	g, err := New(Options{})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.CheckURL(raw)
		if err != nil {
			require.Nil(t, u)
			return
		}
		require.Contains(t, []string{"http", "https"}, u.Scheme)
		require.Nil(t, u.User)
		require.NotEmpty(t, u.Hostname())

		// Neither the host as the caller wrote it nor the normalised one is a
		// blocked address in any notation.
		hosts := []string{u.Hostname()}
		if in, err := url.Parse(strings.TrimSpace(raw)); err == nil {
			h := in.Hostname()
			if a, err := idna.Lookup.ToASCII(h); err == nil {
				h = a
			}
			hosts = append(hosts, h)
		}
		for _, h := range hosts {
			for _, ip := range oracleIPs(h) {
				require.False(t, g.Blocked(ip), "accepted %q: host %q is %s", raw, h, ip)
				un := ip.Unmap()
				require.True(t, un.IsGlobalUnicast() && !un.IsPrivate(), "accepted %q: host %q is %s", raw, h, ip)
			}
		}

		// Normalisation is stable.
		again, err := g.CheckURL(u.String())
		require.NoError(t, err, "normalised %q of %q refused", u.String(), raw)
		require.Equal(t, u.String(), again.String())
	})
}

// oracleIPs returns the addresses a host could denote, parsed independently of
// the package: netip for canonical forms, and an inet_aton reading built on
// strconv for the legacy numeric notations.
func oracleIPs(host string) []netip.Addr {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	var out []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		out = append(out, ip)
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return out
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" || strings.Contains(p, "_") || strings.HasPrefix(p, "0b") || strings.HasPrefix(p, "0o") {
			return out
		}
		if p == "0x" {
			continue
		}
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			return out
		}
		vals[i] = v
	}
	var v uint64
	for i, n := range vals[:len(vals)-1] {
		if n > 255 {
			return out
		}
		v += n << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(32-8*(len(vals)-1)) {
		return out
	}
	v += last
	return append(out, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
}
