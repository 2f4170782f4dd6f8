package api

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/sso/ssotest"
)

// testClock is the server's clock, moved forward by tests; frozen, it stands still between moves.
type testClock struct {
	offset atomic.Int64
	frozen atomic.Int64 // unix nanoseconds; 0 = running
}

func (c *testClock) now() time.Time {
	if f := c.frozen.Load(); f != 0 {
		return time.Unix(0, f+c.offset.Load()).UTC()
	}
	return time.Now().UTC().Add(time.Duration(c.offset.Load()))
}

func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func (c *testClock) freeze() { c.frozen.Store(time.Now().UnixNano()) }

// clocked rebuilds e's API over the same database with a clock the test moves and PUBLIC_URL set
// to its own address; mutate may change the configuration first.
func clocked(t *testing.T, e *apiEnv, mutate func(*config.Config)) (*apiEnv, *testClock) {
	t.Helper()
	clock := &testClock{}
	var srv *Server
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.Handler().ServeHTTP(w, r) }))
	cfg := e.cfg
	cfg.PublicURL = "http://" + hs.Listener.Addr().String()
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	srv, err = New(Deps{Config: cfg, Store: e.store, Box: e.srv.box, Logger: e.srv.log})
	require.NoError(t, err)
	srv.now = clock.now
	hs.Start()
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, srv: srv, http: hs, store: e.store, logs: e.logs, cfg: cfg}, clock
}

// keyClient authenticates with an API key only.
func (e *apiEnv) keyClient(key string) *apiClient {
	c := e.client()
	c.jar = nil
	c.headers["X-API-Key"] = key
	return c
}

func (c *apiClient) mintKey(body map[string]any) (key string, resp map[string]any) {
	c.e.t.Helper()
	r := c.do("POST", "/v1/account/api-keys", body)
	require.Equal(c.e.t, http.StatusCreated, r.Status, "%s", r.Body)
	m := r.JSON(c.e.t)
	return m["key"].(string), m
}

func errDetails(t *testing.T, r response) map[string]any {
	t.Helper()
	return r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
}

