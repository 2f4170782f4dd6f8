package sso_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/sso"
	"github.com/youworker/youworker/sso/ssotest"
)

const redirectURL = "https://youworker.example/v1/auth/oidc/callback"

var jane = ssotest.User{
	Subject:           "ak-7f3a",
	Email:             "jane@example.com",
	EmailVerified:     true,
	PreferredUsername: "jane",
	Name:              "Jane Doe",
	Groups:            []string{"admins", "staff"},
}

// newProvider returns a Provider for idp with the StateKey and redirect URL the tests use, after
// edit has adjusted its config.
func newProvider(t *testing.T, idp *ssotest.Server, edit func(*sso.Config)) *sso.Provider {
	t.Helper()
	c := sso.Config{
		Issuer:       idp.Issuer(),
		ClientID:     idp.ClientID(),
		ClientSecret: idp.ClientSecret(),
		RedirectURL:  redirectURL,
		GroupsClaim:  "groups",
		StateKey:     []byte(strings.Repeat("k", 32)),
	}
	if edit != nil {
		edit(&c)
	}
	p, err := sso.New(t.Context(), c)
	require.NoError(t, err)
	return p
}

// authorize follows authURL to the provider and returns the query it redirects back with.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, redirectURL, loc.Scheme+"://"+loc.Host+loc.Path)
	return loc.Query()
}

// login runs Begin, the provider and Finish.
func login(t *testing.T, p *sso.Provider, returnTo string) (sso.Identity, string, error) {
	t.Helper()
	authURL, cookie, err := p.Begin(returnTo)
	require.NoError(t, err)
	return p.Finish(t.Context(), authorize(t, authURL), cookie)
}

// A browser with a cookie jar goes through the API's login and callback handlers and the provider,
// following every redirect, and lands on the page it started from.
func TestLoginRoundTripInBrowser(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t, ssotest.WithIssuerPath("/application/o/youworker/"))
	idp.SetUser(jane)

	type result struct {
		id       sso.Identity
		returnTo string
		err      error
	}
	results := make(chan result, 1)
	var p *sso.Provider
	const cookieName, cookiePath = "yw_sso_state", "/v1/auth/oidc"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/auth/oidc/login", func(w http.ResponseWriter, r *http.Request) {
		authURL, value, err := p.Begin(r.URL.Query().Get("return_to"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Secure is left off only because the test server speaks plain HTTP.
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: cookiePath,
			MaxAge: int(sso.StateTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, authURL, http.StatusFound)
	})
	mux.HandleFunc("GET /v1/auth/oidc/callback", func(w http.ResponseWriter, r *http.Request) {
		var value string
		if c, err := r.Cookie(cookieName); err == nil {
			value = c.Value
		}
		id, returnTo, err := p.Finish(r.Context(), r.URL.Query(), value)
		http.SetCookie(w, &http.Cookie{Name: cookieName, Path: cookiePath, MaxAge: -1})
		results <- result{id, returnTo, err}
		if err != nil {
			http.Error(w, "sign-in failed", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, returnTo, http.StatusFound)
	})
	mux.HandleFunc("GET /app/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("app")) })
	app := httptest.NewUnstartedServer(mux)
	appURL := "http://" + app.Listener.Addr().String()
	p = newProvider(t, idp, func(c *sso.Config) { c.RedirectURL = appURL + "/v1/auth/oidc/callback" })
	app.Start()
	t.Cleanup(app.Close)

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(appURL + "/v1/auth/oidc/login?return_to=" + url.QueryEscape("/app/chats?tab=recent"))
	require.NoError(t, err)
	defer resp.Body.Close()

	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, appURL+"/app/chats?tab=recent", resp.Request.URL.String())
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, "/app/chats?tab=recent", r.returnTo)
	require.Equal(t, sso.Identity{
		Issuer:        idp.Issuer(),
		Subject:       "ak-7f3a",
		Email:         "jane@example.com",
		EmailVerified: true,
		Username:      "jane",
		Name:          "Jane Doe",
		Groups:        []string{"admins", "staff"},
	}, r.id)
	callback, err := url.Parse(appURL + "/v1/auth/oidc/callback")
	require.NoError(t, err)
	require.Empty(t, jar.Cookies(callback), "the state cookie is cleared after the callback")
	require.Equal(t, 1, idp.TokenRequests())
}

