package toolbox

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/keyring"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testKeys verify what testSecret signs.
var testKeys = [][]byte{testSecret}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   Identity
	}{
		{name: "user with groups and turn", id: Identity{UserID: uuid.New(), GroupIDs: []uuid.UUID{uuid.New(), uuid.New()}, TurnID: uuid.New()}},
		{name: "user only", id: Identity{UserID: uuid.New()}},
		{name: "the platform itself", id: Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			token, err := SignIdentity(testSecret, tt.id, time.Minute)
			require.NoError(t, err)
			got, err := VerifyIdentity(testKeys, token)
			require.NoError(t, err)
			require.Equal(t, tt.id, got)
		})
	}
}

// During a rotation the MCP servers accept identities signed with the current or the previous
// key; once the previous key is removed, its identities fail. A key derived for another purpose
// from the same secret never signs an identity.
func TestIdentityKeyRotation(t *testing.T) {
	t.Parallel()
	const oldSecret, newSecret = "old-secret-old-secret-old-secret-1", "new-secret-new-secret-new-secret-2"
	id := Identity{UserID: uuid.New()}
	before := keyring.New(keyring.MCPIdentity, oldSecret)
	during := keyring.New(keyring.MCPIdentity, newSecret, oldSecret)
	after := keyring.New(keyring.MCPIdentity, newSecret)
	oldTok, err := SignIdentity(before.Signing(), id, time.Minute)
	require.NoError(t, err)
	newTok, err := SignIdentity(during.Signing(), id, time.Minute)
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		keys  keyring.Ring
		token string
		ok    bool
	}{
		{"old identity during the rotation", during, oldTok, true},
		{"new identity during the rotation", during, newTok, true},
		{"new identity after it", after, newTok, true},
		{"old identity once the previous key is removed", after, oldTok, false},
		{"new identity where only the old key is known", before, newTok, false},
	} {
		got, err := VerifyIdentity(tc.keys, tc.token)
		if !tc.ok {
			require.ErrorIs(t, err, ErrInvalidIdentity, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, id, got, tc.name)
	}

	for _, p := range []keyring.Purpose{keyring.AccessToken, keyring.CSRF, keyring.SSOState} {
		tok, err := SignIdentity(keyring.Derive([]byte(newSecret), p), id, time.Minute)
		require.NoError(t, err)
		_, err = VerifyIdentity(during, tok)
		require.ErrorIs(t, err, ErrInvalidIdentity, "the %s key", p)
	}
	_, err = VerifyIdentity(during, tokenKid(t, jwt.SigningMethodHS256, []byte(newSecret), keyring.ID(during.Signing()), claimsFor(id.UserID, nil)))
	require.ErrorIs(t, err, ErrInvalidIdentity, "the raw secret under the key's kid")
}

func TestSignIdentityRejects(t *testing.T) {
	t.Parallel()
	_, err := SignIdentity(nil, Identity{UserID: uuid.New()}, time.Minute)
	require.Error(t, err, "an empty secret would make tokens forgeable")
	_, err = SignIdentity(testSecret, Identity{UserID: uuid.New()}, 0)
	require.Error(t, err, "exp is required")
}

// token signs claims with method and key, for forged and malformed tokens, naming testSecret's
// key id.
func token(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	return tokenKid(t, method, key, keyring.ID(testSecret), claims)
}

func tokenKid(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func claimsFor(user uuid.UUID, mutate func(*identityClaims)) identityClaims {
	now := time.Now()
	c := identityClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    identityIssuer,
		Subject:   user.String(),
		Audience:  jwt.ClaimStrings{identityAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func TestIdentityMiddleware(t *testing.T) {
	t.Parallel()
	user := uuid.New()
	valid, err := SignIdentity(testSecret, Identity{UserID: user}, time.Minute)
	require.NoError(t, err)

	tests := []struct {
		name   string
		header string
		want   int
	}{
		{name: "valid", header: valid, want: http.StatusOK},
		{name: "missing", header: "", want: http.StatusUnauthorized},
		{name: "garbage", header: "not-a-jwt", want: http.StatusUnauthorized},
		{name: "forged with another secret", header: token(t, jwt.SigningMethodHS256, []byte("another secret, just as long...."), claimsFor(user, nil)), want: http.StatusUnauthorized},
		{name: "expired", header: token(t, jwt.SigningMethodHS256, testSecret, claimsFor(user, func(c *identityClaims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
		})), want: http.StatusUnauthorized},
		{name: "no exp", header: token(t, jwt.SigningMethodHS256, testSecret, claimsFor(user, func(c *identityClaims) { c.ExpiresAt = nil })), want: http.StatusUnauthorized},
		{name: "other audience", header: token(t, jwt.SigningMethodHS256, testSecret, claimsFor(user, func(c *identityClaims) { c.Audience = jwt.ClaimStrings{"youworker-api"} })), want: http.StatusUnauthorized},
		{name: "HS512 is not accepted", header: token(t, jwt.SigningMethodHS512, testSecret, claimsFor(user, nil)), want: http.StatusUnauthorized},
		{name: "alg none", header: token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsFor(user, nil)), want: http.StatusUnauthorized},
		{name: "subject not a uuid", header: token(t, jwt.SigningMethodHS256, testSecret, claimsFor(user, func(c *identityClaims) { c.Subject = "admin" })), want: http.StatusUnauthorized},
		{name: "right key, no kid", header: tokenKid(t, jwt.SigningMethodHS256, testSecret, "", claimsFor(user, nil)), want: http.StatusUnauthorized},
		{name: "right key, unknown kid", header: tokenKid(t, jwt.SigningMethodHS256, testSecret, "AAAAAAAA", claimsFor(user, nil)), want: http.StatusUnauthorized},
		{name: "another key under its own kid", header: tokenKid(t, jwt.SigningMethodHS256, []byte("another secret, just as long...."),
			keyring.ID([]byte("another secret, just as long....")), claimsFor(user, nil)), want: http.StatusUnauthorized},
	}

	h := IdentityMiddleware(testKeys, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		if !ok {
			http.Error(w, "no identity in context", http.StatusInternalServerError)
			return
		}
		_, _ = fmt.Fprint(w, id.UserID)
	}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/mcp", nil)
			if tt.header != "" {
				req.Header.Set(IdentityHeader, tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.want, rec.Code, rec.Body.String())
			if tt.want == http.StatusOK {
				require.Equal(t, user.String(), rec.Body.String())
			}
		})
	}
}

