package api

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/sso/ssotest"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.PublicURL = "https://yw.example" })
	for _, path := range []string{"/health", "/v1/nope", "/v1/auth/me"} {
		r := e.client().do("GET", path, nil)
		require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "DENY", r.Header.Get("X-Frame-Options"), path)
		require.Equal(t, "no-referrer", r.Header.Get("Referrer-Policy"), path)
		require.Contains(t, r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", path)
		require.Contains(t, r.Header.Get("Strict-Transport-Security"), "max-age=", "HSTS when served over TLS")
	}
}

func TestCORSAllowlist(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.CORSOrigins = []string{"https://app.example"} })
	preflight := func(origin string) response {
		return e.client().do("OPTIONS", "/v1/auth/me", nil, "Origin", origin, "Access-Control-Request-Method", "GET")
	}
	ok := preflight("https://app.example")
	require.Equal(t, http.StatusNoContent, ok.Status)
	require.Equal(t, "https://app.example", ok.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", ok.Header.Get("Access-Control-Allow-Credentials"))
	// MCP clients in a browser send their protocol headers and read the 401's challenge.
	require.Contains(t, ok.Header.Get("Access-Control-Allow-Headers"), "Mcp-Protocol-Version")
	require.Contains(t, ok.Header.Get("Access-Control-Allow-Headers"), "Mcp-Session-Id")
	require.Contains(t, ok.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate")

	evil := preflight("https://evil.example")
	require.Equal(t, http.StatusForbidden, evil.Status)
	require.Equal(t, "ORIGIN_NOT_ALLOWED", evil.errCode(t))
	require.Empty(t, evil.Header.Get("Access-Control-Allow-Origin"), "arbitrary origins are never reflected")

	c, _ := e.signup("corsy")
	get := c.do("GET", "/v1/auth/me", nil, "Origin", "https://evil.example")
	require.Empty(t, get.Header.Get("Access-Control-Allow-Origin"), "the browser withholds the response")
	post := c.do("POST", "/v1/account/api-keys", map[string]any{"name": "x"}, "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, post.Status, "a foreign origin's unsafe request is refused even with a valid CSRF token")
	require.Equal(t, "CROSS_SITE_REQUEST", post.errCode(t))
	fetchSite := c.do("POST", "/v1/account/api-keys", map[string]any{"name": "x"}, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, fetchSite.Status)
	allowed := c.do("POST", "/v1/account/api-keys", map[string]any{"name": "x"}, "Origin", "https://app.example")
	require.Equal(t, http.StatusCreated, allowed.Status, "%s", allowed.Body)
}

func TestLoginFromAnotherSiteIsRefused(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	e.signup("victim")
	r := e.client().do("POST", "/v1/auth/login", map[string]any{"username": "victim", "password": testPassword}, "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, r.Status, "login CSRF")
	require.Empty(t, r.Header.Values("Set-Cookie"))
}

func TestRateLimitAndForgedForwardedFor(t *testing.T) {
	t.Parallel()
	// The limits count in fixed one-minute windows of the wall clock: requests on both sides of a
	// window's end are counted apart. Start well inside a window (the test takes a few seconds).
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 20*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.RateAuthPerMin = 3 })
	e.signup("limited") // 2 auth requests
	try := func(xff string) response {
		return e.client().do("POST", "/v1/auth/login", map[string]any{"username": "limited", "password": "wrong password"}, "X-Forwarded-For", xff)
	}
	require.Equal(t, http.StatusUnauthorized, try("").Status)
	r := try("")
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "RATE_LIMITED", r.errCode(t))
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	for _, forged := range []string{"203.0.113.7", "198.51.100.1, 10.0.0.1", "::1"} {
		require.Equal(t, http.StatusTooManyRequests, try(forged).Status, "X-Forwarded-For %q from an untrusted peer changes nothing", forged)
	}
}

func TestIPAllowlist(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.IPAllowlist = []string{"203.0.113.0/24"} })
	r := e.client().do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusForbidden, r.Status, "127.0.0.1 is not allowed")
	require.Equal(t, "IP_NOT_ALLOWED", r.errCode(t))
	r = e.client().do("GET", "/v1/auth/me", nil, "X-Forwarded-For", "203.0.113.9")
	require.Equal(t, http.StatusForbidden, r.Status, "a forged X-Forwarded-For does not pass the allowlist")
	require.Equal(t, http.StatusOK, e.client().do("GET", "/health", nil).Status, "liveness stays reachable")

	trusted := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.IPAllowlist = []string{"203.0.113.0/24"}
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	r = trusted.client().do("GET", "/v1/auth/me", nil, "X-Forwarded-For", "203.0.113.9")
	require.Equal(t, http.StatusUnauthorized, r.Status, "behind a trusted proxy the forwarded address counts (and passes)")
}