func TestBeginAuthorizationRequest(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	p := newProvider(t, idp, nil)

	authURL, cookie, err := p.Begin("/app")
	require.NoError(t, err)
	u, err := url.Parse(authURL)
	require.NoError(t, err)
	q := u.Query()
	require.Equal(t, idp.Issuer()+"/authorize", u.Scheme+"://"+u.Host+u.Path)
	require.Equal(t, "code", q.Get("response_type"))
	require.Equal(t, idp.ClientID(), q.Get("client_id"))
	require.Equal(t, redirectURL, q.Get("redirect_uri"))
	require.Equal(t, "openid profile email groups", q.Get("scope"))
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.Len(t, q.Get("code_challenge"), 43)
	require.GreaterOrEqual(t, len(q.Get("state")), 26)
	require.GreaterOrEqual(t, len(q.Get("nonce")), 26)
	require.NotContains(t, cookie, q.Get("code_challenge"))

	again, _, err := p.Begin("/app")
	require.NoError(t, err)
	u2, err := url.Parse(again)
	require.NoError(t, err)
	require.NotEqual(t, q.Get("state"), u2.Query().Get("state"))
	require.NotEqual(t, q.Get("nonce"), u2.Query().Get("nonce"))
	require.NotEqual(t, q.Get("code_challenge"), u2.Query().Get("code_challenge"))
}

