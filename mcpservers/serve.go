// Package mcpservers holds the built-in MCP tool servers (datetime, semantic, ingest, web) and
// what they share: mounting an mcp-go server on streamable HTTP at /mcp and serving it.
package mcpservers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/telemetry"
)

// EndpointPath is where every built-in server answers.
const EndpointPath = "/mcp"

// MaxRequestBytes caps a request body; tool arguments are small.
const MaxRequestBytes = 64 << 10

// NewServer returns an mcp-go server with what every built-in server shares: a fixed tool list,
// a panicking tool turned into an error result, the logger, a span per tool call when tracing is
// on, and instructions ("" for none) for the model.
func NewServer(name, instructions string, log *slog.Logger) *server.MCPServer {
	opts := []server.ServerOption{server.WithToolCapabilities(false), server.WithRecovery(), server.WithLogger(log)}
	if telemetry.Enabled() {
		opts = append(opts, server.WithToolHandlerMiddleware(traceTool(name)))
	}
	if instructions != "" {
		opts = append(opts, server.WithInstructions(instructions))
	}
	return server.NewMCPServer(name, "1", opts...)
}

// TrustedOutput declares a tool's output the platform's own (models.TrustedOutputMeta): nothing
// from outside the platform reaches the model through it, so reading it does not taint a
// conversation. Only for tools that compute their answer (the clock), never for one that returns
// documents, pages or anything a person other than the user wrote.
func TrustedOutput() mcp.ToolOption {
	return func(t *mcp.Tool) {
		if t.Meta == nil {
			t.Meta = &mcp.Meta{}
		}
		if t.Meta.AdditionalFields == nil {
			t.Meta.AdditionalFields = map[string]any{}
		}
		t.Meta.AdditionalFields[models.TrustedOutputMeta] = true
	}
}

// Mount serves srv over stateless streamable HTTP at exactly EndpointPath; every other path is a
// 404. (mcp-go's handler answers on any path: WithEndpointPath only applies to its own Start.)
// Requests from a browser origin other than allowedOrigins are refused (see CheckOrigin). When
// tracing is on, a request that carries a traceparent is a server span continuing the caller's
// trace; one without (a probe) is not traced.
func Mount(srv *server.MCPServer, log *slog.Logger, allowedOrigins ...string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(EndpointPath, http.MaxBytesHandler(Streamable(srv, log), MaxRequestBytes))
	return telemetry.Handler(CheckOrigin(allowedOrigins, mux), EndpointPath)
}

// traceTool wraps every tool of server name in a span "tools/call TOOL", the child of the
// request's span, marked as failed when the tool fails or answers with an error result.
func traceTool(name string) server.ToolHandlerMiddleware {
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ctx, span := telemetry.Tracer().Start(ctx, "tools/call "+req.Params.Name, trace.WithAttributes(
				attribute.String("mcp.method.name", "tools/call"), attribute.String("gen_ai.tool.name", req.Params.Name),
				attribute.String("youworker.mcp.server", name)))
			defer span.End()
			res, err := next(ctx, req)
			switch {
			case err != nil:
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			case res != nil && res.IsError:
				span.SetAttributes(attribute.String("error.type", "tool_error"))
				span.SetStatus(codes.Error, "the tool answered with an error")
			}
			return res, err
		}
	}
}

// Streamable is srv's streamable HTTP handler as every YouWorker MCP endpoint serves it: stateless
// (each POST stands alone, so any process of a deployment can answer it), answering with JSON
// rather than a stream. extra adds options of the endpoint's own.
func Streamable(srv *server.MCPServer, log *slog.Logger, extra ...server.StreamableHTTPOption) *server.StreamableHTTPServer {
	opts := append([]server.StreamableHTTPOption{
		server.WithStateLess(true),
		server.WithDisableStreaming(true),
		server.WithStreamableHTTPLogger(log),
	}, extra...)
	return server.NewStreamableHTTPServer(srv, opts...)
}

// CheckOrigin answers 403 to a request whose Origin header is not one of allowed (see Origins),
// as the MCP streamable HTTP transport requires: otherwise a web page the user visits could reach
// a server on their machine or network by DNS rebinding.
func CheckOrigin(allowed []string, next http.Handler) http.Handler {
	origins := NewOrigins(allowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !origins.Allow(r) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Origins are the browser origins (exact scheme://host[:port], compared case-insensitively)
// allowed to call an MCP endpoint.
type Origins map[string]bool

// NewOrigins returns the set of allowed origins.
func NewOrigins(allowed []string) Origins {
	ok := make(Origins, len(allowed))
	for _, o := range allowed {
		ok[normalOrigin(o)] = true
	}
	return ok
}

// Allow reports whether r may be served: it carries no Origin header, or exactly one that is
// allowed. A request without Origin passes: browsers always send one with a POST, and the worker
// and other server-side clients send none. Same-origin requests get no exemption, since a rebound
// name makes the attacker's page same-origin with the server.
func (o Origins) Allow(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	return len(origins) == 0 || (len(origins) == 1 && o[normalOrigin(origins[0])])
}

func normalOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}

// ListenAndServe serves h on addr until ctx ends, then shuts down, letting in-flight calls finish
// for up to 10 s.
func ListenAndServe(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	log.InfoContext(ctx, "MCP server listening", "server", name, "addr", ln.Addr().String(), "path", EndpointPath)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: serve: %w", name, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("%s: serve: %w", name, serveErr)
	}
	return err
}
