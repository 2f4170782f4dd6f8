// Package mcptest connects the real mcp-go client to an MCP server under test, over streamable
// HTTP, and calls its tools.
package mcptest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/toolbox"
)

// Dial connects to the MCP endpoint url, initializes the session and requires the server to
// call itself serverName. The client is closed when the test ends.
func Dial(t testing.TB, url, serverName string, opts ...transport.StreamableHTTPCOption) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := client.NewStreamableHttpClient(url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Start(ctx))
	var init mcp.InitializeRequest
	init.Params.ClientInfo = mcp.Implementation{Name: serverName + "-test", Version: "1"}
	res, err := c.Initialize(ctx, init)
	require.NoError(t, err)
	require.Equal(t, serverName, res.ServerInfo.Name)
	return c
}

// AsUser is the client option carrying the platform identity of a new user, signed with secret
// as the worker signs it for every tool call of a turn.
func AsUser(t testing.TB, secret []byte) transport.StreamableHTTPCOption {
	t.Helper()
	token, err := toolbox.SignIdentity(secret, toolbox.Identity{UserID: uuid.New()}, time.Hour)
	require.NoError(t, err)
	return transport.WithHTTPHeaders(map[string]string{toolbox.IdentityHeader: token})
}

// Result is what a tool call returned: its one text content, whether it is a tool error, and its
// structured content (nil when there is none).
type Result struct {
	Text       string
	IsError    bool
	Structured map[string]any
}

// Call calls tool with args. Any failure, bad input included, must come back as a tool error
// result with exactly one text content, never as a protocol error.
func Call(t testing.TB, c *client.Client, tool string, args map[string]any) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	require.NoError(t, err, "failures must be tool error results, not protocol errors")
	require.Len(t, res.Content, 1)
	text, ok := res.Content[0].(mcp.TextContent)
	require.True(t, ok, "content is %T", res.Content[0])
	out := Result{Text: text.Text, IsError: res.IsError}
	if res.StructuredContent != nil {
		raw, err := json.Marshal(res.StructuredContent)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &out.Structured))
	}
	return out
}