func TestNew(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t, ssotest.WithIssuerPath("/application/o/youworker/"))
	key := []byte(strings.Repeat("k", 32))
	tests := []struct {
		name    string
		config  sso.Config
		wantErr string
	}{
		{"ok", sso.Config{Issuer: idp.Issuer(), ClientID: "youworker", RedirectURL: redirectURL, StateKey: key}, ""},
		{"issuer without the trailing slash", sso.Config{Issuer: strings.TrimSuffix(idp.Issuer(), "/"), ClientID: "youworker", RedirectURL: redirectURL, StateKey: key}, ""},
		{"no issuer", sso.Config{ClientID: "youworker", RedirectURL: redirectURL, StateKey: key}, "issuer is required"},
		{"no client id", sso.Config{Issuer: idp.Issuer(), RedirectURL: redirectURL, StateKey: key}, "client id is required"},
		{"short state key", sso.Config{Issuer: idp.Issuer(), ClientID: "youworker", RedirectURL: redirectURL, StateKey: key[:31]}, "state key"},
		{"relative redirect url", sso.Config{Issuer: idp.Issuer(), ClientID: "youworker", RedirectURL: "/v1/auth/oidc/callback", StateKey: key}, "redirect url"},
		{"no discovery document", sso.Config{Issuer: idp.Issuer() + "nope/", ClientID: "youworker", RedirectURL: redirectURL, StateKey: key}, "404"},
		{"another issuer", sso.Config{Issuer: strings.Replace(idp.Issuer(), "127.0.0.1", "localhost", 1), ClientID: "youworker", RedirectURL: redirectURL, StateKey: key}, "did not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sso.New(t.Context(), tt.config)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// Authentik's issuer ends with a slash; configured without it, tokens still verify.
func TestLoginWithIssuerMissingTrailingSlash(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t, ssotest.WithIssuerPath("/application/o/youworker/"))
	idp.SetUser(jane)
	p := newProvider(t, idp, func(c *sso.Config) { c.Issuer = strings.TrimSuffix(c.Issuer, "/") })

	id, _, err := login(t, p, "/")
	require.NoError(t, err)
	require.Equal(t, idp.Issuer(), id.Issuer)
}

func TestGroups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		user   func(*ssotest.User)
		config func(*sso.Config)
		want   []string
	}{
		{
			name:   "not configured",
			config: func(c *sso.Config) { c.GroupsClaim = "" },
			want:   nil,
		},
		{
			name: "all groups, trimmed and deduplicated",
			user: func(u *ssotest.User) { u.Groups = []string{"admins", " staff ", "admins", ""} },
			want: []string{"admins", "staff"},
		},
		{
			name:   "allowed groups only",
			user:   func(u *ssotest.User) { u.Groups = []string{"admins", "staff", "contractors"} },
			config: func(c *sso.Config) { c.AllowedGroups = []string{"staff", "contractors"} },
			want:   []string{"staff", "contractors"},
		},
		{
			name:   "no group allowed",
			config: func(c *sso.Config) { c.AllowedGroups = []string{"finance"} },
			want:   []string{},
		},
		{
			name:   "mapped names, others unchanged",
			user:   func(u *ssotest.User) { u.Groups = []string{"authentik Admins", "staff"} },
			config: func(c *sso.Config) { c.GroupMap = map[string]string{"authentik Admins": "admins"} },
			want:   []string{"admins", "staff"},
		},
		{
			name: "mapped groups count as allowed",
			user: func(u *ssotest.User) { u.Groups = []string{"authentik Admins", "staff", "contractors"} },
			config: func(c *sso.Config) {
				c.GroupMap = map[string]string{"authentik Admins": "admins"}
				c.AllowedGroups = []string{"staff"}
			},
			want: []string{"admins", "staff"},
		},
		{
			name:   "two groups mapped to one",
			user:   func(u *ssotest.User) { u.Groups = []string{"ops", "sre"} },
			config: func(c *sso.Config) { c.GroupMap = map[string]string{"ops": "platform", "sre": "platform"} },
			want:   []string{"platform"},
		},
		{
			name: "claim holding a single string",
			user: func(u *ssotest.User) { u.Claims = map[string]any{"groups": "admins"} },
			want: []string{"admins"},
		},
		{
			name: "claim with non-string elements",
			user: func(u *ssotest.User) { u.Claims = map[string]any{"groups": []any{"admins", 7, map[string]any{"x": 1}}} },
			want: []string{"admins"},
		},
		{
			name: "claim absent means no groups",
			user: func(u *ssotest.User) { u.Groups = nil },
			want: []string{},
		},
		{
			name:   "custom claim",
			user:   func(u *ssotest.User) { u.Claims = map[string]any{"roles": []string{"editor"}} },
			config: func(c *sso.Config) { c.GroupsClaim = "roles" },
			want:   []string{"editor"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := ssotest.New(t)
			u := jane
			if tt.user != nil {
				tt.user(&u)
			}
			idp.SetUser(u)
			p := newProvider(t, idp, tt.config)

			id, _, err := login(t, p, "/")
			require.NoError(t, err)
			require.Equal(t, tt.want, id.Groups)
		})
	}
}