// whoamiTool answers with the identity its handler finds in its context, after a pause that
// makes concurrent calls overlap on the shared session.
func whoamiTool() server.ServerTool {
	return server.ServerTool{
		Tool: mcp.NewTool("whoami", mcp.WithDescription("who the call acts for")),
		Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			id, ok := IdentityFrom(ctx)
			if !ok {
				return mcp.NewToolResultError("no identity"), nil
			}
			time.Sleep(20 * time.Millisecond)
			return mcp.NewToolResultText(fmt.Sprintf("%s %s %v", id.UserID, id.TurnID, id.GroupIDs)), nil
		},
	}
}

func TestToolHandlerSeesTheCallersIdentity(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "guarded", serverConfig{
		tools: []server.ServerTool{whoamiTool()},
		wrap:  func(h http.Handler) http.Handler { return IdentityMiddleware(testKeys, h) },
	})
	c := newCatalog(t, []Server{{Name: "guarded", URL: ts.url}}, Options{IdentitySecret: testSecret})

	tools, err := c.Tools(t.Context())
	require.NoError(t, err, "listing carries the platform identity")
	require.Len(t, tools, 1)

	const n = 24
	ids := make([]Identity, n)
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = Identity{UserID: uuid.New(), TurnID: uuid.New(), GroupIDs: []uuid.UUID{uuid.New()}}
		wg.Go(func() { results[i], errs[i] = c.Call(t.Context(), "guarded", "whoami", nil, ids[i]) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.False(t, results[i].IsError, results[i].Text)
		require.Equal(t, fmt.Sprintf("%s %s %v", ids[i].UserID, ids[i].TurnID, ids[i].GroupIDs), results[i].Text, "call %d", i)
	}
}

func TestGuardedServerRejectsAWrongSecret(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "guarded", serverConfig{
		tools: []server.ServerTool{whoamiTool()},
		wrap:  func(h http.Handler) http.Handler { return IdentityMiddleware(testKeys, h) },
	})
	tests := []struct {
		name   string
		secret []byte
	}{
		{name: "no secret", secret: nil},
		{name: "another secret", secret: []byte("another secret, just as long....")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCatalog(t, []Server{{Name: "guarded", URL: ts.url}}, Options{IdentitySecret: tt.secret})
			_, err := c.Call(t.Context(), "guarded", "whoami", nil, Identity{UserID: uuid.New()})
			require.ErrorContains(t, err, "authorization required")
		})
	}
}

// TestIdentityGoesOnlyToBuiltins: a registered server cannot verify the token and could replay it
// against the built-ins, so it never receives one.
func TestIdentityGoesOnlyToBuiltins(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string][]string{}
	record := func(name string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen[name] = append(seen[name], r.Header.Get(IdentityHeader))
				mu.Unlock()
				h.ServeHTTP(w, r)
			})
		}
	}
	builtin := newTestServer(t, "builtin", serverConfig{tools: []server.ServerTool{echoTool()}, wrap: record("builtin")})
	registered := newTestServer(t, "registered", serverConfig{tools: []server.ServerTool{echoTool()}, wrap: record("registered")})
	c := newCatalog(t, []Server{
		{Name: "builtin", URL: builtin.url},
		{ID: uuid.NewString(), Name: "registered", URL: registered.url},
	}, Options{IdentitySecret: testSecret})

	for _, s := range []string{"builtin", "registered"} {
		_, err := c.Call(t.Context(), s, "echo", map[string]any{"text": "x"}, Identity{UserID: uuid.New()})
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen["builtin"])
	require.False(t, slices.Contains(seen["builtin"], ""), "every request to a built-in carries an identity")
	require.NotEmpty(t, seen["registered"])
	for _, h := range seen["registered"] {
		require.Empty(t, h)
	}
}
