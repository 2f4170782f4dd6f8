package semantic_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/mcpservers/mcptest"
	"github.com/youworker/youworker/mcpservers/semantic"
	"github.com/youworker/youworker/toolbox"
)

// Searches that reach the index run end to end in e2e (TestKnowledgeSearchTool); here the
// arguments are checked, which happens before the store or the index is touched.
func TestBadArgumentsAreToolErrors(t *testing.T) {
	t.Parallel()
	secret := []byte("semantic-test-identity-secret")
	srv := httptest.NewServer(semantic.Handler(semantic.Deps{IdentityKeys: [][]byte{secret}, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	c := mcptest.Dial(t, srv.URL+mcpservers.EndpointPath, semantic.Name, mcptest.AsUser(t, secret))

	ids := make([]any, 101)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	for _, tt := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"no query", map[string]any{}, `missing required argument "query"`},
		{"blank query", map[string]any{"query": "  "}, `missing required argument "query"`},
		{"query not a string", map[string]any{"query": 7}, `invalid argument "query": must be a string`},
		{"huge query", map[string]any{"query": strings.Repeat("q", 2001)}, `invalid argument "query": longer than 2000`},
		{"top_k zero", map[string]any{"query": "x", "top_k": 0}, `invalid argument "top_k": must be between 1 and 20`},
		{"top_k fraction", map[string]any{"query": "x", "top_k": 2.5}, `invalid argument "top_k": must be an integer`},
		{"ids not a list", map[string]any{"query": "x", "document_ids": "abc"}, `invalid argument "document_ids": must be a list`},
		{"id not an id", map[string]any{"query": "x", "document_ids": []any{"abc"}}, `invalid argument "document_ids": abc is not a document id`},
		{"too many ids", map[string]any{"query": "x", "document_ids": ids}, `invalid argument "document_ids": at most 100 ids`},
	} {
		res := mcptest.Call(t, c, "knowledge_search", tt.args)
		require.True(t, res.IsError, "%s: got a result: %s", tt.name, res.Text)
		require.True(t, strings.HasPrefix(res.Text, tt.want), "%s: %s", tt.name, res.Text)
	}
}

// A browser page of a foreign site is refused even when it somehow carries a valid identity.
func TestForeignOriginIsRefused(t *testing.T) {
	t.Parallel()
	secret := []byte("semantic-test-identity-secret")
	srv := httptest.NewServer(semantic.Handler(semantic.Deps{IdentityKeys: [][]byte{secret}, Logger: slog.New(slog.DiscardHandler),
		AllowedOrigins: []string{"https://app.example"}}))
	t.Cleanup(srv.Close)
	token, err := toolbox.SignIdentity(secret, toolbox.Identity{UserID: uuid.New()}, time.Minute)
	require.NoError(t, err)
	for origin, want := range map[string]int{"https://evil.example": http.StatusForbidden, "https://app.example": http.StatusOK} {
		req, err := http.NewRequest("POST", srv.URL+mcpservers.EndpointPath, strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set(toolbox.IdentityHeader, token)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, origin)
	}
}
