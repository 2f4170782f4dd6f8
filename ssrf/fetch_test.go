package ssrf

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// counter is a loopback listener that counts the connections it receives:
// the thing an SSRF attack tries to reach.
type counter struct {
	v4, v6 net.Listener // v6 is nil without IPv6 loopback
	n      atomic.Int64
}

func newCounter(t *testing.T) *counter {
	t.Helper()
	c := &counter{}
	var err error
	c.v4, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c.v6, _ = net.Listen("tcp", "[::1]:0")
	for _, ln := range []net.Listener{c.v4, c.v6} {
		if ln == nil {
			continue
		}
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				c.n.Add(1)
				_ = conn.Close()
			}
		}()
	}
	return c
}

// expand fills {port} with the IPv4 listener's port and {port6} with the IPv6
// one's (or the IPv4 one's when there is no IPv6 loopback).
func (c *counter) expand(s string) string {
	p4 := strconv.Itoa(c.v4.Addr().(*net.TCPAddr).Port)
	p6 := p4
	if c.v6 != nil {
		p6 = strconv.Itoa(c.v6.Addr().(*net.TCPAddr).Port)
	}
	return strings.NewReplacer("{port}", p4, "{port6}", p6).Replace(s)
}

// connections waits briefly for accepts in flight, then reports the count.
func (c *counter) connections() int64 {
	time.Sleep(20 * time.Millisecond)
	return c.n.Load()
}

// resolverFunc lets a test answer DNS questions.
type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// fakeDNS answers from a fixed table; unknown names do not exist.
func fakeDNS(table map[string][]string) resolverFunc {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		ss, ok := table[strings.TrimSuffix(host, ".")]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.0.0.2:53", IsNotFound: true}
		}
		out := make([]netip.Addr, len(ss))
		for i, s := range ss {
			out[i] = netip.MustParseAddr(s)
		}
		return out, nil
	}
}

var attackerDNS = map[string][]string{
	"localhost":       {"127.0.0.1", "::1"},
	"public.example":  {"127.0.0.1"},
	"mapped.example":  {"::ffff:127.0.0.1"},
	"mixed.example":   {"1.1.1.1", "127.0.0.1"},
	"private.example": {"10.0.0.1"},
	"allowed.test":    {"127.0.0.1"},
}

func newGuard(t *testing.T, opts Options) *Guard {
	t.Helper()
	if opts.Resolver == nil {
		opts.Resolver = fakeDNS(attackerDNS)
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	g, err := New(opts)
	require.NoError(t, err)
	return g
}

// permissive exempts everything the attacks aim at, to show that each attack
// URL really reaches the counter when not refused (so the tests can fail).
var permissive = []string{"127.0.0.0/8", "::1", "0.0.0.0", "::", "localhost", "public.example"}

func TestAttacksNeverConnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		url       string
		want      error
		reachable bool // a guard allowing loopback connects to the counter
	}{
		{"loopback", "http://127.0.0.1:{port}/", ErrBlocked, true},
		{"localhost", "http://localhost:{port}/", ErrBlocked, true},
		{"localhost uppercase with trailing dot", "http://LOCALHOST.:{port}/", ErrBlocked, true},
		{"IPv6 loopback", "http://[::1]:{port6}/", ErrBlocked, true},
		{"IPv6 unspecified", "http://[::]:{port6}/", ErrBlocked, true},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:{port}/", ErrBlocked, true},
		{"IPv4-mapped loopback in hex", "http://[::ffff:7f00:1]:{port}/", ErrBlocked, true},
		{"IPv4-mapped loopback long form", "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/", ErrBlocked, true},
		{"cloud metadata", "http://169.254.169.254:{port}/latest/meta-data/", ErrBlocked, false},
		{"unspecified", "http://0.0.0.0:{port}/", ErrBlocked, true},
		{"decimal integer", "http://2130706433:{port}/", ErrBlocked, true},
		{"octal", "http://0177.0.0.1:{port}/", ErrBlocked, true},
		{"hex short form", "http://0x7f.1:{port}/", ErrBlocked, true},
		{"short form", "http://127.1:{port}/", ErrBlocked, true},
		{"full-width digits", "http://１２７.０.０.１:{port}/", ErrBlocked, true},
		{"file scheme", "file:///etc/passwd", ErrScheme, false},
		{"gopher scheme", "gopher://127.0.0.1:{port}/_HELO", ErrScheme, false},
		{"public-looking name resolving to loopback", "http://public.example:{port}/", ErrBlocked, true},
		{"name resolving to IPv4-mapped loopback", "http://mapped.example:{port}/", ErrBlocked, true},
		{"name resolving to public and loopback", "http://mixed.example:{port}/", ErrBlocked, false},
		{"userinfo confusion", "http://1.1.1.1@127.0.0.1:{port}/", ErrInvalidURL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter(t)
			raw := c.expand(tt.url)
			g := newGuard(t, Options{})

			_, err := g.Fetch(t.Context(), raw)
			require.ErrorIs(t, err, tt.want)

			// The client alone, without Fetch's up-front CheckURL, refuses too.
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, raw, nil)
			if err == nil {
				resp, err := g.Client().Do(req)
				if resp != nil {
					_ = resp.Body.Close()
				}
				require.ErrorIs(t, err, tt.want)
			}
			require.Zero(t, c.connections(), "the guard connected to loopback")

			if tt.reachable {
				open := newGuard(t, Options{Allow: permissive})
				_, _ = open.Fetch(t.Context(), raw)
				require.NotZero(t, c.connections(), "control: the URL does not reach the counter")
			}
		})
	}
}

func TestDialerRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		network string
		addr    string
	}{
		{"loopback", "tcp", "127.0.0.1:{port}"},
		{"integer notation", "tcp", "2130706433:{port}"},
		{"octal notation", "tcp", "0177.0.0.1:{port}"},
		{"localhost", "tcp", "localhost:{port}"},
		{"IPv6 loopback", "tcp", "[::1]:{port6}"},
		{"IPv4-mapped", "tcp", "[::ffff:127.0.0.1]:{port}"},
		{"name resolving to loopback", "tcp", "public.example:{port}"},
		{"name resolving to loopback, IPv4 only", "tcp4", "public.example:{port}"},
		{"UDP", "udp", "1.1.1.1:53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter(t)
			g := newGuard(t, Options{})
			conn, err := g.dialContext(t.Context(), tt.network, c.expand(tt.addr))
			require.ErrorIs(t, err, ErrBlocked)
			require.Nil(t, conn)
			require.Zero(t, c.connections())
		})
	}
}

func TestControlChecksConnectedAddress(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	public := netip.MustParseAddr("1.1.1.1")
	loop := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name    string
		pinned  netip.Addr
		exempt  bool
		address string
		ok      bool
	}{
		{"pinned public address", public, false, "1.1.1.1:443", true},
		{"pinned public address IPv4-mapped", public, false, "[::ffff:1.1.1.1]:443", true},
		{"other address than pinned", public, false, "8.8.8.8:443", false},
		{"blocked address", loop, false, "127.0.0.1:80", false},
		{"blocked but exempt by name", loop, true, "127.0.0.1:80", true},
		{"exempt name but other address", loop, true, "127.0.0.2:80", false},
		{"garbage", public, false, "nonsense", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := g.control(tt.pinned, tt.exempt)("tcp4", tt.address, nil)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrBlocked)
			}
		})
	}
}

func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	c := newCounter(t)
	var calls atomic.Int64
	rebind := resolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if calls.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("1.1.1.1")}, nil // passes any check
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil // then points inside
	})
	g := newGuard(t, Options{Resolver: rebind, Timeout: 300 * time.Millisecond})
	raw := c.expand("http://rebind.example:{port}/")

	_, err := g.CheckURL(raw)
	require.NoError(t, err)
	_, err = g.Fetch(t.Context(), raw)
	require.Error(t, err, "1.1.1.1:port cannot answer in a test")
	require.Equal(t, int64(1), calls.Load(), "the host must be resolved once per connection and the answer pinned")
	require.Zero(t, c.connections())

	_, err = g.Fetch(t.Context(), raw)
	require.ErrorIs(t, err, ErrBlocked)
	require.Zero(t, c.connections())
}

// serve starts an HTTP server on loopback and returns its port.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
}

func TestRedirectToInternalRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		location  string
		want      error
		reachable bool
	}{
		{"to loopback", "http://127.0.0.1:{port}/", ErrBlocked, true},
		{"to localhost", "http://localhost:{port}/", ErrBlocked, true},
		{"to integer notation", "http://2130706433:{port}/", ErrBlocked, true},
		{"to IPv4-mapped", "http://[::ffff:127.0.0.1]:{port}/", ErrBlocked, true},
		{"to name resolving to loopback", "http://public.example:{port}/", ErrBlocked, true},
		{"to metadata", "http://169.254.169.254/latest/meta-data/", ErrBlocked, false},
		{"to file", "file:///etc/passwd", ErrScheme, false},
		{"to gopher", "gopher://127.0.0.1:{port}/_HELO", ErrScheme, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter(t)
			var hits atomic.Int64
			port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, c.expand(tt.location), http.StatusFound)
			}))
			raw := "http://allowed.test:" + port + "/"
			g := newGuard(t, Options{Allow: []string{"allowed.test"}})

			_, err := g.Fetch(t.Context(), raw)
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, int64(1), hits.Load(), "the allowed server is reached")
			require.Zero(t, c.connections(), "the redirect reached loopback")

			if tt.reachable {
				open := newGuard(t, Options{Allow: append([]string{"allowed.test"}, permissive...)})
				_, _ = open.Fetch(t.Context(), raw)
				require.NotZero(t, c.connections(), "control: the redirect does not reach the counter")
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	// /hop/N redirects to /hop/N-1; /hop/0 answers. /loop redirects to itself.
	var hits atomic.Int64
	port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusMovedPermanently)
			return
		}
		_, _ = io.WriteString(w, "arrived")
	}))
	base := "http://allowed.test:" + port

	tests := []struct {
		name         string
		maxRedirects int
		path         string
		want         error
		finalPath    string
	}{
		{"within the limit", 2, "/hop/2", nil, "/hop/0"},
		{"one over the limit", 2, "/hop/3", ErrTooManyRedirects, ""},
		{"endless loop", 2, "/loop", ErrTooManyRedirects, ""},
		{"default limit of 5", 0, "/hop/5", nil, "/hop/0"},
		{"over the default limit", 0, "/hop/6", ErrTooManyRedirects, ""},
		{"redirects disabled", -1, "/hop/1", ErrTooManyRedirects, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGuard(t, Options{Allow: []string{"allowed.test"}, MaxRedirects: tt.maxRedirects})
			resp, err := g.Fetch(t.Context(), base+tt.path)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, base+tt.finalPath, resp.URL.String())
			require.Equal(t, "arrived", string(resp.Body))
		})
	}

	t.Run("loop stops after the limit", func(t *testing.T) {
		t.Parallel()
		var loops atomic.Int64
		port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			loops.Add(1)
			http.Redirect(w, r, "/again", http.StatusFound)
		}))
		g := newGuard(t, Options{Allow: []string{"allowed.test"}, MaxRedirects: 3})
		_, err := g.Fetch(t.Context(), "http://allowed.test:"+port+"/")
		require.ErrorIs(t, err, ErrTooManyRedirects)
		require.Equal(t, int64(4), loops.Load(), "the first request and 3 redirects")
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024

	t.Run("exact size fits, one more byte does not", func(t *testing.T) {
		t.Parallel()
		port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			_, _ = w.Write([]byte(strings.Repeat("a", n)))
		}))
		g := newGuard(t, Options{Allow: []string{"allowed.test"}, MaxBytes: limit})
		tests := []struct {
			name string
			n    int
			want error
		}{
			{"empty", 0, nil},
			{"at the limit", limit, nil},
			{"one over", limit + 1, ErrTooLarge},
			{"far over", 20 * limit, ErrTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				resp, err := g.Fetch(t.Context(), fmt.Sprintf("http://allowed.test:%s/?n=%d", port, tt.n))
				if tt.want != nil {
					require.ErrorIs(t, err, tt.want)
					return
				}
				require.NoError(t, err)
				require.Len(t, resp.Body, tt.n)
			})
		}
	})

	// Both servers would keep the client busy until the deadline if it read
	// everything; the refusal must come without reading the rest.
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request, sent *atomic.Int64)
	}{
		{"announced by Content-Length", func(w http.ResponseWriter, r *http.Request, sent *atomic.Int64) {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			n, _ := w.Write(make([]byte, 512))
			sent.Add(int64(n))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}},
		{"endless chunked stream", func(w http.ResponseWriter, r *http.Request, sent *atomic.Int64) {
			chunk := make([]byte, 512)
			for r.Context().Err() == nil {
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sent atomic.Int64
			port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(w, r, &sent)
			}))
			g := newGuard(t, Options{Allow: []string{"allowed.test"}, MaxBytes: limit, Timeout: 1500 * time.Millisecond})
			start := time.Now()
			_, err := g.Fetch(t.Context(), "http://allowed.test:"+port+"/")
			require.ErrorIs(t, err, ErrTooLarge)
			require.Less(t, time.Since(start), 700*time.Millisecond)
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"slow headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first bytes")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := serve(t, tt.handler)
			g := newGuard(t, Options{Allow: []string{"allowed.test"}, Timeout: 200 * time.Millisecond})
			start := time.Now()
			_, err := g.Fetch(t.Context(), "http://allowed.test:"+port+"/")
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Less(t, time.Since(start), time.Second)
		})
	}
}

