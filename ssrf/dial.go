package ssrf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// transport checks every request URL before handing it to the pinned
// http.Transport, so requests made with Client() directly get the same checks
// and error messages as Fetch.
type transport struct {
	g    *Guard
	base *http.Transport
}

func newTransport(g *Guard) *transport {
	return &transport{g: g, base: &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            g.dialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns HTTP/2 off otherwise
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := t.g.checkParsed(req.URL, true)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if u.Host != req.URL.Host || req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.URL.Host = u.Host
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", t.g.userAgent)
		}
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// dialContext resolves the host itself, refuses the connection if any address
// is blocked, and dials the checked addresses, never the name.
func (g *Guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var lookup string
	switch network {
	case "tcp":
		lookup = "ip"
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
	default:
		return nil, fmt.Errorf("%w: network %q", ErrBlocked, network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("%w: port out of range", ErrInvalidURL)
	}
	t, err := g.checkHost(host, false)
	if err != nil {
		return nil, err
	}
	answer := []netip.Addr{t.ip}
	if !t.ip.IsValid() {
		answer, err = g.resolver.LookupNetIP(ctx, lookup, t.host)
		if err != nil {
			g.log.Info("ssrf: cannot resolve host", "host", t.host, "err", err)
			return nil, &resolveError{host: t.host, err: err}
		}
		if len(answer) == 0 {
			return nil, &resolveError{host: t.host, err: errors.New("no addresses")}
		}
	}
	// One blocked address refuses the host: a name that resolves to both public
	// and internal addresses is an attack or a misconfiguration.
	ips := make([]netip.Addr, 0, len(answer))
	for _, ip := range answer {
		if !t.allowed && g.Blocked(ip) {
			g.log.Warn("ssrf: refused destination", "host", t.host, "ip", ip, "reason", "resolves to a non-public address")
			return nil, fmt.Errorf("%w: %s resolves to a non-public address", ErrBlocked, t.host)
		}
		ips = append(ips, ip.Unmap().WithZone(""))
	}
	var errs []error
	for _, ip := range ips {
		d := net.Dialer{Timeout: 10 * time.Second, Control: g.control(ip, t.allowed)}
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// control is the last check, right before connect(2): the socket connects to
// the pinned address, and that address is not blocked.
func (g *Guard) control(pinned netip.Addr, exempt bool) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: unparsable address", ErrBlocked)
		}
		ip := ap.Addr().Unmap().WithZone("")
		if ip != pinned || (!exempt && g.Blocked(ip)) {
			g.log.Warn("ssrf: refused destination", "ip", ip, "pinned", pinned, "reason", "connect check")
			return fmt.Errorf("%w: non-public address", ErrBlocked)
		}
		return nil
	}
}

// resolveError keeps resolver details (such as the DNS server's address) out of
// the message while errors.As still reaches the *net.DNSError.
type resolveError struct {
	host string
	err  error
}

func (e *resolveError) Error() string { return fmt.Sprintf("ssrf: cannot resolve host %s", e.host) }
func (e *resolveError) Unwrap() error { return e.err }