// API keys carry scopes chosen at creation (chat, documents, read by default; never admin
// unless asked for), shown by create and list, and enforced on every route.
func TestAPIKeyScopes(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	owner, _ := e.signup("scoper")
	group := owner.do("POST", "/v1/groups", map[string]any{"name": "scoped"})
	require.Equal(t, http.StatusCreated, group.Status, "%s", group.Body)
	gid := group.JSON(t)["id"].(string)

	defKey, def := owner.mintKey(map[string]any{"name": "default"})
	require.Equal(t, []any{"chat", "documents", "read"}, def["scopes"], "the default scopes, without admin")
	readKey, _ := owner.mintKey(map[string]any{"name": "reader", "scopes": []string{"read"}})
	chatKey, _ := owner.mintKey(map[string]any{"name": "chatter", "scopes": []string{"chat", "chat"}})
	adminKey, admin := owner.mintKey(map[string]any{"name": "admin", "scopes": []string{"admin", "read"}})
	require.Equal(t, []any{"read", "admin"}, admin["scopes"], "deduplicated, in a fixed order")

	list := owner.do("GET", "/v1/account/api-keys", nil).JSON(t)["items"].([]any)
	byName := map[string]any{}
	for _, it := range list {
		byName[it.(map[string]any)["name"].(string)] = it.(map[string]any)["scopes"]
	}
	require.Equal(t, []any{"chat"}, byName["chatter"], "list shows the scopes")

	for _, bad := range []any{[]string{}, []string{"root"}, []string{"read", "ADMIN"}, "read"} {
		r := owner.do("POST", "/v1/account/api-keys", map[string]any{"name": "bad", "scopes": bad})
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", bad, r.Body)
		require.Equal(t, "scopes", errDetails(t, r)["field"])
	}

	cases := []struct {
		name   string
		key    string
		method string
		path   string
		body   any
		want   int
		scope  string // the scope named when refused
	}{
		{"read key reads sessions", readKey, "GET", "/v1/sessions", nil, 200, ""},
		{"read key cannot start a session", readKey, "POST", "/v1/sessions", map[string]any{"title": "x"}, 403, "chat"},
		{"read key cannot ingest", readKey, "POST", "/v1/ingest", map[string]any{"text": "x"}, 403, "documents"},
		{"read key reads its groups", readKey, "GET", "/v1/groups/me", nil, 200, ""},
		{"read key cannot read a group's audit", readKey, "GET", "/v1/groups/" + gid + "/audit", nil, 403, "admin"},
		{"chat key starts a session", chatKey, "POST", "/v1/sessions", map[string]any{"title": "x"}, 201, ""},
		{"chat key reads its sessions", chatKey, "GET", "/v1/sessions", nil, 200, ""},
		{"chat key cannot list documents", chatKey, "GET", "/v1/documents", nil, 403, "documents"},
		{"default key cannot create a group", defKey, "POST", "/v1/groups", map[string]any{"name": "nope"}, 403, "admin"},
		{"default key cannot register an MCP server", defKey, "POST", "/v1/mcp-servers", map[string]any{"name": "m", "url": "http://example.com/mcp"}, 403, "admin"},
		{"default key cannot revoke keys", defKey, "DELETE", "/v1/account/api-keys/" + def["id"].(string), nil, 403, "admin"},
		{"admin key creates a group", adminKey, "POST", "/v1/groups", map[string]any{"name": "by-key"}, 201, ""},
		{"admin key reads a group's audit", adminKey, "GET", "/v1/groups/" + gid + "/audit", nil, 200, ""},
		{"any key says who it is", chatKey, "GET", "/v1/auth/me", nil, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.keyClient(tc.key).do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.want, r.Status, "%s", r.Body)
			if tc.scope != "" {
				require.Equal(t, "INSUFFICIENT_SCOPE", r.errCode(t))
				require.Contains(t, errDetails(t, r)["required_scopes"], tc.scope)
				require.Contains(t, r.JSON(t)["error"].(map[string]any)["message"], tc.scope)
			}
		})
	}
	var groups int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM groups WHERE name = 'nope'`).Scan(&groups))
	require.Zero(t, groups, "the refused request created nothing")
}

// No API key, whatever its scopes, mints keys, takes the export or deletes the account.
func TestAPIKeysCannotDoSensitiveThings(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, _ := e.signup("keyholder")
	key, _ := c.mintKey(map[string]any{"name": "all", "scopes": []string{"chat", "documents", "read", "admin"}})
	k := e.keyClient(key)
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/account/api-keys", map[string]any{"name": "more"}}, {"GET", "/v1/account/export", nil},
		{"DELETE", "/v1/account", nil}, {"POST", "/v1/auth/reauthenticate", map[string]any{"password": testPassword}},
	} {
		r := k.do(rt.method, rt.path, rt.body)
		require.Equal(t, http.StatusForbidden, r.Status, "%s %s: %s", rt.method, rt.path, r.Body)
		require.Equal(t, "API_KEY_NOT_ALLOWED", r.errCode(t))
	}
	require.Equal(t, http.StatusOK, c.do("GET", "/v1/auth/me", nil).Status, "the account is still there")
	var n int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM api_keys`).Scan(&n))
	require.EqualValues(t, 1, n)
}

// TestRouteRulesCoverRoutes fails when a served route has no entry in routeRules (API keys
// would be refused there) or the table names a route that is not served.
func TestRouteRulesCoverRoutes(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.OIDCIssuer, c.OIDCClientID = "https://idp.example", "yw" })
	var served []string
	for _, rt := range e.srv.engine.Routes() {
		served = append(served, rt.Method+" "+rt.Path)
		require.Contains(t, routeRules, rt.Method+" "+rt.Path, "route without a rule in routeRules")
	}
	for r := range routeRules {
		require.Contains(t, served, r, "routeRules names a route that is not served")
	}
}

