// Package semantic is the built-in semantic search MCP server: its knowledge_search tool returns
// the passages of the caller's documents (and their groups') nearest to a query. The caller comes
// from the identity the worker signs; the model cannot choose whose documents it searches.
package semantic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/youworker/youworker/knowledge"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/mcpservers/caller"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// Name is the server's name.
const Name = "semantic"

// Deps are what the server needs.
type Deps struct {
	Searcher     *knowledge.Searcher
	Store        *store.Store
	IdentityKeys [][]byte // verify the identity header; a rotation has two
	Logger       *slog.Logger
	// AllowedOrigins are the browser origins allowed to call the server (mcpservers.CheckOrigin).
	AllowedOrigins []string
}

// NewServer returns the MCP server with the knowledge_search tool.
func NewServer(d Deps) *server.MCPServer {
	s := mcpservers.NewServer(Name, "Search the user's documents. Use knowledge_search before answering questions about their files, notes or pages.", d.Logger)
	s.AddTool(mcp.NewTool("knowledge_search",
		mcp.WithDescription("Find the passages of the user's documents most relevant to a query. Returns ranked passages with "+
			"the document title, page and section, for citing."),
		mcp.WithString("query", mcp.Required(), mcp.Description("what to look for, in natural language"), mcp.MaxLength(maxQueryLen)),
		mcp.WithNumber("top_k", mcp.Description(fmt.Sprintf("how many passages (1-%d, default %d)", maxTopK, defaultTopK)),
			mcp.Min(1), mcp.Max(maxTopK)),
		mcp.WithArray("document_ids", mcp.Description("only search these documents (ids)"), mcp.WithStringItems(),
			mcp.MaxItems(maxDocumentIDs)),
		// It only reads the platform's own store (closed world), so it runs without approval; its
		// output is the documents' text, written by whoever wrote them: untrusted (no TrustedOutput).
		mcp.WithToolAnnotation(mcp.ToolAnnotation{ReadOnlyHint: mcp.ToBoolPtr(true), DestructiveHint: mcp.ToBoolPtr(false),
			IdempotentHint: mcp.ToBoolPtr(true), OpenWorldHint: mcp.ToBoolPtr(false)}),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return search(ctx, d, req)
	})
	return s
}

// Bounds of knowledge_search's arguments.
const (
	maxQueryLen    = knowledge.MaxQueryChars
	defaultTopK    = 5
	maxTopK        = 20
	maxDocumentIDs = knowledge.MaxDocumentIDs
)

func search(ctx context.Context, d Deps, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	query, err := mcpservers.StringArg(req, "query", true, maxQueryLen)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	topK, err := mcpservers.IntArg(req, "top_k", defaultTopK, 1, maxTopK)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	docs, err := mcpservers.UUIDsArg(req, "document_ids", "document", maxDocumentIDs)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	c, err := caller.From(ctx, d.Store)
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	// In a group session the passages go to every member: only the group's documents are searched.
	res, err := d.Searcher.Search(ctx, c, knowledge.Request{Query: query, TopK: topK, DocumentIDs: docs, GroupID: caller.Scope(ctx)})
	if errors.Is(err, models.ErrNotFound) {
		return mcp.NewToolResultError("you are no longer a member of this session's group"), nil
	}
	if err != nil {
		d.Logger.WarnContext(ctx, "knowledge search failed", "error", err)
		return mcp.NewToolResultError("the search failed; try again later"), nil
	}
	if res == nil {
		res = []knowledge.Result{}
	}
	return mcp.NewToolResultStructured(map[string]any{"results": res}, knowledge.Passages(res)), nil
}

// Handler serves the server at /mcp behind the identity check.
func Handler(d Deps) http.Handler {
	return toolbox.IdentityMiddleware(d.IdentityKeys, mcpservers.Mount(NewServer(d), d.Logger, d.AllowedOrigins...))
}
