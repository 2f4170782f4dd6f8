package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The API's cookie names (api/authn.go): the refresh token and the CSRF token of a login.
const (
	refreshCookie = "refresh_token"
	csrfCookie    = "csrf_token"
	csrfCookieTLS = "__Host-csrf_token"
)

// User is the signed-in user.
type User struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	AuthMethod  string `json:"auth_method,omitempty"`
}

// Me returns the user the credentials belong to (and so checks them).
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/auth/me", retrySent: true}, &u)
	return u, err
}

type loginAnswer struct {
	User        User      `json:"user"`
	CSRFToken   string    `json:"csrf_token"`
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Login signs in with a username and password and keeps the tokens on the client. The refresh
// token comes as a cookie (the API never puts it in a body); it is kept with the others.
func (c *Client) Login(ctx context.Context, username, password string) (Tokens, User, error) {
	resp, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/auth/login",
		body: jsonBody(map[string]string{"username": username, "password": password})})
	if err != nil {
		return Tokens{}, User{}, err
	}
	t, u, err := readLogin(resp)
	if err != nil {
		return Tokens{}, User{}, err
	}
	c.mu.Lock()
	c.APIKey, c.Tokens = "", &t
	c.mu.Unlock()
	return t, u, nil
}

func readLogin(resp *http.Response) (Tokens, User, error) {
	defer resp.Body.Close()
	var a loginAnswer
	if err := decode(resp, &a); err != nil {
		return Tokens{}, User{}, err
	}
	t := Tokens{AccessToken: a.AccessToken, ExpiresAt: a.ExpiresAt, CSRFToken: a.CSRFToken, CSRFCookie: csrfCookie}
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case refreshCookie:
			t.RefreshToken = ck.Value
		case csrfCookieTLS:
			t.CSRFCookie = csrfCookieTLS
		}
	}
	if t.AccessToken == "" {
		return Tokens{}, User{}, errors.New("the API's login answer has no access token")
	}
	return t, a.User, nil
}

func (c *Client) canRefresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.APIKey == "" && c.Tokens != nil && c.Tokens.RefreshToken != ""
}

// refresh gets a new access token with the refresh token (the API's cookie and CSRF protocol).
// used is the access token the API refused: when another call or process has refreshed
// meanwhile, its newer token is taken instead.
func (c *Client) refresh(ctx context.Context, used string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Tokens == nil {
		return errors.New("not logged in")
	}
	if used != c.Tokens.AccessToken {
		return nil // refreshed by another call meanwhile
	}
	if c.Store == nil {
		t, err := c.refreshWith(ctx, *c.Tokens)
		if err != nil {
			return err
		}
		c.Tokens = &t
		return nil
	}
	var next Tokens
	err := c.Store.Update(func(stored *Tokens) (Tokens, error) {
		if stored != nil && stored.AccessToken != "" && stored.AccessToken != used {
			next = *stored // another process refreshed
			return next, nil
		}
		t, err := c.refreshWith(ctx, *c.Tokens)
		next = t
		return t, err
	})
	if err != nil {
		return err
	}
	c.Tokens = &next
	return nil
}

func (c *Client) refreshWith(ctx context.Context, t Tokens) (Tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/v1/auth/refresh", nil)
	if err != nil {
		return Tokens{}, err
	}
	req.AddCookie(&http.Cookie{Name: refreshCookie, Value: t.RefreshToken})
	req.AddCookie(&http.Cookie{Name: t.CSRFCookie, Value: t.CSRFToken})
	req.Header.Set("X-CSRF-Token", t.CSRFToken)
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return Tokens{}, &UnreachableError{URL: c.BaseURL, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		e := readError(resp)
		if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
			return Tokens{}, &LoginExpiredError{Err: e}
		}
		return Tokens{}, e
	}
	nt, _, err := readLogin(resp)
	if err != nil {
		return Tokens{}, err
	}
	if nt.RefreshToken == "" {
		nt.RefreshToken = t.RefreshToken
	}
	return nt, nil
}

// LoginExpiredError says that the stored login can no longer be refreshed.
type LoginExpiredError struct{ Err error }

func (e *LoginExpiredError) Error() string {
	return "the login has expired or was revoked (" + e.Err.Error() + "); run youworker login again"
}

func (e *LoginExpiredError) Unwrap() error { return e.Err }

// Logout revokes the login's tokens on the API (an API key stays valid: revoke it in the account).
func (c *Client) Logout(ctx context.Context) error {
	if !c.canRefresh() && (c.Tokens == nil || c.Tokens.AccessToken == "") {
		return nil
	}
	return c.do(ctx, request{method: http.MethodPost, path: "/v1/auth/logout"}, nil)
}