// Minting keys, the export and deleting the account need a login that proved its user within
// REAUTH_WINDOW: a stale cookie or token alone is refused until POST /v1/auth/reauthenticate.
func TestSensitiveRoutesNeedAFreshLogin(t *testing.T) {
	t.Parallel()
	e, clock := clocked(t, newAPI(t, nil), nil)
	cookie, login := e.signup("fresh")
	bearer := e.bearer(login)
	require.NotEmpty(t, login["auth_time"])
	require.Equal(t, http.StatusOK, cookie.do("GET", "/v1/account/export", nil).Status, "a new login is fresh")
	require.Equal(t, http.StatusCreated, bearer.do("POST", "/v1/account/api-keys", map[string]any{"name": "k"}).Status)

	clock.advance(e.cfg.ReauthWindow + time.Second)
	for _, c := range []*apiClient{cookie, bearer} {
		for _, rt := range []struct {
			method, path string
			body         any
		}{{"POST", "/v1/account/api-keys", map[string]any{"name": "k2"}}, {"GET", "/v1/account/export", nil}, {"DELETE", "/v1/account", nil}} {
			r := c.do(rt.method, rt.path, rt.body)
			require.Equal(t, http.StatusForbidden, r.Status, "%s %s: %s", rt.method, rt.path, r.Body)
			require.Equal(t, "REAUTH_REQUIRED", r.errCode(t))
		}
	}
	require.Equal(t, http.StatusOK, cookie.do("GET", "/v1/auth/me", nil).Status, "everything else still works")

	// Refreshing keeps the login's auth_time: it proves nothing about the user.
	ref := cookie.do("POST", "/v1/auth/refresh", nil)
	require.Equal(t, http.StatusOK, ref.Status, "%s", ref.Body)
	require.Equal(t, login["auth_time"], ref.JSON(t)["auth_time"])
	cookie.headers["X-CSRF-Token"] = ref.JSON(t)["csrf_token"].(string)
	require.Equal(t, http.StatusForbidden, cookie.do("GET", "/v1/account/export", nil).Status)

	wrong := cookie.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": "not the password"})
	require.Equal(t, http.StatusForbidden, wrong.Status)
	require.Equal(t, "INVALID_PASSWORD", wrong.errCode(t))
	require.Equal(t, http.StatusForbidden, cookie.do("GET", "/v1/account/export", nil).Status)
	noCSRF := cookie.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": testPassword}, "X-CSRF-Token", "")
	require.Equal(t, http.StatusForbidden, noCSRF.Status, "reauthentication is a cookie request like any other: CSRF applies")

	re := cookie.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": testPassword})
	require.Equal(t, http.StatusOK, re.Status, "%s", re.Body)
	require.NotEqual(t, login["auth_time"], re.JSON(t)["auth_time"])
	cookie.headers["X-CSRF-Token"] = re.JSON(t)["csrf_token"].(string) // re-issued, like at a login or refresh
	exp := cookie.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, exp.Status, "the cookie was re-issued: %s", exp.Body)
	require.Equal(t, http.StatusForbidden, bearer.do("GET", "/v1/account/export", nil).Status,
		"the old access token keeps its old auth_time")
	require.Equal(t, http.StatusOK, e.bearer(re.JSON(t)).do("GET", "/v1/account/export", nil).Status, "the new token is fresh")

	// The login stays fresh across a refresh now.
	ref = cookie.do("POST", "/v1/auth/refresh", nil)
	require.Equal(t, http.StatusOK, ref.Status)
	require.Equal(t, re.JSON(t)["auth_time"], ref.JSON(t)["auth_time"])
	cookie.headers["X-CSRF-Token"] = ref.JSON(t)["csrf_token"].(string)
	require.Equal(t, http.StatusCreated, cookie.do("POST", "/v1/account/api-keys", map[string]any{"name": "k3"}).Status)

	var failures, successes int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FILTER (WHERE outcome = 'failure'), count(*) FILTER (WHERE outcome = 'success')
		FROM audit_log WHERE action = 'auth.reauthenticate'`).Scan(&failures, &successes))
	require.EqualValues(t, 1, failures, "the wrong password is audited")
	require.EqualValues(t, 1, successes)

	clock.advance(e.cfg.ReauthWindow + time.Second)
	require.Equal(t, http.StatusForbidden, cookie.do("DELETE", "/v1/account", nil).Status)
	re = cookie.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": testPassword})
	require.Equal(t, http.StatusOK, re.Status)
	cookie.headers["X-CSRF-Token"] = re.JSON(t)["csrf_token"].(string)
	// (Deleting needs the worker side; e2e's TestAccountExportAndDeletion deletes after reauthenticating.)
	require.Equal(t, http.StatusOK, cookie.do("GET", "/v1/account/export", nil).Status)
}

// In trusted-header mode the proxy says who the user is, never when they last proved it: its
// callers do the sensitive things only where TRUSTED_HEADER_SENSITIVE says the proxy takes care.
func TestProxyCallersAndSensitiveRoutes(t *testing.T) {
	t.Parallel()
	for _, allowed := range []bool{false, true} {
		e := newAPI(t, func(c *config.Config, _ *[]Check) {
			c.TrustedHeaders, c.TrustedProxies, c.ProxySensitive = true, []string{"127.0.0.1"}, allowed
		})
		r := e.client().do("GET", "/v1/account/export", nil, "X-authentik-username", "proxied")
		if allowed {
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			continue
		}
		require.Equal(t, http.StatusForbidden, r.Status)
		require.Equal(t, "PROXY_NOT_ALLOWED", r.errCode(t))
		require.Equal(t, http.StatusOK, e.client().do("GET", "/v1/auth/me", nil, "X-authentik-username", "proxied").Status)
	}
}

// After LOGIN_BACKOFF_AFTER failed logins a username waits, doubling; known and unknown names
// behave alike; the right password waits too; a success resets the count.
func TestLoginBackoffPerUsername(t *testing.T) {
	t.Parallel()
	base, _ := newAPI(t, nil).signup("target")
	e, clock := clocked(t, base.e, func(c *config.Config) { c.BackoffAfter, c.BackoffBase, c.BackoffMax = 2, 10*time.Second, time.Minute })
	clock.freeze()
	try := func(user, password string) response {
		return e.client().do("POST", "/v1/auth/login", map[string]any{"username": user, "password": password})
	}
	strip := func(r response) map[string]any {
		m := r.JSON(t)["error"].(map[string]any)
		delete(m, "request_id")
		return m
	}
	for _, user := range []string{"target", "ghost"} {
		require.Equal(t, http.StatusUnauthorized, try(user, "wrong password 1").Status)
		require.Equal(t, http.StatusUnauthorized, try(user, "wrong password 2").Status)
	}
	known, unknown := try("target", testPassword), try("ghost", testPassword)
	for _, r := range []response{known, unknown} {
		require.Equal(t, http.StatusTooManyRequests, r.Status, "even the right password waits: %s", r.Body)
		require.Equal(t, "LOGIN_BACKOFF", r.errCode(t))
		require.Equal(t, "10", r.Header.Get("Retry-After"))
		require.Empty(t, r.Header.Values("Set-Cookie"))
	}
	require.Equal(t, strip(known), strip(unknown), "nothing tells a real account from an unknown name")
	require.Equal(t, http.StatusTooManyRequests, try("TARGET", testPassword).Status, "usernames are case-insensitive")

	clock.advance(10 * time.Second)
	require.Equal(t, http.StatusUnauthorized, try("target", "wrong password 3").Status)
	r := try("target", testPassword)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "20", r.Header.Get("Retry-After"), "the wait doubles")

	clock.advance(20 * time.Second)
	require.Equal(t, http.StatusOK, try("target", testPassword).Status)
	require.Equal(t, http.StatusUnauthorized, try("target", "wrong again").Status, "a success forgot the failures")
	require.Equal(t, http.StatusOK, try("target", testPassword).Status)

	var n int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'failure'
		AND details->>'reason' = 'backoff'`).Scan(&n))
	require.EqualValues(t, 4, n, "refused attempts are audited")
}

