// Package datetime is the built-in datetime MCP server: it tells the model what time it is and
// does the date arithmetic models get wrong (time zones, calendar months, durations).
//
// It speaks MCP over streamable HTTP at EndpointPath ("/mcp"), keeps no session state (any
// replica can answer any request, and a restart is invisible to clients) and never streams
// notifications, so GET on the endpoint answers 405.
package datetime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"

	// Time zone data is embedded so that zones resolve in minimal containers without
	// /usr/share/zoneinfo (about 450 KB).
	_ "time/tzdata"
)

// EndpointPath is the only path Handler serves. A client's URL is the server's base URL plus
// this path, e.g. http://127.0.0.1:8091/mcp.
const EndpointPath = "/mcp"

// Name is the MCP server name the datetime server announces.
const Name = "datetime"

// maxRequestBytes bounds a request body. A larger one is answered with a JSON-RPC parse error
// (a protocol error, not a tool error result).
const maxRequestBytes = 64 << 10

// shutdownTimeout bounds how long ListenAndServe waits for in-flight requests once ctx ends.
const shutdownTimeout = 10 * time.Second

// Options configures the datetime server.
type Options struct {
	// Now returns the current time; default time.Now. Tests pin it.
	Now func() time.Time
	// Logger receives one line per request and per tool call; default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// NewServer returns the MCP server named "datetime" with the tools time_now, time_format and
// time_add_delta. Bad arguments produce tool error results (IsError) naming the argument, never
// protocol errors.
func NewServer(opts Options) *server.MCPServer {
	opts = opts.withDefaults()
	s := server.NewMCPServer(Name, "1",
		server.WithToolCapabilities(false),
		server.WithRecovery(),
		server.WithLogger(opts.Logger),
		server.WithInstructions("Current time, time zone conversion, formatting and date arithmetic. "+
			"Call time_now before answering anything that depends on today's date or the current time."),
	)
	t := tools{now: opts.Now}
	s.AddTool(timeNowTool(), t.timeNow)
	s.AddTool(timeFormatTool(), t.timeFormat)
	s.AddTool(timeAddDeltaTool(), t.timeAddDelta)
	return s
}

// Handler serves the datetime MCP server over streamable HTTP at exactly EndpointPath ("/mcp");
// every other path answers 404. Request bodies are capped at 64 KiB. (mcp-go's StreamableHTTPServer used as an http.Handler answers on
// any path: its WithEndpointPath only applies to its own Start, so the path is enforced here.)
func Handler(opts Options) http.Handler {
	opts = opts.withDefaults()
	mcpHTTP := server.NewStreamableHTTPServer(NewServer(opts),
		server.WithStateLess(true),
		server.WithDisableStreaming(true),
		server.WithStreamableHTTPLogger(opts.Logger),
	)
	mux := http.NewServeMux()
	// mcp-go reads whole request bodies; the tools' arguments are a few hundred bytes.
	mux.Handle(EndpointPath, http.MaxBytesHandler(mcpHTTP, maxRequestBytes))
	return mux
}

// ListenAndServe serves Handler on addr until ctx ends, then shuts down gracefully, letting
// in-flight calls finish for up to 10s. It returns nil after a graceful shutdown.
func ListenAndServe(ctx context.Context, addr string, opts Options) error {
	opts = opts.withDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("datetime: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           Handler(opts),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	opts.Logger.InfoContext(ctx, "datetime MCP server listening", "addr", ln.Addr().String(), "path", EndpointPath)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("datetime: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("datetime: serve: %w", serveErr)
	}
	if err != nil {
		return fmt.Errorf("datetime: shutdown: %w", err)
	}
	opts.Logger.InfoContext(ctx, "datetime MCP server stopped")
	return nil
}
