package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers/mcptest"
)

// mintKey creates an API key of the user with the given scopes.
func (u *user) mintKey(scopes ...string) string {
	u.p.t.Helper()
	r := u.do("POST", "/v1/account/api-keys", map[string]any{"name": "mcp client", "scopes": scopes})
	require.Equal(u.p.t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(u.p.t)["key"].(string)
}

// dialMCP connects the mcp-go client to the API's /mcp as an MCP client configured with an API
// key does: Authorization: Bearer yw_….
func (p *platform) dialMCP(key string) *client.Client {
	p.t.Helper()
	return mcptest.Dial(p.t, p.apiURL+"/mcp", "youworker", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
}

func initializeBody() map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "e2e", "version": "1"}}}
}

// TestMCPEndpoint drives the API's MCP endpoint as an outside agent does, with the mcp-go client,
// over the whole platform: the tools are listed; a text ingested through ingest_text is ingested by
// the durable workflow (ingestion_status reaches completed) and found by knowledge_search; another
// user's key never sees it (not listed, not found, not searchable); a read-only key cannot
// ingest; a foreign browser Origin and a request without credentials are refused.
func TestMCPEndpoint(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"MCP_ALLOWED_ORIGINS": "https://agent.example",
		"CORS_ALLOWED_ORIGINS": "https://agent.example"}).start()
	alice, bob := p.signup("alice"), p.signup("bob")
	a := p.dialMCP(alice.mintKey("read", "documents"))

	tools, err := a.ListTools(t.Context(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"get_document", "ingest_text", "ingest_url", "ingestion_status", "knowledge_search", "list_documents"}, names)

	started := mcptest.Call(t, a, "ingest_text", map[string]any{"title": "Apiary notes",
		"text": "# Apiary notes\n\nBeekeepers puff cool smoke at the hive entrance before lifting the honey frames.\n"})
	require.False(t, started.IsError, started.Text)
	run, doc := started.Structured["ingestion_run_id"].(string), started.Structured["document_id"].(string)
	var status mcptest.Result
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		status = mcptest.Call(t, a, "ingestion_status", map[string]any{"ingestion_run_id": run})
		require.False(t, status.IsError, status.Text)
		require.NotContains(t, []string{"failed", "cancelled"}, status.Structured["status"], status.Text)
		if status.Structured["status"] == "completed" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run did not complete: %s", status.Text)
	}
	require.Equal(t, doc, status.Structured["document_id"])
	require.Equal(t, "ready", alice.do("GET", "/v1/documents/"+doc, nil).json(t)["status"], "the REST API sees the same document")

	found := mcptest.Call(t, a, "knowledge_search", map[string]any{"query": "beekeepers smoke the hive before lifting honey frames"})
	require.False(t, found.IsError, found.Text)
	hits := found.Structured["results"].([]any)
	require.NotEmpty(t, hits)
	require.Equal(t, doc, hits[0].(map[string]any)["document_id"])
	require.Contains(t, found.Text, "Apiary notes")
	got := mcptest.Call(t, a, "get_document", map[string]any{"document_id": doc})
	require.False(t, got.IsError, got.Text)
	require.Equal(t, "ready", got.Structured["status"])
	require.Positive(t, got.Structured["chunk_count"])

	t.Run("another user's key never sees it", func(t *testing.T) {
		b := p.dialMCP(bob.mintKey("read", "documents"))
		require.Empty(t, mcptest.Call(t, b, "list_documents", nil).Structured["items"])
		res := mcptest.Call(t, b, "get_document", map[string]any{"document_id": doc})
		require.True(t, res.IsError)
		require.Equal(t, "document not found", res.Text)
		res = mcptest.Call(t, b, "ingestion_status", map[string]any{"ingestion_run_id": run})
		require.True(t, res.IsError)
		require.Equal(t, "ingestion run not found", res.Text)
		res = mcptest.Call(t, b, "knowledge_search", map[string]any{"query": "beekeepers smoke the hive before lifting honey frames"})
		require.False(t, res.IsError, res.Text)
		for _, h := range res.Structured["results"].([]any) {
			require.NotEqual(t, doc, h.(map[string]any)["document_id"])
		}
	})

	t.Run("a read-only key cannot ingest", func(t *testing.T) {
		ro := p.dialMCP(alice.mintKey("read"))
		for _, tool := range []string{"ingest_text", "ingest_url"} {
			res := mcptest.Call(t, ro, tool, map[string]any{"text": "more notes", "url": "https://example.org/"})
			require.True(t, res.IsError, "%s: %s", tool, res.Text)
			require.Equal(t, "INSUFFICIENT_SCOPE", res.Structured["error"].(map[string]any)["code"], tool)
		}
		listed := mcptest.Call(t, ro, "list_documents", nil)
		require.False(t, listed.IsError, listed.Text)
		require.Len(t, listed.Structured["items"], 1, "nothing was ingested; the key still reads")
	})

	t.Run("a foreign browser origin is refused", func(t *testing.T) {
		key := alice.mintKey("read")
		headers := map[string]string{"X-API-Key": key, "Accept": "application/json, text/event-stream"}
		for _, origin := range []string{"https://evil.example", p.apiURL} { // p.apiURL: a name rebound onto the API
			headers["Origin"] = origin
			r := p.request("POST", "/mcp", "", initializeBody(), headers)
			require.Equal(t, http.StatusForbidden, r.status, "%s: %s", origin, r.body)
		}
		headers["Origin"] = "https://agent.example"
		r := p.request("POST", "/mcp", "", initializeBody(), headers)
		require.Equal(t, http.StatusOK, r.status, "an allowed origin: %s", r.body)
	})

	t.Run("no credentials is a 401", func(t *testing.T) {
		r := p.request("POST", "/mcp", "", initializeBody(), map[string]string{"Accept": "application/json, text/event-stream"})
		require.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
		c, err := client.NewStreamableHttpClient(p.apiURL + "/mcp")
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Start(t.Context()))
		_, err = c.Initialize(t.Context(), mcp.InitializeRequest{})
		require.Error(t, err, "the mcp-go client cannot open the endpoint without a credential")
	})
}