// Reauthentication counts against the same per-username backoff as logins.
func TestReauthenticateBacksOff(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.BackoffAfter, c.BackoffBase = 2, time.Minute })
	c, _ := e.signup("guessed")
	for range 2 {
		require.Equal(t, http.StatusForbidden, c.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": "guess"}).Status)
	}
	r := c.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": testPassword})
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "LOGIN_BACKOFF", r.errCode(t))
	require.Equal(t, http.StatusTooManyRequests, e.client().do("POST", "/v1/auth/login",
		map[string]any{"username": "guessed", "password": testPassword}).Status, "and logins of that username wait too")
}

// POST /v1/search has its own per-user limit (RATE_LIMIT_SEARCH).
func TestSearchRateLimit(t *testing.T) {
	t.Parallel()
	e, clock := clocked(t, newAPI(t, nil), func(c *config.Config) { c.RateSearch = 2 })
	// Start a fresh one-minute window (the limits count in fixed windows of the clock).
	now := clock.now()
	clock.advance(now.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(now))
	c, _ := e.signup("searcher")
	other, _ := e.signup("other-searcher")
	for range 2 {
		require.Equal(t, http.StatusBadRequest, c.do("POST", "/v1/search", map[string]any{}).Status)
	}
	r := c.do("POST", "/v1/search", map[string]any{})
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "RATE_LIMITED", r.errCode(t))
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Equal(t, http.StatusBadRequest, other.do("POST", "/v1/search", map[string]any{}).Status, "per user")
}