func TestIdentityClaims(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	p := newProvider(t, idp, nil)
	tests := []struct {
		name  string
		user  ssotest.User
		check func(t *testing.T, id sso.Identity)
	}{
		{
			name: "username sanitised",
			user: ssotest.User{Subject: "s1", PreferredUsername: "Jane Doe (Admin)"},
			check: func(t *testing.T, id sso.Identity) {
				require.Equal(t, "Jane_Doe_Admin", id.Username)
			},
		},
		{
			name: "username from the email when preferred_username is missing",
			user: ssotest.User{Subject: "s2", Email: "j.doe+yw@example.com"},
			check: func(t *testing.T, id sso.Identity) {
				require.Equal(t, "j.doe_yw", id.Username)
				require.Equal(t, "j.doe+yw@example.com", id.Email)
				require.False(t, id.EmailVerified)
			},
		},
		{
			name: "username from the email when preferred_username is too short",
			user: ssotest.User{Subject: "s3", PreferredUsername: "é!", Email: "jdoe@example.com"},
			check: func(t *testing.T, id sso.Identity) {
				require.Equal(t, "jdoe", id.Username)
			},
		},
		{
			name: "username from the subject when nothing else fits",
			user: ssotest.User{Subject: "s4", PreferredUsername: "日本", Email: "x@example.com"},
			check: func(t *testing.T, id sso.Identity) {
				require.Regexp(t, `^user-[0-9a-f]{12}$`, id.Username)
			},
		},
		{
			name: "long username cut to 64",
			user: ssotest.User{Subject: "s5", PreferredUsername: strings.Repeat("a", 63) + "-bc"},
			check: func(t *testing.T, id sso.Identity) {
				require.Equal(t, strings.Repeat("a", 63), id.Username)
			},
		},
		{
			name: "name from given and family name",
			user: ssotest.User{Subject: "s6", PreferredUsername: "jane", Claims: map[string]any{"given_name": "Jane", "family_name": "Doe"}},
			check: func(t *testing.T, id sso.Identity) {
				require.Equal(t, "Jane Doe", id.Name)
			},
		},
		{
			name: "name cleaned",
			user: ssotest.User{Subject: "s7", PreferredUsername: "jane", Name: " Jane\u200b\n  Doe\x00 "},
			check: func(t *testing.T, id sso.Identity) {
				require.Equal(t, "Jane Doe", id.Name)
			},
		},
		{
			name: "email_verified as a string",
			user: ssotest.User{Subject: "s8", Email: "jane@example.com", Claims: map[string]any{"email_verified": "true"}},
			check: func(t *testing.T, id sso.Identity) {
				require.True(t, id.EmailVerified)
			},
		},
		{
			name: "invalid email dropped",
			user: ssotest.User{Subject: "s9", PreferredUsername: "jane", Email: "Jane <jane@example.com>", EmailVerified: true},
			check: func(t *testing.T, id sso.Identity) {
				require.Empty(t, id.Email)
			},
		},
	}
	// One provider serves every case, so the cases run in turn.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp.SetUser(tt.user)
			id, _, err := login(t, p, "/")
			require.NoError(t, err)
			require.Equal(t, tt.user.Subject, id.Subject)
			tt.check(t, id)
		})
	}
}

func TestFinishRejectsState(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	idp.SetUser(jane)
	tests := []struct {
		name string
		// callback returns the callback's query and the cookie to finish p's login with.
		callback func(t *testing.T, p *sso.Provider) (url.Values, string)
	}{
		{
			name: "cookie from another login",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, _, err := p.Begin("/")
				require.NoError(t, err)
				_, other, err := p.Begin("/")
				require.NoError(t, err)
				return authorize(t, authURL), other
			},
		},
		{
			name: "no cookie",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, _, err := p.Begin("/")
				require.NoError(t, err)
				return authorize(t, authURL), ""
			},
		},
		{
			name: "no state in the callback",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				q := authorize(t, authURL)
				q.Del("state")
				return q, cookie
			},
		},
		{
			name: "payload tampered",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				payload, sig, ok := strings.Cut(cookie, ".")
				require.True(t, ok)
				b, err := base64.RawURLEncoding.DecodeString(payload)
				require.NoError(t, err)
				var st map[string]any
				require.NoError(t, json.Unmarshal(b, &st))
				st["r"] = "https://evil.example/"
				b, err = json.Marshal(st)
				require.NoError(t, err)
				return authorize(t, authURL), base64.RawURLEncoding.EncodeToString(b) + "." + sig
			},
		},
		{
			name: "signature tampered",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				payload, sig, _ := strings.Cut(cookie, ".")
				flipped := "A"
				if sig[0] == 'A' {
					flipped = "B"
				}
				return authorize(t, authURL), payload + "." + flipped + sig[1:]
			},
		},
		{
			name: "not a state cookie",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, _, err := p.Begin("/")
				require.NoError(t, err)
				return authorize(t, authURL), "not-a-cookie"
			},
		},
		{
			name: "signed with another key",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				other := newProvider(t, idp, func(c *sso.Config) { c.StateKey = []byte(strings.Repeat("x", 32)) })
				authURL, cookie, err := other.Begin("/")
				require.NoError(t, err)
				return authorize(t, authURL), cookie
			},
		},
		{
			name: "expired",
			callback: func(t *testing.T, p *sso.Provider) (url.Values, string) {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				q := authorize(t, authURL)
				sso.SetClock(p, func() time.Time { return time.Now().Add(sso.StateTTL + time.Second) })
				return q, cookie
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, idp, nil)
			q, cookie := tt.callback(t, p)
			tokens := idp.TokenRequests()

			_, returnTo, err := p.Finish(t.Context(), q, cookie)
			require.ErrorIs(t, err, sso.ErrState)
			require.Empty(t, returnTo)
			require.Equal(t, tokens, idp.TokenRequests(), "no code is exchanged for an unbound callback")
		})
	}
}

