// Package datetime is the built-in datetime MCP server: it tells the model what time it is and
// does the date arithmetic models get wrong (time zones, calendar months, durations).
//
// It speaks MCP over streamable HTTP at EndpointPath ("/mcp"), keeps no session state (any
// replica can answer any request, and a restart is invisible to clients) and never streams
// notifications, so GET on the endpoint answers 405.
package datetime

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/youworker/youworker/mcpservers"

	// Time zone data is embedded so that zones resolve in minimal containers without
	// /usr/share/zoneinfo (about 450 KB).
	_ "time/tzdata"
)

// EndpointPath is the only path Handler serves. A client's URL is the server's base URL plus
// this path, e.g. http://127.0.0.1:8091/mcp.
const EndpointPath = mcpservers.EndpointPath

// Name is the MCP server name the datetime server announces.
const Name = "datetime"

// Options configures the datetime server.
type Options struct {
	// Now returns the current time; default time.Now. Tests pin it.
	Now func() time.Time
	// Logger receives one line per request and per tool call; default slog.Default().
	Logger *slog.Logger
	// AllowedOrigins are the browser origins allowed to call the server (mcpservers.CheckOrigin).
	AllowedOrigins []string
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
	s := mcpservers.NewServer(Name, "Current time, time zone conversion, formatting and date arithmetic. "+
		"Call time_now before answering anything that depends on today's date or the current time.", opts.Logger)
	t := tools{now: opts.Now}
	s.AddTool(timeNowTool(), t.timeNow)
	s.AddTool(timeFormatTool(), t.timeFormat)
	s.AddTool(timeAddDeltaTool(), t.timeAddDelta)
	return s
}

// Handler serves the datetime MCP server over streamable HTTP at exactly EndpointPath ("/mcp").
func Handler(opts Options) http.Handler {
	opts = opts.withDefaults()
	return mcpservers.Mount(NewServer(opts), opts.Logger, opts.AllowedOrigins...)
}

// ListenAndServe serves Handler on addr until ctx ends, then shuts down gracefully.
func ListenAndServe(ctx context.Context, addr string, opts Options) error {
	opts = opts.withDefaults()
	return mcpservers.ListenAndServe(ctx, Name, addr, Handler(opts), opts.Logger)
}