// Only PUBLIC_URL's origin is the API's own: a request naming another Host with a matching Origin
// is a foreign origin's request.
func TestForgedHostIsNotTheAPIsOrigin(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.PublicURL = "https://YW.example:443/base" })
	e.signup("origin")
	send := func(host, origin string) *http.Response {
		req, err := http.NewRequestWithContext(context.Background(), "POST", e.http.URL+"/v1/auth/login",
			strings.NewReader(`{"username": "origin", "password": "`+testPassword+`"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Host = host
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	forged := send("evil.example", "http://evil.example")
	require.Equal(t, http.StatusForbidden, forged.StatusCode, "the Host header is the sender's choice")
	require.Empty(t, forged.Header.Values("Set-Cookie"))
	require.Equal(t, http.StatusForbidden, send(strings.TrimPrefix(e.http.URL, "http://"), e.http.URL).StatusCode,
		"not even the address the API listens on, unless PUBLIC_URL says so")
	require.Equal(t, http.StatusOK, send("evil.example", "https://yw.example").StatusCode, "PUBLIC_URL's origin, normalised")
}

func TestOriginOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://localhost:8080":       "http://localhost:8080",
		"https://YW.Example:443/path": "https://yw.example",
		"http://yw.example:80":        "http://yw.example",
		"https://yw.example:8443/":    "https://yw.example:8443",
		"http://[::1]:8080":           "http://[::1]:8080",
		"ftp://yw.example":            "",
	} {
		require.Equal(t, want, originOf(in), in)
	}
}

// oidcAPI is an API with SSO against idp (groups claim "groups") and a clock, PUBLIC_URL its own.
func oidcAPI(t *testing.T, idp *ssotest.Server) (*apiEnv, *testClock) {
	t.Helper()
	return clocked(t, newAPI(t, nil), func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCSecret = idp.Issuer(), idp.ClientID(), idp.ClientSecret()
		c.OIDCGroupsClaim = "groups"
	})
}

// browse follows a browser's redirects from path through the provider and back, with jar.
func browse(t *testing.T, e *apiEnv, jar http.CookieJar, path string) response {
	t.Helper()
	resp, err := (&http.Client{Jar: jar}).Get(e.http.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Issue 11 (A): mallory registers the victim's address first; the victim's first SSO login (with
// email_verified) makes a new account, and mallory sees none of the victim's groups or data.
func TestOIDCPreAccountTakeover(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	e, _ := oidcAPI(t, idp)
	mallory := e.client()
	r := mallory.do("POST", "/v1/auth/register", map[string]any{"username": "mallory", "password": testPassword, "email": "victim@corp.example"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, false, r.JSON(t)["email_verified"], "a local email is never verified")
	login := mallory.do("POST", "/v1/auth/login", map[string]any{"username": "mallory", "password": testPassword}).JSON(t)
	mallory.headers["X-CSRF-Token"] = login["csrf_token"].(string)
	malloryID := login["user"].(map[string]any)["id"]

	idp.SetUser(ssotest.User{Subject: "victim-1", Email: "victim@corp.example", EmailVerified: true, PreferredUsername: "victim",
		Groups: []string{"finance"}})
	jar, _ := cookiejar.New(nil)
	me := browse(t, e, jar, "/v1/auth/oidc/login?return_to=/v1/auth/me")
	require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
	victim := me.JSON(t)
	require.NotEqual(t, malloryID, victim["id"], "the SSO login made a new account")
	require.Equal(t, "victim@corp.example", victim["email"])
	require.Equal(t, true, victim["email_verified"])
	require.Equal(t, "finance", victim["groups"].([]any)[0].(map[string]any)["name"])

	vc := e.client()
	vc.jar = jar
	vc.headers["X-CSRF-Token"] = cookieValue(t, vc, "csrf_token")
	s := vc.do("POST", "/v1/sessions", map[string]any{"title": "payroll"})
	require.Equal(t, http.StatusCreated, s.Status, "%s", s.Body)

	mm := mallory.do("GET", "/v1/auth/me", nil).JSON(t)
	require.Equal(t, malloryID, mm["id"])
	require.Empty(t, mm["groups"], "none of the victim's groups")
	require.Nil(t, mm["email"], "the unverified claim on the address is gone")
	require.Empty(t, mallory.do("GET", "/v1/sessions", nil).JSON(t)["items"], "none of the victim's data")
	require.Empty(t, mallory.do("GET", "/v1/groups/me", nil).JSON(t)["items"])
	require.Equal(t, http.StatusNotFound, mallory.do("GET", "/v1/sessions/"+s.JSON(t)["id"].(string), nil).Status)
}

// A logged-in user links their SSO identity explicitly (fresh login required); later SSO logins
// reach their account; an identity that is someone else's is a 409; keys and stale logins cannot.
func TestOIDCExplicitLink(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	e, clock := oidcAPI(t, idp)
	idp.SetUser(ssotest.User{Subject: "alice-1", Email: "alice@corp.example", EmailVerified: true, PreferredUsername: "alice.sso",
		Groups: []string{"eng"}})

	alice := e.client()
	r := alice.do("POST", "/v1/auth/register", map[string]any{"username": "alice", "password": testPassword, "email": "alice@corp.example"})
	require.Equal(t, http.StatusCreated, r.Status)
	aliceID := r.JSON(t)["id"]
	require.Equal(t, http.StatusOK, alice.do("POST", "/v1/auth/login", map[string]any{"username": "alice", "password": testPassword}).Status)

	require.Equal(t, http.StatusUnauthorized, e.client().do("GET", "/v1/auth/oidc/login?link=true", nil).Status, "anonymous")
	require.Equal(t, http.StatusBadRequest, alice.do("GET", "/v1/auth/oidc/login?link=yes", nil).Status)
	cross := alice.do("GET", "/v1/auth/oidc/login?link=true", nil, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, cross.Status, "another site cannot start a link")

	linked := browse(t, e, alice.jar, "/v1/auth/oidc/login?link=true&return_to=/v1/auth/me")
	require.Equal(t, http.StatusOK, linked.Status, "%s", linked.Body)
	m := linked.JSON(t)
	require.Equal(t, aliceID, m["id"], "still alice")
	require.Equal(t, true, m["email_verified"], "the provider vouched for her address")
	require.Equal(t, "eng", m["groups"].([]any)[0].(map[string]any)["name"])

	jar, _ := cookiejar.New(nil)
	later := browse(t, e, jar, "/v1/auth/oidc/login?return_to=/v1/auth/me")
	require.Equal(t, http.StatusOK, later.Status)
	require.Equal(t, aliceID, later.JSON(t)["id"], "a plain SSO login reaches the linked account")

	bob, _ := e.signup("bob")
	taken := browse(t, e, bob.jar, "/v1/auth/oidc/login?link=true&return_to=/v1/auth/me")
	require.Equal(t, http.StatusConflict, taken.Status, "%s", taken.Body)
	require.Equal(t, "SSO_IDENTITY_TAKEN", taken.errCode(t))

	key, _ := bob.mintKey(map[string]any{"name": "k", "scopes": []string{"read", "admin"}})
	kr := e.keyClient(key).do("GET", "/v1/auth/oidc/login?link=true", nil)
	require.Equal(t, http.StatusForbidden, kr.Status)
	require.Equal(t, "API_KEY_NOT_ALLOWED", kr.errCode(t))

	clock.advance(e.cfg.ReauthWindow + time.Second)
	stale := bob.do("GET", "/v1/auth/oidc/login?link=true", nil)
	require.Equal(t, http.StatusForbidden, stale.Status)
	require.Equal(t, "REAUTH_REQUIRED", stale.errCode(t))

	var ok, failed int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'failure')
		FROM audit_log WHERE action = 'auth.oidc.link'`).Scan(&ok, &failed))
	require.EqualValues(t, 1, ok)
	require.EqualValues(t, 1, failed)
}

