package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
)

func TestRegisterAndLogin(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, login := e.signup("alice")
	require.NotEmpty(t, login["access_token"])
	require.Equal(t, "alice", login["user"].(map[string]any)["username"])
	require.NotContains(t, string(c.do("GET", "/v1/auth/me", nil).Body), "argon2", "no password hash in responses")

	me := c.do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
	require.Equal(t, "cookie", me.JSON(t)["auth_method"])
	require.Equal(t, []any{}, me.JSON(t)["groups"], "groups are listed, even when there are none")

	b := e.bearer(login).do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusOK, b.Status)
	require.Equal(t, "bearer", b.JSON(t)["auth_method"])

	dup := e.client().do("POST", "/v1/auth/register", map[string]any{"username": "ALICE", "password": testPassword})
	require.Equal(t, http.StatusConflict, dup.Status)
	require.Equal(t, "USERNAME_TAKEN", dup.errCode(t))
}

func TestLoginFailureRevealsNothing(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	e.signup("bob")
	wrongPass := e.client().do("POST", "/v1/auth/login", map[string]any{"username": "bob", "password": "not the password"})
	noUser := e.client().do("POST", "/v1/auth/login", map[string]any{"username": "nobody", "password": "not the password"})
	require.Equal(t, http.StatusUnauthorized, wrongPass.Status)
	require.Equal(t, http.StatusUnauthorized, noUser.Status)
	strip := func(r response) map[string]any {
		m := r.JSON(t)["error"].(map[string]any)
		delete(m, "request_id")
		return m
	}
	require.Equal(t, strip(wrongPass), strip(noUser))
	require.Empty(t, wrongPass.Header.Values("Set-Cookie"))

	var n int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'failure'`).Scan(&n))
	require.EqualValues(t, 2, n, "both failures are audited")
}

func TestRegistrationDisabled(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.AllowRegistration = false })
	r := e.client().do("POST", "/v1/auth/register", map[string]any{"username": "carol", "password": testPassword})
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "REGISTRATION_DISABLED", r.errCode(t))
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cases := []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"malformed json", `{"username": "x",`, 400, "MALFORMED_JSON", ""},
		{"not an object", `[1,2]`, 400, "MALFORMED_JSON", ""},
		{"empty body", ``, 400, "MALFORMED_JSON", ""},
		{"wrong type", `{"username": 123, "password": "abcdefghij"}`, 400, "VALIDATION_ERROR", "username"},
		{"unknown field", `{"username": "dave", "password": "abcdefghij", "is_admin": true}`, 400, "VALIDATION_ERROR", "is_admin"},
		{"missing field", `{"username": "dave"}`, 400, "VALIDATION_ERROR", "password"},
		{"too short", `{"username": "dave", "password": "short"}`, 400, "VALIDATION_ERROR", "password"},
		{"bad username", `{"username": "../etc", "password": "abcdefghij"}`, 400, "VALIDATION_ERROR", "username"},
		{"bad email", `{"username": "dave", "password": "abcdefghij", "email": "nope"}`, 400, "VALIDATION_ERROR", "email"},
		{"trailing data", `{"username": "dave", "password": "abcdefghij"} {}`, 400, "MALFORMED_JSON", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.client().do("POST", "/v1/auth/register", tc.body)
			require.Equal(t, tc.status, r.Status, "%s", r.Body)
			require.Equal(t, tc.code, r.errCode(t))
			if tc.field != "" {
				details := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
				require.Equal(t, tc.field, details["field"])
				require.Contains(t, r.JSON(t)["error"].(map[string]any)["message"], tc.field)
			}
		})
	}
	// Nothing was created by any of them.
	var n int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM users`).Scan(&n))
	require.Zero(t, n)

	t.Run("wrong content type", func(t *testing.T) {
		r := e.client().do("POST", "/v1/auth/register", `username=dave`, "Content-Type", "application/x-www-form-urlencoded")
		require.Equal(t, http.StatusUnsupportedMediaType, r.Status)
		require.Equal(t, "UNSUPPORTED_MEDIA_TYPE", r.errCode(t))
	})
}

