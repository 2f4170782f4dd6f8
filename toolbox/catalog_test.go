package toolbox

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers/datetime"
)

func toolNames(tools []Tool) []string {
	var names []string
	for _, t := range tools {
		names = append(names, t.Server+"/"+t.Name)
	}
	return names
}

func TestToolsAcrossServersWithOneDown(t *testing.T) {
	t.Parallel()
	echo := newTestServer(t, "echo", serverConfig{tools: []server.ServerTool{echoTool()}})
	c := newCatalog(t, []Server{
		{Name: "datetime", URL: newDatetimeServer(t)},
		{Name: "down", URL: unreachableURL(t), Timeout: 2 * time.Second},
		{ID: "6a0f4c1e-8d47-4b4e-9a43-3d6b0e3f6f01", Name: "echo", URL: echo.url, RequiresApproval: true},
	}, Options{})

	tools, err := c.Tools(t.Context())
	require.Error(t, err, "the unreachable server is reported")
	require.Contains(t, err.Error(), "list tools of down")
	require.ElementsMatch(t, []string{"datetime/time_now", "datetime/time_format", "datetime/time_add_delta", "echo/echo"}, toolNames(tools))

	for _, tool := range tools {
		require.NotEmpty(t, tool.Description, tool.Name)
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		require.NoError(t, json.Unmarshal(tool.InputSchema, &schema), tool.Name)
		require.Equal(t, "object", schema.Type)
		switch tool.Name {
		case "time_add_delta":
			require.Contains(t, schema.Properties, "delta")
			require.Equal(t, []string{"delta"}, schema.Required)
		case "echo":
			require.True(t, tool.RequiresApproval, "copied from the server")
		default:
			require.False(t, tool.RequiresApproval)
		}
	}
}

func TestToolsCacheTTL(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, "counted", serverConfig{tools: []server.ServerTool{echoTool()}})
	c := newCatalog(t, []Server{{Name: "counted", URL: ts.url}}, Options{TTL: time.Minute})
	var clock atomic.Int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }

	steps := []struct {
		name      string
		advance   time.Duration
		wantLists int32
	}{
		{name: "first list fetches", wantLists: 1},
		{name: "within the TTL comes from the cache", advance: 30 * time.Second, wantLists: 1},
		{name: "just before the TTL still cached", advance: 29 * time.Second, wantLists: 1},
		{name: "after the TTL fetches again", advance: 2 * time.Second, wantLists: 2},
		{name: "and is cached again", advance: time.Second, wantLists: 2},
	}
	for _, step := range steps {
		advance(step.advance)
		tools, err := c.Tools(t.Context())
		require.NoError(t, err, step.name)
		require.Equal(t, []string{"counted/echo"}, toolNames(tools), step.name)
		require.Equal(t, step.wantLists, ts.lists.Load(), step.name)
	}
}

func TestToolNameClash(t *testing.T) {
	t.Parallel()
	first := newTestServer(t, "first", serverConfig{tools: []server.ServerTool{textTool("shared", "first"), textTool("only_first", "x")}})
	second := newTestServer(t, "second", serverConfig{tools: []server.ServerTool{textTool("shared", "second"), textTool("only_second", "y")}})
	logs := &logRecords{}
	c := NewCatalog([]Server{{Name: "first", URL: first.url}, {Name: "second", URL: second.url}}, Options{Logger: slog.New(logs)})
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	for range 3 {
		tools, err := c.Tools(t.Context())
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"first/shared", "first/only_first", "second/only_second"}, toolNames(tools))
	}
	require.Equal(t, 1, logs.count("clash"), "the clash is logged once")

	res, err := c.Call(t.Context(), "second", "shared", nil, Identity{})
	require.NoError(t, err)
	require.Equal(t, "second", res.Text, "Call addresses a server explicitly")
}

