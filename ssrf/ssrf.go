// Package ssrf is the one guard every outbound fetch made on behalf of a user
// goes through: URL ingestion, the web-fetch tool, registering third-party MCP
// servers. It refuses destinations that are not publicly routable (loopback,
// private networks, link-local incl. cloud metadata, ...), in whatever notation
// the URL writes them, and whatever a DNS server answers for a name.
//
// Two layers enforce it. CheckURL validates a URL without network use. The
// http.Client returned by Client resolves every host itself, refuses the
// connection if any address is blocked, dials the checked address (so a
// rebinding DNS server gets no second question), and checks the address again
// right before connect. Redirects are re-checked and counted.
package ssrf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Errors returned by the guard. Their messages name the reason and are safe to
// show to users; the refused internal addresses are only logged.
var (
	ErrBlocked          = errors.New("ssrf: destination not allowed")
	ErrScheme           = errors.New("ssrf: URL scheme not allowed")
	ErrInvalidURL       = errors.New("ssrf: invalid URL")
	ErrTooLarge         = errors.New("ssrf: response too large")
	ErrTooManyRedirects = errors.New("ssrf: too many redirects")
)

// Defaults for the zero Options.
const (
	DefaultMaxBytes     = 10 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
	DefaultUserAgent    = "YouWorker/1.0 (+https://github.com/youworker)"
)

// Options configures a Guard. The zero value is a strict guard with defaults.
type Options struct {
	// Allow exempts destinations: host names ("localhost", "docs.internal";
	// exact match, any address they resolve to is then accepted), IP addresses
	// ("127.0.0.1") or CIDR prefixes ("10.1.0.0/16"). For tests and private
	// deployments.
	Allow []string
	// MaxBytes caps the response body read by Fetch; default 10 MiB.
	MaxBytes int64
	// Timeout bounds a whole request including redirects and the body; default 30s.
	Timeout time.Duration
	// MaxRedirects is the number of redirects followed; default 5, negative for none.
	MaxRedirects int
	// UserAgent is sent when a request has none; default DefaultUserAgent.
	UserAgent string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Logger receives refusals; nil discards them.
	Logger *slog.Logger
}

// Resolver resolves host names. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard checks URLs and makes HTTP requests that cannot reach blocked
// destinations. It is safe for concurrent use.
type Guard struct {
	allowNames   map[string]struct{}
	allowNets    []netip.Prefix
	maxBytes     int64
	timeout      time.Duration
	maxRedirects int
	userAgent    string
	resolver     Resolver
	log          *slog.Logger
	transport    *transport
}

// New returns a Guard; it fails when an Allow entry is neither a host name, an
// IP address nor a CIDR prefix.
func New(opts Options) (*Guard, error) {
	names, nets, err := parseAllow(opts.Allow)
	if err != nil {
		return nil, err
	}
	g := &Guard{
		allowNames:   names,
		allowNets:    nets,
		maxBytes:     opts.MaxBytes,
		timeout:      opts.Timeout,
		maxRedirects: opts.MaxRedirects,
		userAgent:    opts.UserAgent,
		resolver:     opts.Resolver,
		log:          opts.Logger,
	}
	if g.maxBytes <= 0 {
		g.maxBytes = DefaultMaxBytes
	}
	if g.timeout <= 0 {
		g.timeout = DefaultTimeout
	}
	switch {
	case g.maxRedirects == 0:
		g.maxRedirects = DefaultMaxRedirects
	case g.maxRedirects < 0:
		g.maxRedirects = 0
	}
	if g.userAgent == "" {
		g.userAgent = DefaultUserAgent
	}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.transport = newTransport(g)
	return g, nil
}

// Client returns an HTTP client whose every request and connection goes
// through the guard: each request URL is checked with CheckURL, each
// connection's host is resolved by the guard and refused if any of its
// addresses is blocked, the checked address is dialed (no second lookup) and
// checked again right before connect. Proxies from the environment are not
// used, TLS certificates are verified, redirects are re-checked and limited to
// MaxRedirects, and the whole request is bounded by Timeout. The clients
// returned share one connection pool.
func (g *Guard) Client() *http.Client {
	return &http.Client{
		Transport:     g.transport,
		CheckRedirect: g.checkRedirect,
		Timeout:       g.timeout,
	}
}

func (g *Guard) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > g.maxRedirects {
		return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, g.maxRedirects)
	}
	u, err := g.CheckURL(req.URL.String())
	if err != nil {
		return err
	}
	req.URL.Host = u.Host
	return nil
}

// Response is the result of Fetch.
type Response struct {
	URL         *url.URL // after redirects
	Status      int
	ContentType string
	Body        []byte
}

// StatusError is returned by Fetch for a non-2xx response.
type StatusError struct {
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ssrf: unexpected HTTP status %d %s", e.Status, http.StatusText(e.Status))
}

// Fetch GETs a URL through the guard and returns the body, read up to MaxBytes.
// A Content-Length above MaxBytes is refused before reading, a longer body as
// soon as MaxBytes+1 bytes arrived; both with ErrTooLarge. A non-2xx status is
// a *StatusError. A timeout matches context.DeadlineExceeded with errors.Is.
// With tracing on, the fetch is a client span (see startFetchSpan).
func (g *Guard) Fetch(ctx context.Context, raw string) (resp *Response, err error) {
	ctx, span := startFetchSpan(ctx, raw)
	defer func() { endFetchSpan(span, resp, err) }()
	return g.fetch(ctx, raw)
}

func (g *Guard) fetch(ctx context.Context, raw string) (*Response, error) {
	u, err := g.CheckURL(raw)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	resp, err := g.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &StatusError{Status: resp.StatusCode}
	}
	if resp.ContentLength > g.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, resp.ContentLength, g.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ssrf: read body: %w", err)
	}
	if int64(len(body)) > g.maxBytes {
		return nil, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, g.maxBytes)
	}
	return &Response{
		URL:         resp.Request.URL,
		Status:      resp.StatusCode,
		ContentType: resp.Header.Get("Content-Type"),
		Body:        body,
	}, nil
}