func TestFetchAllowed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var agents []string
	port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/doc", http.StatusFound)
			return
		}
		if r.URL.Path != "/doc" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "hello")
	}))

	tests := []struct {
		name  string
		allow string
		host  string
	}{
		{"allowed IP", "127.0.0.1", "127.0.0.1"},
		{"allowed CIDR", "127.0.0.0/8", "127.0.0.1"},
		{"allowed CIDR via integer notation", "127.0.0.0/8", "2130706433"},
		{"allowed host name", "allowed.test", "allowed.test"},
		{"allowed localhost", "localhost", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGuard(t, Options{Allow: []string{tt.allow}})
			resp, err := g.Fetch(t.Context(), "http://"+tt.host+":"+port+"/")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status)
			require.Equal(t, "text/plain; charset=utf-8", resp.ContentType)
			require.Equal(t, "hello", string(resp.Body))
			require.Equal(t, "/doc", resp.URL.Path)
		})
	}

	t.Run("default user agent", func(t *testing.T) {
		t.Parallel()
		g := newGuard(t, Options{Allow: []string{"allowed.test"}})
		_, err := g.Fetch(t.Context(), "http://allowed.test:"+port+"/doc?ua")
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		require.Contains(t, agents, DefaultUserAgent)
	})

	t.Run("non-2xx is an error with the status", func(t *testing.T) {
		t.Parallel()
		g := newGuard(t, Options{Allow: []string{"allowed.test"}})
		_, err := g.Fetch(t.Context(), "http://allowed.test:"+port+"/missing")
		var se *StatusError
		require.ErrorAs(t, err, &se)
		require.Equal(t, http.StatusNotFound, se.Status)
	})

	t.Run("unknown host", func(t *testing.T) {
		t.Parallel()
		g := newGuard(t, Options{})
		_, err := g.Fetch(t.Context(), "http://nxdomain.example/")
		var dnsErr *net.DNSError
		require.ErrorAs(t, err, &dnsErr)
		require.NotContains(t, err.Error(), "10.0.0.2", "the DNS server's address leaks")
	})
}

func TestTLSVerified(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secret")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	g := newGuard(t, Options{Allow: []string{"127.0.0.1"}})
	_, err := g.Fetch(t.Context(), srv.URL)
	var certErr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &certErr, "a self-signed certificate must fail verification")
}

func TestClientIgnoresEnvironmentProxy(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	tr, ok := g.Client().Transport.(*transport)
	require.True(t, ok)
	require.Nil(t, tr.base.Proxy)
	require.False(t, tr.base.TLSClientConfig.InsecureSkipVerify)
}

// Callers of Client build requests themselves; a URL struct that url.Parse
// would never produce must not get past the guard either.
func TestClientChecksRequestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  url.URL
		want error
	}{
		{"opaque path naming another host", url.URL{Scheme: "http", Host: "127.0.0.1:{port}", Opaque: "//example.com/"}, ErrBlocked},
		{"integer notation set directly", url.URL{Scheme: "http", Host: "2130706433:{port}"}, ErrBlocked},
		{"full-width digits set directly", url.URL{Scheme: "http", Host: "１２７.０.０.１:{port}"}, ErrBlocked},
		{"userinfo", url.URL{Scheme: "http", Host: "127.0.0.1:{port}", User: url.User("admin")}, ErrInvalidURL},
		{"unsupported scheme", url.URL{Scheme: "ftp", Host: "127.0.0.1:{port}"}, ErrScheme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounter(t)
			g := newGuard(t, Options{})
			u := tt.url
			u.Host = c.expand(u.Host)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://example.com/", nil)
			require.NoError(t, err)
			req.URL = &u
			resp, err := g.Client().Do(req)
			if resp != nil {
				_ = resp.Body.Close()
			}
			require.ErrorIs(t, err, tt.want)
			require.Zero(t, c.connections())
		})
	}
}
