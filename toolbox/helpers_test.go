package toolbox

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers/datetime"
)

var quiet = slog.New(slog.DiscardHandler)

// fixedNow pins the datetime server's clock.
var fixedNow = time.Date(2026, 11, 24, 21, 15, 0, 0, time.UTC)

// testServer is an mcp-go server over streamable HTTP on a loopback port.
type testServer struct {
	srv   *httptest.Server
	url   string       // the MCP endpoint
	lists atomic.Int32 // tools/list requests served
}

type serverConfig struct {
	httpOpts []server.StreamableHTTPOption
	wrap     func(http.Handler) http.Handler // middleware around the MCP handler
	tools    []server.ServerTool
}

func newTestServer(t *testing.T, name string, cfg serverConfig) *testServer {
	t.Helper()
	ts := &testServer{}
	hooks := &server.Hooks{}
	hooks.AddBeforeListTools(func(context.Context, any, *mcp.ListToolsRequest) { ts.lists.Add(1) })
	s := server.NewMCPServer(name, "1", server.WithHooks(hooks), server.WithToolCapabilities(false))
	s.AddTools(cfg.tools...)
	var h http.Handler = server.NewStreamableHTTPServer(s, append([]server.StreamableHTTPOption{
		server.WithStreamableHTTPLogger(quiet),
	}, cfg.httpOpts...)...)
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	ts.srv = httptest.NewServer(h)
	ts.url = ts.srv.URL + "/mcp"
	t.Cleanup(ts.srv.Close)
	return ts
}

// newDatetimeServer serves the real datetime server and returns its endpoint URL.
func newDatetimeServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(datetime.Handler(datetime.Options{Now: func() time.Time { return fixedNow }, Logger: quiet}))
	t.Cleanup(srv.Close)
	return srv.URL + datetime.EndpointPath
}

// unreachableURL is an endpoint on a port nothing listens on.
func unreachableURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/mcp"
}

func newCatalog(t *testing.T, servers []Server, opts Options) *Catalog {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	c := NewCatalog(servers, opts)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func textTool(name, text string) server.ServerTool {
	return server.ServerTool{
		Tool: mcp.NewTool(name, mcp.WithDescription("returns "+text)),
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(text), nil
		},
	}
}

func echoTool() server.ServerTool {
	return server.ServerTool{
		Tool: mcp.NewTool("echo", mcp.WithDescription("echoes text"), mcp.WithString("text", mcp.Required())),
		Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("text", "")), nil
		},
	}
}

// blockingTool blocks until its context ends, reporting when it starts and when it was stopped.
func blockingTool(started, stopped chan<- struct{}) server.ServerTool {
	return server.ServerTool{
		Tool: mcp.NewTool("block", mcp.WithDescription("never answers")),
		Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			started <- struct{}{}
			select {
			case <-ctx.Done():
				stopped <- struct{}{}
				return nil, ctx.Err()
			case <-time.After(time.Minute):
				return mcp.NewToolResultText("too late"), nil
			}
		},
	}
}

// logRecords collects log messages.
type logRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func (l *logRecords) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// within fails the test unless ch delivers within d.
func within(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: nothing within %s", what, d)
	}
}
