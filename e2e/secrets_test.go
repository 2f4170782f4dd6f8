package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/keyring"
	"github.com/youworker/youworker/toolbox"
)

// TestJWTSecretRotation rotates JWT_SECRET with JWT_SECRET_PREVIOUS: while both are configured,
// access tokens, CSRF tokens and MCP caller identities of either secret are accepted (the built-in
// MCP servers are separate processes and read the same variables); once the previous secret is
// removed, what it signed fails.
func TestJWTSecretRotation(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	api := p.startAPI()
	oldSecret, newSecret := p.env["JWT_SECRET"], "rotated-e2e-secret-rotated-e2e-secret"
	body := map[string]any{"username": "rotor", "password": "correct horse battery staple"}
	require.Equal(t, http.StatusCreated, p.request("POST", "/v1/auth/register", "", body, nil).status)
	login := p.request("POST", "/v1/auth/login", "", body, nil).json(t)
	oldAccess, oldCSRF := login["access_token"].(string), login["csrf_token"].(string)
	cookieCall := func(access, csrf string) int {
		return p.request("POST", "/v1/account/api-keys", "", map[string]any{"name": "k"}, map[string]string{
			"Cookie": "access_token=" + access + "; csrf_token=" + csrf, "X-CSRF-Token": csrf}).status
	}
	require.Equal(t, http.StatusCreated, cookieCall(oldAccess, oldCSRF))

	// During the rotation: the new secret signs, the old one still verifies.
	api.kill()
	p.env["JWT_SECRET"], p.env["JWT_SECRET_PREVIOUS"] = newSecret, oldSecret
	api = p.startAPI()
	require.Equal(t, http.StatusOK, p.request("GET", "/v1/auth/me", oldAccess, nil, nil).status, "old access token")
	require.Equal(t, http.StatusCreated, cookieCall(oldAccess, oldCSRF), "old access and CSRF tokens")
	newAccess := p.request("POST", "/v1/auth/login", "", body, nil).json(t)["access_token"].(string)
	require.NotEqual(t, jwtHeader(t, oldAccess), jwtHeader(t, newAccess), "new tokens name the new key")
	require.Equal(t, http.StatusOK, p.request("GET", "/v1/auth/me", newAccess, nil, nil).status)

	rotating := mcpURL(t, p, "semantic")
	for _, s := range []string{oldSecret, newSecret} {
		require.Equal(t, http.StatusOK, mcpInitialize(t, rotating, s), "an MCP server in the rotation accepts identities of either secret")
	}

	// After it: the previous secret is gone, and with it what it signed.
	api.kill()
	delete(p.env, "JWT_SECRET_PREVIOUS")
	p.startAPI()
	require.Equal(t, http.StatusUnauthorized, p.request("GET", "/v1/auth/me", oldAccess, nil, nil).status, "old access token")
	require.Equal(t, http.StatusOK, p.request("GET", "/v1/auth/me", newAccess, nil, nil).status)
	rotated := mcpURL(t, p, "semantic")
	require.Equal(t, http.StatusUnauthorized, mcpInitialize(t, rotated, oldSecret))
	require.Equal(t, http.StatusOK, mcpInitialize(t, rotated, newSecret))
}

// jwtHeader is the encoded header of a JWT, which names its key (kid).
func jwtHeader(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	return parts[0]
}

// mcpURL starts a built-in MCP server process with the platform's current environment.
func mcpURL(t *testing.T, p *platform, name string) string {
	t.Helper()
	before := p.env["MCP_SERVERS"]
	p.startMCP(name)
	added := strings.TrimPrefix(p.env["MCP_SERVERS"], before+",")
	p.env["MCP_SERVERS"] = before
	_, url, ok := strings.Cut(added, "=")
	require.True(t, ok, added)
	return url
}

// mcpInitialize sends an MCP initialize request carrying an identity signed with the MCP identity
// key derived from secret, as a worker configured with it would.
func mcpInitialize(t *testing.T, url, secret string) int {
	t.Helper()
	token, err := toolbox.SignIdentity(keyring.Derive([]byte(secret), keyring.MCPIdentity), toolbox.Identity{UserID: uuid.New()}, time.Minute)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":`+
		`{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(toolbox.IdentityHeader, token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}
