package ssotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/sso/ssotest"
)

const (
	redirectURI = "https://app.example/callback"
	verifier    = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge   = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 appendix B
)

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func authorizeQuery() url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {"youworker"},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid profile"},
		"state":                 {"st"},
		"nonce":                 {"nc"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
}

// authorize returns the query /authorize redirects back with, or the status when it does not.
func authorize(t *testing.T, idp *ssotest.Server, q url.Values) (url.Values, int) {
	t.Helper()
	resp, err := noFollow.Get(strings.TrimSuffix(idp.Issuer(), "/") + "/authorize?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, resp.StatusCode
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, redirectURI, loc.Scheme+"://"+loc.Host+loc.Path)
	return loc.Query(), resp.StatusCode
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	idp.SetUser(ssotest.User{Subject: "u1"})
	tests := []struct {
		name       string
		edit       func(url.Values)
		wantStatus int
		wantError  string
	}{
		{"signs in", func(url.Values) {}, http.StatusFound, ""},
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, http.StatusBadRequest, ""},
		{"relative redirect_uri", func(q url.Values) { q.Set("redirect_uri", "/callback") }, http.StatusBadRequest, ""},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge") }, http.StatusFound, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, http.StatusFound, "invalid_request"},
		{"no openid scope", func(q url.Values) { q.Set("scope", "profile") }, http.StatusFound, "invalid_scope"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "id_token") }, http.StatusFound, "unsupported_response_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := authorizeQuery()
			tt.edit(q)
			back, status := authorize(t, idp, q)
			require.Equal(t, tt.wantStatus, status)
			if status != http.StatusFound {
				return
			}
			require.Equal(t, "st", back.Get("state"))
			require.Equal(t, tt.wantError, back.Get("error"))
			if tt.wantError == "" {
				require.NotEmpty(t, back.Get("code"))
			}
		})
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	idp := ssotest.New(t)
	idp.SetUser(ssotest.User{Subject: "u1"})
	tests := []struct {
		name       string
		edit       func(form url.Values, req *http.Request)
		wantStatus int
		wantError  string
	}{
		{"client_secret_basic", func(url.Values, *http.Request) {}, http.StatusOK, ""},
		{"client_secret_post", func(f url.Values, r *http.Request) {
			r.Header.Del("Authorization")
			f.Set("client_id", "youworker")
			f.Set("client_secret", "ssotest-secret")
		}, http.StatusOK, ""},
		{"wrong secret", func(_ url.Values, r *http.Request) { r.SetBasicAuth("youworker", "guess") }, http.StatusUnauthorized, "invalid_client"},
		{"other redirect_uri", func(f url.Values, _ *http.Request) { f.Set("redirect_uri", "https://evil.example/cb") }, http.StatusBadRequest, "invalid_grant"},
		{"no verifier", func(f url.Values, _ *http.Request) { f.Del("code_verifier") }, http.StatusBadRequest, "invalid_grant"},
		{"wrong verifier", func(f url.Values, _ *http.Request) { f.Set("code_verifier", strings.Repeat("v", 43)) }, http.StatusBadRequest, "invalid_grant"},
		{"unknown code", func(f url.Values, _ *http.Request) { f.Set("code", "made-up") }, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			back, status := authorize(t, idp, authorizeQuery())
			require.Equal(t, http.StatusFound, status)
			form := url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {back.Get("code")},
				"redirect_uri":  {redirectURI},
				"code_verifier": {verifier},
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, idp.Issuer()+"/token", nil)
			require.NoError(t, err)
			req.SetBasicAuth("youworker", "ssotest-secret")
			tt.edit(form, req)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			body := form.Encode()
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))

			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var got map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			require.Equal(t, tt.wantStatus, resp.StatusCode, got)
			if tt.wantError != "" {
				require.Equal(t, tt.wantError, got["error"])
				return
			}
			require.NotEmpty(t, got["id_token"])
			require.NotEmpty(t, got["access_token"])
		})
	}
}