func TestBodyCap(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.MaxBodyBytes = 4096 })
	big := fmt.Sprintf(`{"username": "eve", "password": "%s"}`, strings.Repeat("x", 10_000))

	t.Run("declared length", func(t *testing.T) {
		r := e.client().do("POST", "/v1/auth/register", big)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
		require.Equal(t, "REQUEST_TOO_LARGE", r.errCode(t))
	})
	t.Run("chunked body without length", func(t *testing.T) {
		req, err := http.NewRequest("POST", e.http.URL+"/v1/auth/register", strings.NewReader(big))
		require.NoError(t, err)
		req.ContentLength = -1 // sent chunked: the cap must hold while reading
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, login := e.signup("frank")
	oldRefresh := cookieValue(t, c, "refresh_token")

	r := c.do("POST", "/v1/auth/refresh", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	newRefresh := cookieValue(t, c, "refresh_token")
	require.NotEqual(t, oldRefresh, newRefresh, "refresh token rotates")
	c.headers["X-CSRF-Token"] = r.JSON(t)["csrf_token"].(string)
	require.Equal(t, http.StatusOK, c.do("GET", "/v1/auth/me", nil).Status)

	// Someone replays the old (rotated) refresh token: the whole login is revoked.
	thief := e.client()
	thief.headers["Cookie"] = "refresh_token=" + oldRefresh + "; csrf_token=" + login["csrf_token"].(string)
	thief.headers["X-CSRF-Token"] = login["csrf_token"].(string)
	reuse := thief.do("POST", "/v1/auth/refresh", nil)
	require.Equal(t, http.StatusUnauthorized, reuse.Status)
	require.Equal(t, "REFRESH_TOKEN_REUSED", reuse.errCode(t))

	require.Equal(t, http.StatusUnauthorized, c.do("POST", "/v1/auth/refresh", nil).Status, "the legitimate newest token died too")
	require.Equal(t, http.StatusUnauthorized, e.bearer(login).do("GET", "/v1/auth/me", nil).Status, "access tokens of the login are dead")
}

func TestRefreshNeedsCSRF(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, _ := e.signup("grace")
	delete(c.headers, "X-CSRF-Token")
	r := c.do("POST", "/v1/auth/refresh", nil)
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "CSRF_FAILED", r.errCode(t))
}

func TestLogoutEndsTheLogin(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, login := e.signup("heidi")
	access := cookieValue(t, c, "access_token")
	r := c.do("POST", "/v1/auth/logout", nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)

	replay := e.client()
	replay.headers["Cookie"] = "access_token=" + access
	require.Equal(t, http.StatusUnauthorized, replay.do("GET", "/v1/auth/me", nil).Status, "cookie reuse after logout")
	require.Equal(t, http.StatusUnauthorized, e.bearer(login).do("GET", "/v1/auth/me", nil).Status, "bearer reuse after logout")
}

func TestCSRFOnCookieRequests(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, login := e.signup("ivan")
	token := c.headers["X-CSRF-Token"]
	body := map[string]any{"name": "ci"}

	delete(c.headers, "X-CSRF-Token")
	missing := c.do("POST", "/v1/account/api-keys", body)
	require.Equal(t, http.StatusForbidden, missing.Status)
	require.Equal(t, "CSRF_FAILED", missing.errCode(t))

	wrong := c.do("POST", "/v1/account/api-keys", body, "X-CSRF-Token", token[:len(token)-4]+"AAAA")
	require.Equal(t, http.StatusForbidden, wrong.Status)

	// A token of another login is signed correctly but bound to the wrong session.
	_, other := e.signup("judy")
	foreign := c.do("POST", "/v1/account/api-keys", body, "X-CSRF-Token", other["csrf_token"].(string))
	require.Equal(t, http.StatusForbidden, foreign.Status)

	ok := c.do("POST", "/v1/account/api-keys", body, "X-CSRF-Token", token)
	require.Equal(t, http.StatusCreated, ok.Status, "%s", ok.Body)

	// Bearer requests need no CSRF token.
	require.Equal(t, http.StatusCreated, e.bearer(login).do("POST", "/v1/account/api-keys", body).Status)

	var n int64
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM api_keys`).Scan(&n))
	require.EqualValues(t, 2, n, "refused requests created nothing")
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, _ := e.signup("kim")
	created := c.do("POST", "/v1/account/api-keys", map[string]any{"name": "laptop"})
	require.Equal(t, http.StatusCreated, created.Status, "%s", created.Body)
	key := created.JSON(t)["key"].(string)
	id := created.JSON(t)["id"].(string)
	require.True(t, strings.HasPrefix(key, "yw_"))

	list := c.do("GET", "/v1/account/api-keys", nil)
	require.Equal(t, http.StatusOK, list.Status)
	require.NotContains(t, string(list.Body), key[len(key)-20:], "the secret is shown once")
	require.Len(t, list.JSON(t)["items"], 1)

	k := e.client()
	k.jar = nil
	k.headers["X-API-Key"] = key
	me := k.do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusOK, me.Status)
	require.Equal(t, "api_key", me.JSON(t)["auth_method"])
	minted := k.do("POST", "/v1/account/api-keys", map[string]any{"name": "from a key"})
	require.Equal(t, http.StatusForbidden, minted.Status, "a key never mints keys (needs no CSRF token, but a login)")
	require.Equal(t, "API_KEY_NOT_ALLOWED", minted.errCode(t))

	wrong := e.client()
	wrong.headers["X-API-Key"] = key[:len(key)-1] + "0"
	if strings.HasSuffix(key, "0") {
		wrong.headers["X-API-Key"] = key[:len(key)-1] + "1"
	}
	r := wrong.do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "INVALID_API_KEY", r.errCode(t))

	// As a bearer token, the way the OpenAI SDKs and most clients send a key, it is the same key.
	b := e.client()
	b.jar = nil
	b.headers["Authorization"] = "Bearer " + key
	me = b.do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
	require.Equal(t, "api_key", me.JSON(t)["auth_method"])
	require.Equal(t, http.StatusForbidden, b.do("POST", "/v1/account/api-keys", map[string]any{"name": "x"}).Status, "still a key")
	b.headers["Authorization"] = "Bearer " + wrong.headers["X-API-Key"]
	r = b.do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "INVALID_API_KEY", r.errCode(t))

	// Another user cannot revoke it: not found, and it keeps working.
	other, _ := e.signup("leo")
	require.Equal(t, http.StatusNotFound, other.do("DELETE", "/v1/account/api-keys/"+id, nil).Status)
	require.Equal(t, http.StatusOK, k.do("GET", "/v1/auth/me", nil).Status)

	require.Equal(t, http.StatusNoContent, c.do("DELETE", "/v1/account/api-keys/"+id, nil).Status)
	require.Equal(t, http.StatusUnauthorized, k.do("GET", "/v1/auth/me", nil).Status, "revoked")

	past := c.do("POST", "/v1/account/api-keys", map[string]any{"name": "old", "expires_at": time.Now().Add(-time.Hour)})
	require.Equal(t, http.StatusBadRequest, past.Status)
	short := c.do("POST", "/v1/account/api-keys", map[string]any{"name": "short", "expires_at": time.Now().Add(time.Second)})
	require.Equal(t, http.StatusCreated, short.Status)
	sk := e.client()
	sk.headers["X-API-Key"] = short.JSON(t)["key"].(string)
	require.Eventually(t, func() bool { return sk.do("GET", "/v1/auth/me", nil).Status == http.StatusUnauthorized },
		5*time.Second, 100*time.Millisecond, "expired keys stop working")
}

func TestAPIKeyPagination(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c, _ := e.signup("mia")
	for i := range 5 {
		require.Equal(t, http.StatusCreated, c.do("POST", "/v1/account/api-keys", map[string]any{"name": fmt.Sprint("k", i)}).Status)
	}
	seen := map[string]bool{}
	path := "/v1/account/api-keys?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		r := c.do("GET", path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		m := r.JSON(t)
		for _, it := range m["items"].([]any) {
			id := it.(map[string]any)["id"].(string)
			require.False(t, seen[id], "no duplicates across pages")
			seen[id] = true
		}
		if m["next_cursor"] == nil {
			break
		}
		path = "/v1/account/api-keys?limit=2&cursor=" + m["next_cursor"].(string)
	}
	require.Len(t, seen, 5)
	require.Equal(t, http.StatusBadRequest, c.do("GET", "/v1/account/api-keys?limit=500", nil).Status)
	require.Equal(t, http.StatusBadRequest, c.do("GET", "/v1/account/api-keys?cursor=garbage", nil).Status)
}

func cookieValue(t *testing.T, c *apiClient, name string) string {
	t.Helper()
	u := c.e.http.URL + "/v1/auth/"
	req, _ := http.NewRequest("GET", u, nil)
	for _, ck := range c.jar.Cookies(req.URL) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no %s cookie", name)
	return ""
}
