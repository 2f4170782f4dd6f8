package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/client"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

func TestConfigFileIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "youworker")
	c := Config{URL: "http://api", Username: "alice", APIKey: "yw_secret"}
	require.NoError(t, saveConfig(dir, c))
	require.Equal(t, os.FileMode(0o700), mode(t, dir))
	require.Equal(t, os.FileMode(0o600), mode(t, filepath.Join(dir, configFile)))
	got, err := loadConfig(dir)
	require.NoError(t, err)
	require.Equal(t, c, got)

	// A directory made by someone else with a loose mode is tightened; a rewrite stays 0600 and
	// leaves no temporary file behind.
	require.NoError(t, os.Chmod(dir, 0o755))
	c.APIKey = "yw_other"
	require.NoError(t, saveConfig(dir, c))
	require.Equal(t, os.FileMode(0o700), mode(t, dir))
	require.Equal(t, os.FileMode(0o600), mode(t, filepath.Join(dir, configFile)))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), ".config-"), "temporary file left: %s", e.Name())
	}

	// A file that others may read is refused, with what to do.
	require.NoError(t, os.Chmod(filepath.Join(dir, configFile), 0o644))
	_, err = loadConfig(dir)
	require.ErrorContains(t, err, "others may read it (mode 0644); run chmod 600 "+filepath.Join(dir, configFile))

	// A missing file is an empty config; a broken one says how to recover.
	empty, err := loadConfig(t.TempDir())
	require.NoError(t, err)
	require.False(t, empty.LoggedIn())
	broken := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(broken, configFile), []byte("{"), 0o600))
	_, err = loadConfig(broken)
	require.ErrorContains(t, err, "remove it and run youworker login")
}

func TestLoginStoresCredentialsAndLogoutForgetsThem(t *testing.T) {
	t.Parallel()
	var logouts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/auth/me":
			if r.Header.Get("X-API-Key") != "yw_good" && r.Header.Get("Authorization") != "Bearer acc" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":{"code":"INVALID_API_KEY","message":"invalid API key"}}`))
				return
			}
			_, _ = w.Write([]byte(`{"id":"u1","username":"alice"}`))
		case "/v1/auth/login":
			var b map[string]string
			_ = json.NewDecoder(r.Body).Decode(&b)
			if b["password"] != "pw" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":{"code":"INVALID_CREDENTIALS","message":"wrong username or password"}}`))
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "refresh_token", Value: "ref", Path: "/v1/auth"})
			_, _ = w.Write([]byte(`{"access_token":"acc","csrf_token":"csrf","expires_at":"2030-01-01T00:00:00Z","user":{"id":"u1","username":"alice"}}`))
		case "/v1/auth/logout":
			require.Equal(t, "Bearer acc", r.Header.Get("Authorization"))
			logouts++
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	home := t.TempDir()
	dir := filepath.Join(home, "youworker")
	env := map[string]string{"YOUWORKER_CONFIG_DIR": dir}

	// A refused key stores nothing.
	r := runCLI(t, runOpts{}, env, "login", "--url", srv.URL, "--api-key", "yw_bad")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "the API key was refused: INVALID_API_KEY")
	_, err := os.Stat(filepath.Join(dir, configFile))
	require.ErrorIs(t, err, os.ErrNotExist)

	// The key from stdin (no terminal), checked, stored privately.
	r = runCLI(t, runOpts{stdin: strings.NewReader("yw_good\n")}, env, "login", "--url", srv.URL+"/")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "Logged in to "+srv.URL+" as alice (API key)")
	require.Equal(t, os.FileMode(0o600), mode(t, filepath.Join(dir, configFile)))
	require.Equal(t, os.FileMode(0o700), mode(t, dir))
	cfg, err := loadConfig(dir)
	require.NoError(t, err)
	require.Equal(t, Config{URL: srv.URL, Username: "alice", APIKey: "yw_good"}, cfg)

	// A password login keeps the tokens, the refresh token from its cookie.
	r = runCLI(t, runOpts{stdin: strings.NewReader("nope\n")}, env, "login", "--username", "alice")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "logging in as alice: INVALID_CREDENTIALS")
	r = runCLI(t, runOpts{stdin: strings.NewReader("pw\n")}, env, "login", "--username", "alice")
	require.Equal(t, 0, r.code, r.stderr)
	cfg, err = loadConfig(dir)
	require.NoError(t, err)
	require.Equal(t, &client.Tokens{AccessToken: "acc", RefreshToken: "ref", CSRFToken: "csrf", CSRFCookie: "csrf_token",
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, cfg.Tokens)
	require.Empty(t, cfg.APIKey)

	// The stored login is used for its URL only.
	r = runCLI(t, runOpts{}, map[string]string{"YOUWORKER_CONFIG_DIR": dir, "YOUWORKER_URL": "http://elsewhere.example"}, "sessions")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "the stored login is for "+srv.URL+", not http://elsewhere.example")

	r = runCLI(t, runOpts{}, env, "logout")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 1, logouts, "the login is revoked on the API")
	cfg, err = loadConfig(dir)
	require.NoError(t, err)
	require.Equal(t, Config{URL: srv.URL}, cfg)
	r = runCLI(t, runOpts{}, env, "sessions")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "not logged in: run youworker login --url "+srv.URL)
}