func TestFinishRejectsToken(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		fault ssotest.Fault
	}{
		{"wrong audience", ssotest.WrongAudience},
		{"expired", ssotest.Expired},
		{"wrong nonce", ssotest.WrongNonce},
		{"signed by a foreign key", ssotest.ForeignKey},
		{"alg none", ssotest.AlgNone},
		{"wrong issuer", ssotest.WrongIssuer},
	}
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := ssotest.New(t)
			idp.SetUser(jane)
			p := newProvider(t, idp, nil)
			_, _, err := login(t, p, "/")
			require.NoError(t, err, "the provider behaves before the fault")

			idp.SetFault(tt.fault)
			id, returnTo, err := login(t, p, "/app")
			require.ErrorIs(t, err, sso.ErrToken)
			require.Zero(t, id)
			require.Empty(t, returnTo)
		})
	}

	idp := ssotest.New(t)
	idp.SetUser(jane)
	p := newProvider(t, idp, nil)
	tests := []struct {
		name string
		run  func(t *testing.T) error
	}{
		{
			name: "code replayed",
			run: func(t *testing.T) error {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				q := authorize(t, authURL)
				_, _, err = p.Finish(t.Context(), q, cookie)
				require.NoError(t, err)
				_, _, err = p.Finish(t.Context(), q, cookie)
				return err
			},
		},
		{
			name: "PKCE verifier wrong",
			run: func(t *testing.T) error {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				cookie, err = sso.ResealWithVerifier(p, cookie, strings.Repeat("v", 43))
				require.NoError(t, err)
				_, _, err = p.Finish(t.Context(), authorize(t, authURL), cookie)
				return err
			},
		},
		{
			name: "client secret wrong",
			run: func(t *testing.T) error {
				wrong := newProvider(t, idp, func(c *sso.Config) { c.ClientSecret = "guess" })
				_, _, err := login(t, wrong, "/")
				return err
			},
		},
		{
			name: "no code in the callback",
			run: func(t *testing.T) error {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				q := authorize(t, authURL)
				q.Del("code")
				_, _, err = p.Finish(t.Context(), q, cookie)
				return err
			},
		},
		{
			name: "provider failure other than a denial",
			run: func(t *testing.T) error {
				authURL, cookie, err := p.Begin("/")
				require.NoError(t, err)
				u, err := url.Parse(authURL)
				require.NoError(t, err)
				q := url.Values{"state": {u.Query().Get("state")}, "error": {"server_error"}}
				_, _, err = p.Finish(t.Context(), q, cookie)
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.run(t)
			require.ErrorIs(t, err, sso.ErrToken)
			require.NotErrorIs(t, err, sso.ErrDenied)
		})
	}
}

func TestFinishDenied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(idp *ssotest.Server)
	}{
		{"access denied", func(idp *ssotest.Server) { idp.SetUser(jane); idp.SetFault(ssotest.Deny) }},
		{"not signed in", func(*ssotest.Server) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := ssotest.New(t)
			tt.setup(idp)
			p := newProvider(t, idp, nil)

			_, _, err := login(t, p, "/")
			require.ErrorIs(t, err, sso.ErrDenied)
			require.Zero(t, idp.TokenRequests())
		})
	}
}

