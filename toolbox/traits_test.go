package toolbox

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
)

// annotated is a tool whose server says what it does (MCP annotations) and, optionally, that its
// output is trusted.
func annotated(name string, readOnly, openWorld *bool, trusted bool) server.ServerTool {
	opts := []mcp.ToolOption{mcp.WithDescription(name)}
	if readOnly != nil || openWorld != nil {
		opts = append(opts, mcp.WithToolAnnotation(mcp.ToolAnnotation{ReadOnlyHint: readOnly, OpenWorldHint: openWorld}))
	}
	tool := mcp.NewTool(name, opts...)
	if trusted {
		tool.Meta = &mcp.Meta{AdditionalFields: map[string]any{models.TrustedOutputMeta: true}}
	}
	return server.ServerTool{Tool: tool, Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	}}
}

// A built-in server's annotations say which tools are outbound (the MCP defaults when it says
// nothing: not read-only, open world) and which return trusted output; a registered server's
// claims are not believed: all its tools are outbound and untrusted.
func TestToolTraitsFromAnnotations(t *testing.T) {
	t.Parallel()
	yes, no := mcp.ToBoolPtr(true), mcp.ToBoolPtr(false)
	tools := []server.ServerTool{
		annotated("clock", yes, no, true),
		annotated("search_docs", yes, no, false),
		annotated("fetch", yes, yes, false),
		annotated("write_note", no, no, false),
		annotated("unannotated", nil, nil, false),
	}
	want := map[string][2]bool{ // name: outbound, untrusted
		"clock": {false, false}, "search_docs": {false, true}, "fetch": {true, true},
		"write_note": {true, true}, "unannotated": {true, true},
	}
	builtin := newTestServer(t, "builtin", serverConfig{tools: tools})
	registered := newTestServer(t, "registered", serverConfig{tools: tools})
	c := newCatalog(t, []Server{{Name: "builtin", URL: builtin.url}}, Options{})
	listed, err := c.Tools(t.Context())
	require.NoError(t, err)
	require.Len(t, listed, len(want))
	for _, tl := range listed {
		require.Equal(t, want[tl.Name], [2]bool{tl.Outbound, tl.Untrusted}, tl.Name)
	}
	r := newCatalog(t, []Server{{ID: "3f1c", Name: "registered", URL: registered.url}}, Options{})
	listed, err = r.Tools(t.Context())
	require.NoError(t, err)
	for _, tl := range listed {
		require.True(t, tl.Outbound, "%s: a registered server's annotations are its own claims", tl.Name)
		require.True(t, tl.Untrusted, tl.Name)
	}
}

// Every call carries its idempotency key, to built-in and registered servers alike, in the
// request's _meta and as the Idempotency-Key header; retried calls carry the same key.
func TestCallsCarryTheirIdempotencyKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var metas, headers []string
	tool := server.ServerTool{
		Tool: mcp.NewTool("write", mcp.WithDescription("writes")),
		Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			mu.Lock()
			metas = append(metas, IdempotencyKeyFrom(req))
			mu.Unlock()
			return mcp.NewToolResultText("done"), nil
		},
	}
	ts := newTestServer(t, "w", serverConfig{tools: []server.ServerTool{tool}, wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.Header.Get("Content-Type"), "json") && r.Method == http.MethodPost {
				mu.Lock()
				headers = append(headers, r.Header.Get("Idempotency-Key"))
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}})
	for _, srv := range []Server{{Name: "w", URL: ts.url}, {ID: "reg", Name: "w", URL: ts.url}} {
		c := newCatalog(t, []Server{srv}, Options{})
		for range 2 {
			_, err := c.Call(WithIdempotencyKey(t.Context(), "turn/t1/call/1-0"), "w", "write", nil, Identity{})
			require.NoError(t, err)
		}
		_, err := c.Call(t.Context(), "w", "write", nil, Identity{})
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"turn/t1/call/1-0", "turn/t1/call/1-0", "", "turn/t1/call/1-0", "turn/t1/call/1-0", ""}, metas)
	require.Contains(t, headers, "turn/t1/call/1-0")
}

func TestLimits(t *testing.T) {
	t.Parallel()
	l := Limits{MaxTools: 2, MaxDescription: 10, MaxSchemaBytes: 20}
	small := Tool{Name: "a", Description: "short", InputSchema: []byte(`{"type":"object"}`)}
	require.Nil(t, l.Check([]Tool{small, small}))
	err := l.Check([]Tool{small, small, small})
	require.NotNil(t, err)
	require.Equal(t, "tools", err.What)
	require.Contains(t, err.Error(), "offers 3 tools; the limit is 2")
	long := Tool{Name: "b", Description: "ééééééééééé"} // 11 characters, 22 bytes
	err = l.Check([]Tool{small, long})
	require.NotNil(t, err)
	require.Equal(t, "b", err.Tool)
	require.Equal(t, 11, err.Actual)
	big := Tool{Name: "c", InputSchema: []byte(`{"type":"object","properties":{}}`)}
	require.Equal(t, "schema", l.Check([]Tool{big}).What)
	require.Nil(t, Limits{}.Check([]Tool{long, big, small}), "zero limits limit nothing")
}