func TestCall(t *testing.T) {
	t.Parallel()
	tools := []server.ServerTool{
		echoTool(),
		{
			Tool: mcp.NewTool("fail", mcp.WithDescription("always fails")),
			Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultError("the widget is broken"), nil
			},
		},
		{
			Tool: mcp.NewTool("picture", mcp.WithDescription("an image and a caption")),
			Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultImage("a red dot", "iVBORw0KGgo=", "image/png"), nil // 8 bytes
			},
		},
		{
			Tool: mcp.NewTool("crash", mcp.WithDescription("fails with a Go error")),
			Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return nil, errors.New("database down")
			},
		},
		{
			Tool: mcp.NewTool("structured", mcp.WithDescription("structured content only")),
			Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{StructuredContent: map[string]any{"answer": 42, "unit": "m"}}, nil
			},
		},
	}
	ts := newTestServer(t, "misc", serverConfig{tools: tools})
	c := newCatalog(t, []Server{{Name: "datetime", URL: newDatetimeServer(t)}, {Name: "misc", URL: ts.url}}, Options{})

	tests := []struct {
		name    string
		server  string
		tool    string
		args    map[string]any
		want    Result
		wantErr error
		// transient: an error that is not ErrRejected, so the caller retries
		transient bool
	}{
		{name: "datetime", server: "datetime", tool: "time_now", args: map[string]any{"timezone": "Europe/Berlin"},
			want: Result{Text: "2026-11-24T22:15:00+01:00 (Tuesday, CET)", Bytes: 40}},
		{name: "arguments arrive", server: "misc", tool: "echo", args: map[string]any{"text": "héllo"},
			want: Result{Text: "héllo", Bytes: 6}},
		{name: "tool error is a result", server: "misc", tool: "fail",
			want: Result{Text: "the widget is broken", IsError: true, Bytes: 20}},
		{name: "datetime bad input is a result", server: "datetime", tool: "time_now", args: map[string]any{"timezone": "Mars/Base"},
			want: Result{IsError: true}},
		{name: "non-text content is summarised", server: "misc", tool: "picture",
			want: Result{Text: "a red dot\n[image/png, 8 bytes]", Bytes: 30}},
		{name: "structured content only is JSON", server: "misc", tool: "structured",
			want: Result{Text: `{"answer":42,"unit":"m"}`, Bytes: 24}},
		{name: "unknown tool is rejected", server: "misc", tool: "nope", wantErr: ErrRejected},
		{name: "handler error may be transient", server: "misc", tool: "crash", transient: true},
		{name: "unknown server", server: "nope", tool: "echo", wantErr: ErrUnknownServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := c.Call(t.Context(), tt.server, tt.tool, tt.args, Identity{})
			if tt.transient {
				require.ErrorContains(t, err, "database down")
				require.NotErrorIs(t, err, ErrRejected)
				return
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.want.Text == "" {
				require.Equal(t, tt.want.IsError, res.IsError)
				require.Contains(t, res.Text, `"timezone"`)
				return
			}
			require.Equal(t, tt.want, res)
		})
	}
}

func TestCallTruncatesLongResults(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 1000) // 2000 bytes
	ts := newTestServer(t, "long", serverConfig{tools: []server.ServerTool{textTool("long", long)}})
	c := newCatalog(t, []Server{{Name: "long", URL: ts.url}}, Options{MaxResultBytes: 101})

	res, err := c.Call(t.Context(), "long", "long", nil, Identity{})
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.Equal(t, 2000, res.Bytes)
	require.LessOrEqual(t, len(res.Text), 101)
	require.True(t, utf8.ValidString(res.Text), "cut on a rune boundary")
	require.True(t, strings.HasPrefix(long, strings.SplitN(res.Text, "\n", 2)[0]))
	require.Contains(t, res.Text, "[truncated: showing")
	require.Contains(t, res.Text, "of 2000 bytes]")
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		max  int
		want string
	}{
		{name: "marker fits", text: strings.Repeat("a", 100), max: 50, want: strings.Repeat("a", 12) + "\n[truncated: showing 12 of 100 bytes]"},
		{name: "too small for the marker", text: strings.Repeat("a", 100), max: 10, want: strings.Repeat("a", 10)},
		{name: "never splits a rune", text: "ééééé", max: 5, want: "éé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := truncate(tt.text, tt.max)
			require.Equal(t, tt.want, got)
			require.LessOrEqual(t, len(got), tt.max)
		})
	}
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	started, stopped := make(chan struct{}, 1), make(chan struct{}, 1)
	ts := newTestServer(t, "slow", serverConfig{tools: []server.ServerTool{blockingTool(started, stopped), echoTool()}})
	c := newCatalog(t, []Server{{Name: "slow", URL: ts.url, Timeout: 200 * time.Millisecond}}, Options{})

	begin := time.Now()
	_, err := c.Call(t.Context(), "slow", "block", nil, Identity{})
	elapsed := time.Since(begin)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "200ms")
	require.Less(t, elapsed, 2*time.Second)
	within(t, started, time.Second, "the tool started")
	within(t, stopped, 2*time.Second, "the server-side handler saw the call end")

	res, err := c.Call(t.Context(), "slow", "echo", map[string]any{"text": "still here"}, Identity{})
	require.NoError(t, err, "a timeout does not break the session")
	require.Equal(t, "still here", res.Text)
}

func TestCallStopsWhenCtxIsCancelled(t *testing.T) {
	t.Parallel()
	started, stopped := make(chan struct{}, 1), make(chan struct{}, 1)
	ts := newTestServer(t, "slow", serverConfig{tools: []server.ServerTool{blockingTool(started, stopped)}})
	c := newCatalog(t, []Server{{Name: "slow", URL: ts.url}}, Options{})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "slow", "block", nil, Identity{})
		done <- err
	}()
	within(t, started, 5*time.Second, "the tool started")
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("Call did not return after its context was cancelled")
	}
	within(t, stopped, 2*time.Second, "the server-side handler saw the cancellation")
}