func TestReturnTo(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	idp.SetUser(jane)
	p := newProvider(t, idp, nil)
	tests := []struct {
		name, returnTo, want string
	}{
		{"local path", "/app", "/app"},
		{"local path with query", "/app/chats?id=42&tab=files", "/app/chats?id=42&tab=files"},
		{"empty", "", "/"},
		{"relative path", "app", "/"},
		{"scheme-relative URL", "//evil.com", "/"},
		{"scheme-relative URL with path", "//evil.com/app", "/"},
		{"absolute URL", "https://evil.com", "/"},
		{"absolute URL to this site", redirectURL, "/"},
		{"backslash", `/\evil.com`, "/"},
		{"backslashes", `\\evil.com`, "/"},
		{"javascript URL", "javascript:alert(document.cookie)", "/"},
		{"data URL", "data:text/html,<script>alert(1)</script>", "/"},
		{"tab smuggled slash", "/\t/evil.com", "/"},
		{"newline", "/app\r\nSet-Cookie: x=1", "/"},
		{"encoded slashes", "/%2F%2Fevil.com", "/"},
		{"encoded backslash", "/%5Cevil.com", "/"},
		{"too long", "/" + strings.Repeat("a", 1024), "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got, err := login(t, p, tt.returnTo)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// A public client has no secret and authenticates the code exchange with PKCE alone.
func TestLoginAsPublicClient(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t, ssotest.WithClient("youworker-public", ""))
	idp.SetUser(jane)
	p := newProvider(t, idp, nil)

	id, _, err := login(t, p, "/")
	require.NoError(t, err)
	require.Equal(t, "ak-7f3a", id.Subject)
}

// A login started by BeginLink brings its account back from the signed state; a plain login
// brings none, and the account cannot be swapped in the cookie.
func TestBeginLinkCarriesTheAccount(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	idp.SetUser(jane)
	p := newProvider(t, idp, nil)

	authURL, cookie, err := p.BeginLink("/settings", "account-42")
	require.NoError(t, err)
	l, err := p.FinishLogin(t.Context(), authorize(t, authURL), cookie)
	require.NoError(t, err)
	require.Equal(t, "account-42", l.Link)
	require.Equal(t, "/settings", l.ReturnTo)
	require.Equal(t, jane.Subject, l.Subject)

	authURL, cookie, err = p.Begin("/")
	require.NoError(t, err)
	l, err = p.FinishLogin(t.Context(), authorize(t, authURL), cookie)
	require.NoError(t, err)
	require.Empty(t, l.Link)

	authURL, cookie, err = p.BeginLink("/", "account-42")
	require.NoError(t, err)
	payload, sig, _ := strings.Cut(cookie, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	require.NoError(t, err)
	swapped := strings.Replace(string(raw), "account-42", "account-99", 1)
	_, err = p.FinishLogin(t.Context(), authorize(t, authURL), base64.RawURLEncoding.EncodeToString([]byte(swapped))+"."+sig)
	require.ErrorIs(t, err, sso.ErrState)
}

// A login begun before a rotation of the state key finishes during it (the previous key still
// opens its cookie); once the previous key is removed, such a cookie is refused.
func TestStateKeyRotation(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	idp.SetUser(jane)
	oldKey, newKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	before := newProvider(t, idp, func(c *sso.Config) { c.StateKey = oldKey })
	during := newProvider(t, idp, func(c *sso.Config) { c.StateKey, c.PreviousStateKey = newKey, oldKey })
	after := newProvider(t, idp, func(c *sso.Config) { c.StateKey = newKey })

	authURL, cookie, err := before.Begin("/during")
	require.NoError(t, err)
	id, returnTo, err := during.Finish(t.Context(), authorize(t, authURL), cookie)
	require.NoError(t, err)
	require.Equal(t, jane.Subject, id.Subject)
	require.Equal(t, "/during", returnTo)

	authURL, cookie, err = during.Begin("/after")
	require.NoError(t, err)
	_, returnTo, err = after.Finish(t.Context(), authorize(t, authURL), cookie)
	require.NoError(t, err, "the rotation's cookies are signed with the new key")
	require.Equal(t, "/after", returnTo)

	authURL, cookie, err = before.Begin("/")
	require.NoError(t, err)
	_, _, err = after.Finish(t.Context(), authorize(t, authURL), cookie)
	require.ErrorIs(t, err, sso.ErrState, "the old key is gone")
}