// A user without a password (single sign-on only) cannot reauthenticate with one; signing in
// again at the provider makes a fresh login.
func TestSSOUsersReauthenticateAtTheProvider(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	e, clock := oidcAPI(t, idp)
	idp.SetUser(ssotest.User{Subject: "sso-only", Email: "carol@corp.example", EmailVerified: true, PreferredUsername: "carol"})
	jar, _ := cookiejar.New(nil)
	require.Equal(t, http.StatusOK, browse(t, e, jar, "/v1/auth/oidc/login?return_to=/v1/auth/me").Status)
	carol := e.client()
	carol.jar = jar
	carol.headers["X-CSRF-Token"] = cookieValue(t, carol, "csrf_token")
	require.Equal(t, http.StatusOK, carol.do("GET", "/v1/account/export", nil).Status, "an SSO login is fresh")

	clock.advance(e.cfg.ReauthWindow + time.Second)
	require.Equal(t, http.StatusForbidden, carol.do("GET", "/v1/account/export", nil).Status)
	r := carol.do("POST", "/v1/auth/reauthenticate", map[string]any{"password": "anything at all"})
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "PASSWORD_NOT_SET", r.errCode(t))

	again := browse(t, e, jar, "/v1/auth/oidc/login?return_to=/v1/account/export")
	require.Equal(t, http.StatusOK, again.Status, "signed in again at the provider: %s", again.Body)
	require.Contains(t, string(again.Body), `"username":"carol"`)
}