// TestCallAfterRestartOnSameAddress restarts the datetime server on the same port: the client
// session is stateless (protocol 2026-07-28), so the next call after the restart just works.
func TestCallAfterRestartOnSameAddress(t *testing.T) {
	t.Parallel()
	handler := datetime.Handler(datetime.Options{Now: func() time.Time { return fixedNow }, Logger: quiet})
	first := httptest.NewServer(handler)
	addr := first.Listener.Addr().String()
	c := newCatalog(t, []Server{{Name: "datetime", URL: "http://" + addr + datetime.EndpointPath, Timeout: 2 * time.Second}}, Options{})

	res, err := c.Call(t.Context(), "datetime", "time_now", nil, Identity{})
	require.NoError(t, err)
	require.Equal(t, "2026-11-24T21:15:00Z (Tuesday, UTC)", res.Text)

	first.Close()
	_, err = c.Call(t.Context(), "datetime", "time_now", nil, Identity{})
	require.Error(t, err, "the server is down")
	require.NotErrorIs(t, err, ErrRejected)

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the port is free again")
	second := httptest.NewUnstartedServer(handler)
	second.Listener = ln
	second.Start()
	t.Cleanup(second.Close)

	res, err = c.Call(t.Context(), "datetime", "time_now", nil, Identity{})
	require.NoError(t, err)
	require.Equal(t, "2026-11-24T21:15:00Z (Tuesday, UTC)", res.Text)
}

// restartable is a stateful, pre-2026-07-28 MCP server (sessions in Mcp-Session-Id) that can be
// restarted in place: a new instance that knows none of the old sessions.
type restartable struct {
	mu       sync.Mutex
	current  http.Handler
	restarts int
}

func (r *restartable) restart() {
	s := server.NewMCPServer("stateful", "1")
	s.AddTools(echoTool())
	h := server.NewStreamableHTTPServer(s,
		server.WithStateful(true),
		server.WithStreamableHTTPProtocolVersions(mcp.ProtocolVersion20251125),
		server.WithStreamableHTTPLogger(quiet),
	)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = h
	r.restarts++
}

func (r *restartable) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	h := r.current
	r.mu.Unlock()
	h.ServeHTTP(w, req)
}

func TestCallReconnectsWhenTheServerForgetsTheSession(t *testing.T) {
	t.Parallel()
	rs := &restartable{}
	rs.restart()
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	c := newCatalog(t, []Server{{Name: "stateful", URL: srv.URL + "/mcp"}}, Options{})
	session := func() string {
		cn := c.conns["stateful"]
		cn.mu.Lock()
		defer cn.mu.Unlock()
		require.NotNil(t, cn.cur)
		return cn.cur.c.GetSessionId()
	}

	res, err := c.Call(t.Context(), "stateful", "echo", map[string]any{"text": "one"}, Identity{})
	require.NoError(t, err)
	require.Equal(t, "one", res.Text)
	before := session()
	require.NotEmpty(t, before, "a legacy server hands out a session")

	rs.restart()
	res, err = c.Call(t.Context(), "stateful", "echo", map[string]any{"text": "two"}, Identity{})
	require.NoError(t, err, "the 404 for the forgotten session leads to a new session")
	require.Equal(t, "two", res.Text)
	require.NotEqual(t, before, session())
}

func TestPing(t *testing.T) {
	t.Parallel()
	c := newCatalog(t, []Server{
		{Name: "datetime", URL: newDatetimeServer(t)},
		{Name: "down", URL: unreachableURL(t)},
	}, Options{})
	tests := []struct {
		name    string
		server  string
		wantErr bool
	}{
		{name: "up", server: "datetime"},
		{name: "down", server: "down", wantErr: true},
		{name: "unknown", server: "nope", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.Ping(t.Context(), tt.server)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestServersAppliesDefaults(t *testing.T) {
	t.Parallel()
	c := newCatalog(t, []Server{
		{Name: "a", URL: "http://a/mcp"},
		{Name: "b", URL: "http://b/mcp", Timeout: time.Second},
		{Name: "a", URL: "http://duplicate/mcp"},
	}, Options{})
	require.Equal(t, []Server{
		{Name: "a", URL: "http://a/mcp", Timeout: 30 * time.Second},
		{Name: "b", URL: "http://b/mcp", Timeout: time.Second},
	}, c.Servers())
}

func TestClosedCatalog(t *testing.T) {
	t.Parallel()
	c := NewCatalog([]Server{{Name: "datetime", URL: newDatetimeServer(t)}}, Options{Logger: quiet})
	_, err := c.Call(t.Context(), "datetime", "time_now", nil, Identity{})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.Call(t.Context(), "datetime", "time_now", nil, Identity{})
	require.ErrorIs(t, err, ErrClosed)
	_, err = c.Tools(t.Context())
	require.True(t, errors.Is(err, ErrClosed))
}
