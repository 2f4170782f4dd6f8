// Package client is a typed client of the YouWorker REST API for programs that use the product
// (the command-line client): credentials with token refresh, the error envelope as a Go error,
// retries while the API cannot be reached, and event streams that resume with Last-Event-ID after
// a dropped connection. The tests' client, apitest, stays a thin raw one.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tokens are the credentials of a password login: a short-lived access token and the refresh
// token (with its CSRF token) that gets the next one.
type Tokens struct {
	AccessToken  string    `json:"access_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
	CSRFToken    string    `json:"csrf_token"`
	// CSRFCookie is the name of the API's CSRF cookie (it depends on COOKIE_SECURE).
	CSRFCookie string `json:"csrf_cookie"`
}

// TokenStore keeps login tokens between processes. Update runs fn on the stored tokens under a
// lock and stores what it returns: two processes then never present the same refresh token, which
// the API takes for a stolen one (and revokes the login).
type TokenStore interface {
	Update(fn func(stored *Tokens) (Tokens, error)) error
}

// Client talks to the API at BaseURL with an API key or login tokens.
type Client struct {
	BaseURL string
	APIKey  string
	// Tokens of a password login; refreshed when the API refuses the access token.
	Tokens *Tokens
	// Store, when set, keeps the tokens between processes; a refresh runs inside its Update.
	Store TokenStore
	// HTTP is the client used; nil means one without a timeout (streams last).
	HTTP *http.Client
	// RetryFor is how long a call keeps trying while the API cannot be reached or is unavailable
	// (connection refused, 502/503/504, a dropped stream); 0 means DefaultRetryFor.
	RetryFor time.Duration
	// StreamIdle is how long an event stream may stay silent before it is taken for dead and
	// reconnected; 0 means DefaultStreamIdle.
	StreamIdle time.Duration
	// Notify, when set, hears about retries ("connection lost; retrying in 2s").
	Notify func(msg string)
	// UserAgent is sent with every request.
	UserAgent string

	mu sync.Mutex // guards Tokens during a refresh
}

// DefaultRetryFor bounds the retries of a call whose API is unreachable.
const DefaultRetryFor = 2 * time.Minute

// Error is an error answer of the API (its error envelope).
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	Details   map[string]any
	// RetryAfter is the Retry-After of a 429 or 503.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("%s (HTTP %d", msg, e.Status)
	if e.Code != "" {
		s = fmt.Sprintf("%s: %s (HTTP %d", e.Code, msg, e.Status)
	}
	if e.RequestID != "" {
		s += ", request id " + e.RequestID
	}
	return s + ")"
}

// UnreachableError says that the API could not be reached at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the YouWorker API at %s: %v; check that it is running and that the URL is right "+
		"(youworker login --url URL, or YOUWORKER_URL)", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsStatus reports whether err is an API error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) retryFor() time.Duration {
	if c.RetryFor > 0 {
		return c.RetryFor
	}
	return DefaultRetryFor
}

func (c *Client) notify(format string, args ...any) {
	if c.Notify != nil {
		c.Notify(fmt.Sprintf(format, args...))
	}
}

// request describes one call; body makes a fresh body for each attempt.
type request struct {
	method, path string
	body         func() (io.Reader, string, error) // reader and content type
	headers      map[string]string
	// retrySent allows retrying after the request may have reached the API (an idempotent call).
	retrySent bool
}

func jsonBody(v any) func() (io.Reader, string, error) {
	return func() (io.Reader, string, error) {
		b, err := json.Marshal(v)
		return bytes.NewReader(b), "application/json", err
	}
}

// send performs a request with authentication, one refresh on a refused access token, and
// retries (with backoff, up to RetryFor) while the API is unreachable or unavailable. The caller
// closes the body of the 2xx response returned; any other answer is an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	b := backoff{}
	deadline := time.Now().Add(c.retryFor())
	refreshed := false
	for {
		used := c.bearer()
		resp, err := c.attempt(ctx, r)
		if err == nil && resp.StatusCode < 300 {
			return resp, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !retriable(err, r.retrySent) {
				return nil, &UnreachableError{URL: c.BaseURL, Err: err}
			}
			if time.Now().After(deadline) {
				return nil, &UnreachableError{URL: c.BaseURL, Err: fmt.Errorf("%w (gave up after %s)", err, c.retryFor())}
			}
			wait := b.next(0)
			c.notify("cannot reach the API (%v); retrying in %s", shortErr(err), wait.Round(100*time.Millisecond))
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		apiErr := readError(resp)
		if apiErr.Status == http.StatusUnauthorized && !refreshed && c.canRefresh() {
			refreshed = true
			if err := c.refresh(ctx, used); err != nil {
				return nil, err
			}
			continue
		}
		if temporary(apiErr.Status) && (r.retrySent || apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusTooManyRequests) &&
			time.Now().Before(deadline) {
			wait := b.next(apiErr.RetryAfter)
			c.notify("the API answered %d; retrying in %s", apiErr.Status, wait.Round(100*time.Millisecond))
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		return nil, apiErr
	}
}

func (c *Client) attempt(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	contentType := ""
	if r.body != nil {
		var err error
		if body, contentType, err = r.body(); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, strings.TrimRight(c.BaseURL, "/")+r.path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	c.authorize(req)
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	return c.httpClient().Do(req)
}

// bearer is the access token sent now, "" when none.
func (c *Client) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.APIKey == "" && c.Tokens != nil {
		return c.Tokens.AccessToken
	}
	return ""
}

func (c *Client) authorize(req *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.APIKey != "":
		req.Header.Set("X-API-Key", c.APIKey)
	case c.Tokens != nil && c.Tokens.AccessToken != "":
		req.Header.Set("Authorization", "Bearer "+c.Tokens.AccessToken)
	}
}

// temporary statuses are worth another try.
func temporary(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retriable says whether a transport error may be retried: always when the connection was never
// made (the request did not leave), otherwise only for calls that are safe to repeat.
func retriable(err error, sent bool) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.Op == "parse" {
		return false
	}
	return sent
}

func shortErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// readError reads an error answer into an *Error and closes its body.
func readError(resp *http.Response) *Error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	var env struct {
		Error struct {
			Code      string         `json:"code"`
			Message   string         `json:"message"`
			Details   map[string]any `json:"details"`
			RequestID string         `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
	} else if s := strings.TrimSpace(string(b)); s != "" && len(s) < 300 && !strings.HasPrefix(s, "<") {
		e.Message = s
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// do sends a request and decodes a JSON answer into out (when out is not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// backoff is exponential with jitter: 250 ms doubling up to 5 s, or what the server asked for.
type backoff struct{ n int }

const (
	backoffMin = 250 * time.Millisecond
	backoffMax = 5 * time.Second
)

func (b *backoff) next(asked time.Duration) time.Duration {
	d := backoffMin << min(b.n, 10)
	b.n++
	d = min(d, backoffMax)
	d = d/2 + rand.N(d/2+1)
	return max(d, asked)
}

func (b *backoff) reset() { b.n = 0 }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
