package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/client"
)

// authServer speaks the API's login protocol: the refresh token only as a cookie, refresh needs
// the CSRF cookie and header, and a refresh token works once.
type authServer struct {
	mu       sync.Mutex
	access   string
	refresh  string
	refreshN int
}

func (s *authServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(status int, code string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": code}})
	}
	issue := func() {
		s.refreshN++
		s.access, s.refresh = "access-"+string(rune('0'+s.refreshN)), "refresh-"+string(rune('0'+s.refreshN))
		http.SetCookie(w, &http.Cookie{Name: "refresh_token", Value: s.refresh, Path: "/v1/auth", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "csrf_token", Value: "csrf-1", Path: "/"})
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": s.access, "csrf_token": "csrf-1",
			"expires_at": time.Now().Add(time.Minute), "user": map[string]any{"id": "u1", "username": "alice"}})
	}
	switch r.URL.Path {
	case "/v1/auth/login":
		issue()
	case "/v1/auth/refresh":
		ck, err := r.Cookie("refresh_token")
		csrf, _ := r.Cookie("csrf_token")
		if err != nil || ck.Value != s.refresh {
			fail(http.StatusUnauthorized, "INVALID_REFRESH_TOKEN")
			return
		}
		if csrf == nil || csrf.Value != "csrf-1" || r.Header.Get("X-CSRF-Token") != "csrf-1" {
			fail(http.StatusForbidden, "CSRF_FAILED")
			return
		}
		issue()
	case "/v1/auth/me":
		if r.Header.Get("Authorization") != "Bearer "+s.access {
			fail(http.StatusUnauthorized, "INVALID_TOKEN")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "u1", "username": "alice"})
	}
}

func TestLoginKeepsTheRefreshCookieAndRefreshesOnce(t *testing.T) {
	t.Parallel()
	s := &authServer{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx := context.Background()
	store := &memStore{}
	c := &client.Client{BaseURL: srv.URL, Store: store}
	tok, u, err := c.Login(ctx, "alice", "pw")
	require.NoError(t, err)
	require.Equal(t, "alice", u.Username)
	require.Equal(t, client.Tokens{AccessToken: "access-1", ExpiresAt: tok.ExpiresAt, RefreshToken: "refresh-1", CSRFToken: "csrf-1", CSRFCookie: "csrf_token"}, tok)

	// The access token expires (the server forgets it): the next call refreshes and goes on.
	s.mu.Lock()
	s.access = "access-gone"
	s.mu.Unlock()
	me, err := c.Me(ctx)
	require.NoError(t, err)
	require.Equal(t, "alice", me.Username)
	require.Len(t, store.saved, 1, "the new tokens are handed over to be stored")
	require.Equal(t, "access-2", store.saved[0].AccessToken)
	require.Equal(t, "refresh-2", store.saved[0].RefreshToken, "the rotated refresh token replaces the used one")

	// Another process refreshed first: its tokens are taken, the used refresh token is not sent again.
	store.stored = &client.Tokens{AccessToken: "access-9", RefreshToken: "refresh-9", CSRFToken: "csrf-1", CSRFCookie: "csrf_token"}
	s.mu.Lock()
	s.access = "access-9"
	before := s.refreshN
	s.mu.Unlock()
	_, err = c.Me(ctx)
	require.NoError(t, err)
	s.mu.Lock()
	require.Equal(t, before, s.refreshN, "no second refresh")
	s.mu.Unlock()

	// A revoked login cannot be refreshed: the error says to log in again.
	s.mu.Lock()
	s.access, s.refresh = "access-gone", "revoked"
	s.mu.Unlock()
	_, err = c.Me(ctx)
	var expired *client.LoginExpiredError
	require.ErrorAs(t, err, &expired)
	require.Contains(t, err.Error(), "run youworker login again")
}

// memStore is a TokenStore in memory: stored is what another process may have put there.
type memStore struct {
	stored *client.Tokens
	saved  []client.Tokens
}

func (m *memStore) Update(fn func(*client.Tokens) (client.Tokens, error)) error {
	t, err := fn(m.stored)
	if err != nil {
		return err
	}
	m.stored = &t
	m.saved = append(m.saved, t)
	return nil
}

func TestAPIKeyIsSentAndNotRefreshed(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path+" "+r.Header.Get("X-API-Key"))
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"INVALID_API_KEY","message":"invalid API key"}}`))
	}))
	defer srv.Close()
	_, err := (&client.Client{BaseURL: srv.URL, APIKey: "yw_bad"}).Me(context.Background())
	require.EqualError(t, err, "INVALID_API_KEY: invalid API key (HTTP 401)")
	require.Equal(t, []string{"/v1/auth/me yw_bad"}, got)
}