// TestOIDCLogin logs in through an in-process OIDC provider: the user is created with the
// provider's groups, later logins find the same user, and a failed exchange starts no session.
func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	var e *apiEnv
	e = newAPI(t, func(c *config.Config, _ *[]Check) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCSecret = idp.Issuer(), idp.ClientID(), idp.ClientSecret()
		c.OIDCGroupsClaim = "groups"
	})
	// PUBLIC_URL is the test server's own address so the provider redirects back to it.
	e = rebase(t, e, func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCSecret = idp.Issuer(), idp.ClientID(), idp.ClientSecret()
		c.OIDCGroupsClaim = "groups"
	})
	idp.SetUser(ssotest.User{Subject: "sub-123", Email: "ada@example.com", EmailVerified: true, PreferredUsername: "ada",
		Name: "Ada Lovelace", Groups: []string{"analysts"}})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(e.http.URL + "/v1/auth/oidc/login?return_to=/v1/auth/me")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "followed the redirects back to /v1/auth/me")
	me := e.client()
	me.jar = jar
	m := me.do("GET", "/v1/auth/me", nil).JSON(t)
	require.Equal(t, "ada", m["username"])
	require.Equal(t, "analysts", m["groups"].([]any)[0].(map[string]any)["name"])

	// A second login finds the same account.
	resp2, err := hc.Get(e.http.URL + "/v1/auth/oidc/login")
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, m["id"], me.do("GET", "/v1/auth/me", nil).JSON(t)["id"])

	// A token for another audience is refused, and no session is started.
	idp.SetFault(ssotest.WrongAudience)
	jar2, _ := cookiejar.New(nil)
	bad, err := (&http.Client{Jar: jar2}).Get(e.http.URL + "/v1/auth/oidc/login")
	require.NoError(t, err)
	defer bad.Body.Close()
	require.Equal(t, http.StatusUnauthorized, bad.StatusCode)
	u, _ := url.Parse(e.http.URL)
	for _, ck := range jar2.Cookies(u) {
		require.NotEqual(t, "access_token", ck.Name)
	}
}

// rebase rebuilds an API whose PUBLIC_URL is its own test server address.
func rebase(t *testing.T, e *apiEnv, mutate func(*config.Config)) *apiEnv {
	t.Helper()
	var srv *Server
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.Handler().ServeHTTP(w, r) }))
	hs.Start()
	t.Cleanup(hs.Close)
	cfg := e.cfg
	cfg.PublicURL = hs.URL
	mutate(&cfg)
	var err error
	srv, err = New(Deps{Config: cfg, Store: e.store, Box: e.srv.box, Logger: e.srv.log})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, srv: srv, http: hs, store: e.store, logs: e.logs, cfg: cfg}
}

func TestTrustedHeaderMode(t *testing.T) {
	t.Parallel()
	on := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.TrustedHeaders, c.TrustedProxies = true, []string{"127.0.0.1"}
	})
	r := on.client().do("GET", "/v1/auth/me", nil, "X-authentik-username", "proxied", "X-authentik-groups", "ops|dev")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "proxied", r.JSON(t)["username"])
	require.Equal(t, "proxy", r.JSON(t)["auth_method"])
	post := on.client().do("POST", "/v1/account/api-keys", map[string]any{"name": "k"}, "X-authentik-username", "proxied")
	require.Equal(t, http.StatusForbidden, post.Status, "unsafe proxy requests need an Origin")

	notTrusted := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.TrustedHeaders, c.TrustedProxies = true, []string{"10.9.9.9"}
	})
	r = notTrusted.client().do("GET", "/v1/auth/me", nil, "X-authentik-username", "proxied")
	require.Equal(t, http.StatusUnauthorized, r.Status, "headers from a peer that is not the proxy are ignored")

	off := newAPI(t, nil)
	r = off.client().do("GET", "/v1/auth/me", nil, "X-authentik-username", "admin")
	require.Equal(t, http.StatusUnauthorized, r.Status, "off by default")
}
