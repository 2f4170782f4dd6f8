// Package ingest is the built-in ingest MCP server: its ingest_url tool starts a durable ingestion
// of a web page or file for the calling user (identity signed by the worker) and returns the run id.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/mcpservers/caller"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// Name is the server's name.
const Name = "ingest"

// Deps are what the server needs.
type Deps struct {
	Intake       *intake.Service
	Store        *store.Store
	IdentityKeys [][]byte // verify the identity header; a rotation has two
	Logger       *slog.Logger
	// AllowedOrigins are the browser origins allowed to call the server (mcpservers.CheckOrigin).
	AllowedOrigins []string
}

// NewServer returns the MCP server with the ingest_url tool.
func NewServer(d Deps) *server.MCPServer {
	s := mcpservers.NewServer(Name, "", d.Logger)
	s.AddTool(mcp.NewTool("ingest_url",
		mcp.WithDescription("Add a web page or file at a public http(s) URL to the user's documents so that it can be searched. "+
			"Ingestion runs in the background; returns the ingestion run id."),
		mcp.WithString("url", mcp.Required(), mcp.Description("the http(s) URL to ingest"), mcp.MaxLength(maxURLLen)),
		mcp.WithString("title", mcp.Description("a title for the document"), mcp.MaxLength(maxTitleLen)),
		mcp.WithString("group_id", mcp.Description("share the document with this group of the user")),
		// It fetches from the open web and writes a document: outbound, so it waits for the user's
		// approval unless the operator auto-approves it. A retried call with the same idempotency
		// key starts nothing new.
		mcp.WithToolAnnotation(mcp.ToolAnnotation{ReadOnlyHint: mcp.ToBoolPtr(false), DestructiveHint: mcp.ToBoolPtr(false),
			IdempotentHint: mcp.ToBoolPtr(true), OpenWorldHint: mcp.ToBoolPtr(true)}),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return ingestURL(ctx, d, req)
	})
	return s
}

// Bounds of ingest_url's arguments.
const (
	maxURLLen   = 2048
	maxTitleLen = 500
)

func ingestURL(ctx context.Context, d Deps, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	raw, err := mcpservers.StringArg(req, "url", true, maxURLLen)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	var meta intake.Meta
	if meta.Title, err = mcpservers.StringArg(req, "title", false, maxTitleLen); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if meta.GroupID, err = mcpservers.UUIDArg(req, "group_id", "group", false); err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	c, err := caller.From(ctx, d.Store)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	// A retried call (the worker died after sending it) carries the same key: the run it started
	// is returned instead of a second one.
	if key := toolbox.IdempotencyKeyFrom(req); key != "" {
		meta.IdempotencyKey = &key
	}
	doc, run, _, err := d.Intake.URL(ctx, c, raw, meta)
	if err != nil {
		var de *models.Error
		if errors.As(err, &de) && !errors.Is(err, models.ErrUnavailable) {
			return mcp.NewToolResultError(de.Message), nil
		}
		d.Logger.WarnContext(ctx, "ingest_url failed", "error", err)
		return mcp.NewToolResultError("the ingestion could not be started; try again later"), nil
	}
	return mcp.NewToolResultStructured(map[string]any{"ingestion_run_id": run.ID, "document_id": doc.ID, "status": run.Status},
		fmt.Sprintf("Started ingesting %s: ingestion run %s, document %s.", raw, run.ID, doc.ID)), nil
}

// Handler serves the server at /mcp behind the identity check.
func Handler(d Deps) http.Handler {
	return toolbox.IdentityMiddleware(d.IdentityKeys, mcpservers.Mount(NewServer(d), d.Logger, d.AllowedOrigins...))
}
