package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/knowledge"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// The API's MCP endpoint (POST /mcp, streamable HTTP, stateless) offers outside agents the
// caller's knowledge as tools: search, list and read documents, ingest URLs and texts, follow
// runs. A request is authenticated and checked like every other (the request path in
// docs/architecture.md); each tool then answers exactly what the route doing the same would: it
// needs that route's scopes (routeRules), counts against its rate limit class, and calls the same
// store scope or service. Nothing here is a second implementation of a route.

// mcpName is the server name the endpoint gives in its MCP initialize answer.
const mcpName = "youworker"

const mcpInstructions = "These tools reach the YouWorker documents of the account whose API key or token " +
	"authenticated this connection, and those of its groups. Use knowledge_search before answering questions " +
	"about them; cite the document title and id. ingest_url and ingest_text add documents; ingestion runs in the " +
	"background: follow it with ingestion_status until its status is completed (or failed, or cancelled)."

// mcpCallerKey carries the request's caller from serveMCP to the tools.
type mcpCallerKey struct{}

// mcpTool is one tool of the endpoint. route is the REST route doing the same ("METHOD /path", a
// key of routeRules): the tool needs its scopes. rate is its rate limit class, nil when the route
// has none. run returns the structured result and its text for clients that read only text.
type mcpTool struct {
	tool  mcp.Tool
	route string
	rate  func() rateClass
	run   func(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error)
}

// newMCP builds the endpoint's MCP server and its streamable HTTP handler. mcp-go's own DNS
// rebinding guard (it refuses a loopback connection whose Host is not localhost) is off: the API
// is reached through proxies that keep the public Host, and mcpOrigin checks Origin instead.
func (s *Server) newMCP() *server.StreamableHTTPServer {
	srv := mcpservers.NewServer(mcpName, mcpInstructions, s.log)
	for _, t := range s.mcpTools() {
		srv.AddTool(t.tool, s.mcpHandler(t))
	}
	return mcpservers.Streamable(srv, s.log, server.WithDisableLocalhostProtection(true))
}

// mcpOrigin refuses a request from a browser origin not in MCP_ALLOWED_ORIGINS, as the MCP
// transport requires (DNS rebinding): the same rule as the built-in servers (mcpservers.Origins).
// A request without Origin (every non-browser client) passes; the API's own origin gets no
// exemption.
func (s *Server) mcpOrigin(c *gin.Context) {
	if !s.mcpOrigins.Allow(c.Request) {
		s.fail(c, models.Errorf(models.ErrForbidden, "ORIGIN_NOT_ALLOWED",
			"this origin may not call the MCP endpoint (MCP_ALLOWED_ORIGINS)"))
		return
	}
	c.Next()
}

// serveMCP hands an authenticated request to the MCP server, its caller in the context.
func (s *Server) serveMCP(c *gin.Context) {
	ctx := context.WithValue(c.Request.Context(), mcpCallerKey{}, callerOf(c))
	s.mcp.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
}

// mcpHandler runs a tool for the request's caller: the scopes of its route, its rate limit, then
// the tool. Every failure is a tool error result (see toolError), never a protocol error.
func (s *Server) mcpHandler(t mcpTool) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		caller, ok := ctx.Value(mcpCallerKey{}).(models.Caller)
		if !ok { // only serveMCP calls the server, behind requireCaller
			return s.toolError(ctx, t.tool.Name, unauthenticated("UNAUTHENTICATED", "authentication required")), nil
		}
		if err := s.permit(caller, t.route); err != nil {
			return s.toolError(ctx, t.tool.Name, err), nil
		}
		if t.rate != nil {
			if _, err := s.spend(t.rate(), userRateKey(caller)); err != nil {
				return s.toolError(ctx, t.tool.Name, err), nil
			}
		}
		out, text, err := t.run(ctx, caller, req)
		if err != nil {
			return s.toolError(ctx, t.tool.Name, err), nil
		}
		return mcp.NewToolResultStructured(out, text), nil
	}
}

// toolError is err as a tool error result: its text is what the route would say (an unknown
// error is "internal error", logged with the request id), naming the argument at fault; its
// structured content is the API's error object.
func (s *Server) toolError(ctx context.Context, tool string, err error) *mcp.CallToolResult {
	_, d := s.describe(ctx, err, "mcp tool "+tool)
	text := d.Message
	if field, ok := d.Details["field"].(string); ok && !strings.Contains(text, fmt.Sprintf("%q", field)) {
		text = fmt.Sprintf("invalid argument %q: %s", field, text)
	}
	res := mcp.NewToolResultStructured(map[string]any{"error": d}, text)
	res.IsError = true
	return res
}

// badArg is an argument error of mcpservers' helpers (its message names the argument) as a
// validation error.
func badArg(err error) error {
	return models.Errorf(models.ErrInvalid, "VALIDATION_ERROR", "%s", err.Error())
}

// Bounds of the tools' arguments that are not limits of the services they call. Lengths given in
// characters by the services are checked there; here only their byte bound (4 bytes a character).
const (
	mcpDefaultTopK = 5
	maxURLChars    = 2048 // as POST /v1/ingest's url
	maxCursorBytes = 512
)

func (s *Server) mcpTools() []mcpTool {
	maxResults := s.cfg.MCPMaxResults
	readOnly := mcp.WithToolAnnotation(mcp.ToolAnnotation{ReadOnlyHint: mcp.ToBoolPtr(true), DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint: mcp.ToBoolPtr(true), OpenWorldHint: mcp.ToBoolPtr(false)})
	return []mcpTool{
		{
			tool: mcp.NewTool("knowledge_search",
				mcp.WithDescription("Find the passages of the user's documents (their own and their groups') most relevant to a query. "+
					"Returns ranked passages with the document id and title, page and section, for citing."),
				mcp.WithString("query", mcp.Required(), mcp.Description("what to look for, in natural language"),
					mcp.MaxLength(knowledge.MaxQueryChars)),
				mcp.WithNumber("top_k", mcp.Description(fmt.Sprintf("how many passages (1-%d, default %d)", maxResults, min(mcpDefaultTopK, maxResults))),
					mcp.Min(1), mcp.Max(float64(maxResults))),
				mcp.WithArray("document_ids", mcp.Description("only search these documents (ids)"), mcp.WithStringItems(),
					mcp.MaxItems(knowledge.MaxDocumentIDs)),
				mcp.WithString("group_id", mcp.Description("only search the documents shared with this group (id)")),
				readOnly),
			route: "POST /v1/search",
			rate:  s.searchRate,
			run:   s.mcpSearch,
		},
		{
			tool: mcp.NewTool("list_documents",
				mcp.WithDescription("List the user's documents (their own and their groups'), newest first, with id, title, status "+
					"and size. Pass next_cursor back as cursor for the next page."),
				mcp.WithNumber("limit", mcp.Description(fmt.Sprintf("documents per page (1-%d, default %d)", maxResults, maxResults)),
					mcp.Min(1), mcp.Max(float64(maxResults))),
				mcp.WithString("cursor", mcp.Description("next_cursor of the previous page")),
				readOnly),
			route: "GET /v1/documents",
			run:   s.mcpListDocuments,
		},
		{
			tool: mcp.NewTool("get_document",
				mcp.WithDescription("Describe one of the user's documents: title, status, source, type, size, tags, group, chunk count."),
				mcp.WithString("document_id", mcp.Required(), mcp.Description("the document's id")),
				readOnly),
			route: "GET /v1/documents/:id",
			run:   s.mcpGetDocument,
		},
		{
			tool: mcp.NewTool("ingest_url",
				mcp.WithDescription("Add the web page or file at a public http(s) URL to the user's documents, so that it can be "+
					"searched. Ingestion runs in the background: returns the ingestion run id for ingestion_status."),
				mcp.WithString("url", mcp.Required(), mcp.Description("the http(s) URL to ingest"), mcp.MaxLength(maxURLChars)),
				ingestArgs(),
				mcp.WithToolAnnotation(mcp.ToolAnnotation{ReadOnlyHint: mcp.ToBoolPtr(false), DestructiveHint: mcp.ToBoolPtr(false),
					IdempotentHint: mcp.ToBoolPtr(false), OpenWorldHint: mcp.ToBoolPtr(true)})),
			route: "POST /v1/ingest",
			rate:  s.ingestRate,
			run:   s.mcpIngestURL,
		},
		{
			tool: mcp.NewTool("ingest_text",
				mcp.WithDescription("Add a text (plain or Markdown) to the user's documents, so that it can be searched. Ingestion "+
					"runs in the background: returns the ingestion run id for ingestion_status."),
				mcp.WithString("text", mcp.Required(), mcp.Description(fmt.Sprintf("the text, at most %d bytes", s.cfg.MCPTextLimit())),
					mcp.MaxLength(int(s.cfg.MCPTextLimit()))),
				ingestArgs(),
				mcp.WithToolAnnotation(mcp.ToolAnnotation{ReadOnlyHint: mcp.ToBoolPtr(false), DestructiveHint: mcp.ToBoolPtr(false),
					IdempotentHint: mcp.ToBoolPtr(false), OpenWorldHint: mcp.ToBoolPtr(false)})),
			route: "POST /v1/ingest",
			rate:  s.ingestRate,
			run:   s.mcpIngestText,
		},
		{
			tool: mcp.NewTool("ingestion_status",
				mcp.WithDescription("The state of an ingestion run: status (queued, running, completed, failed, cancelled), stage, "+
					"chunks done of total, and the error of a failed run."),
				mcp.WithString("ingestion_run_id", mcp.Required(), mcp.Description("the run id ingest_url or ingest_text returned")),
				readOnly),
			route: "GET /v1/ingestion-runs/:id",
			run:   s.mcpIngestionStatus,
		},
	}
}

// ingestArgs are the optional arguments of both ingest tools, as POST /v1/ingest takes them.
func ingestArgs() mcp.ToolOption {
	return func(t *mcp.Tool) {
		for _, opt := range []mcp.ToolOption{
			mcp.WithString("title", mcp.Description("a title for the document"), mcp.MaxLength(intake.MaxTitleChars)),
			mcp.WithArray("tags", mcp.Description(fmt.Sprintf("up to %d tags", intake.MaxTags)), mcp.WithStringItems()),
			mcp.WithString("group_id", mcp.Description("share the document with this group of the user (id)")),
			mcp.WithString("idempotency_key", mcp.Description("a key of your choosing: calling again with the same key and "+
				"arguments returns the first call's run instead of starting another"), mcp.MaxLength(maxIdempotencyKey)),
		} {
			opt(t)
		}
	}
}

func (s *Server) mcpSearch(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error) {
	var (
		q   knowledge.Request
		err error
	)
	if q.Query, err = mcpservers.StringArg(req, "query", true, 4*knowledge.MaxQueryChars); err != nil {
		return nil, "", badArg(err)
	}
	if q.TopK, err = mcpservers.IntArg(req, "top_k", min(mcpDefaultTopK, s.cfg.MCPMaxResults), 1, s.cfg.MCPMaxResults); err != nil {
		return nil, "", badArg(err)
	}
	if q.DocumentIDs, err = mcpservers.UUIDsArg(req, "document_ids", "document", knowledge.MaxDocumentIDs); err != nil {
		return nil, "", badArg(err)
	}
	if q.GroupID, err = mcpservers.UUIDArg(req, "group_id", "group", false); err != nil {
		return nil, "", badArg(err)
	}
	res, err := s.searchKnowledge(ctx, c, q)
	if err != nil {
		return nil, "", err
	}
	return map[string]any{"results": res}, knowledge.Passages(res), nil
}

func (s *Server) mcpListDocuments(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error) {
	limit, err := mcpservers.IntArg(req, "limit", s.cfg.MCPMaxResults, 1, s.cfg.MCPMaxResults)
	if err != nil {
		return nil, "", badArg(err)
	}
	page := store.Page{Limit: limit}
	cursor, err := mcpservers.StringArg(req, "cursor", false, maxCursorBytes)
	if err != nil {
		return nil, "", badArg(err)
	}
	if cursor != "" {
		if page.After, err = store.DecodeCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	out, err := s.documentPage(ctx, c, page)
	if err != nil {
		return nil, "", err
	}
	if len(out.Items) == 0 {
		return out, "No documents.", nil
	}
	var b strings.Builder
	for _, d := range out.Items {
		fmt.Fprintf(&b, "- %s\n", documentLine(d))
	}
	if out.NextCursor != nil {
		fmt.Fprintf(&b, "More: call list_documents with cursor %q.", *out.NextCursor)
	}
	return out, strings.TrimSpace(b.String()), nil
}

// documentLine is a document in one line of text.
func documentLine(d documentJSON) string {
	title := d.Title
	if title == "" {
		title = "(untitled)"
	}
	return fmt.Sprintf("%s (document %s): %s, %s, %d bytes, %d chunks", title, d.ID, d.Status, d.ContentType, d.SizeBytes, d.ChunkCount)
}

func (s *Server) mcpGetDocument(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error) {
	id, err := mcpservers.UUIDArg(req, "document_id", "document", true)
	if err != nil {
		return nil, "", badArg(err)
	}
	d, err := s.store.Document(ctx, c, *id)
	if err != nil {
		return nil, "", err
	}
	out := toDocumentJSON(c, d)
	text := documentLine(out)
	if out.SourceURL != "" {
		text += ", from " + out.SourceURL
	}
	if out.Error != "" {
		text += "; error: " + out.Error
	}
	return out, text, nil
}

// ingestMeta reads the optional arguments of the ingest tools; intake checks their bounds.
func ingestMeta(req mcp.CallToolRequest) (intake.Meta, error) {
	var (
		meta intake.Meta
		err  error
	)
	if meta.Title, err = mcpservers.StringArg(req, "title", false, 4*intake.MaxTitleChars); err != nil {
		return meta, badArg(err)
	}
	if meta.GroupID, err = mcpservers.UUIDArg(req, "group_id", "group", false); err != nil {
		return meta, badArg(err)
	}
	if v, ok := req.GetArguments()["tags"]; ok && v != nil {
		list, ok := v.([]any)
		raw := make([]string, len(list))
		for i, item := range list {
			if raw[i], ok = item.(string); !ok {
				break
			}
		}
		if !ok {
			return meta, badArg(mcpservers.ArgError("tags", "must be a list of strings"))
		}
		if meta.Tags, err = intake.ParseTags(raw); err != nil {
			return meta, err
		}
	}
	key, err := mcpservers.StringArg(req, "idempotency_key", false, maxIdempotencyKey)
	if err != nil {
		return meta, badArg(err)
	}
	if key != "" {
		meta.IdempotencyKey = &key
	}
	return meta, nil
}

func (s *Server) mcpIngestURL(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error) {
	raw, err := mcpservers.StringArg(req, "url", true, maxURLChars)
	if err != nil {
		return nil, "", badArg(err)
	}
	meta, err := ingestMeta(req)
	if err != nil {
		return nil, "", err
	}
	d, r, created, err := s.intake.URL(ctx, c, raw, meta)
	if err != nil {
		return nil, "", err
	}
	return ingestionResult(d, r, created, raw)
}

func (s *Server) mcpIngestText(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error) {
	// The text as sent, not trimmed: it is the document.
	v, ok := req.GetArguments()["text"]
	text, isString := v.(string)
	switch {
	case !ok || v == nil:
		return nil, "", badArg(fmt.Errorf("missing required argument %q", "text"))
	case !isString:
		return nil, "", badArg(mcpservers.ArgError("text", "must be a string, got %T", v))
	case int64(len(text)) > s.cfg.MCPTextLimit():
		return nil, "", models.Invalid("text", "the text is longer than %d bytes (MCP_ENDPOINT_MAX_TEXT_BYTES, at most MAX_UPLOAD_BYTES)", s.cfg.MCPTextLimit()).
			WithDetails(map[string]any{"field": "text", "limit_bytes": s.cfg.MCPTextLimit()})
	}
	meta, err := ingestMeta(req)
	if err != nil {
		return nil, "", err
	}
	d, r, created, err := s.intake.Text(ctx, c, text, meta)
	if err != nil {
		return nil, "", err
	}
	return ingestionResult(d, r, created, "the text")
}

func ingestionResult(d *models.Document, r *models.IngestionRun, created bool, what string) (any, string, error) {
	out := toIngestionJSON(d, r)
	if !created {
		return out, fmt.Sprintf("This idempotency key already started ingestion run %s (document %s), now %s.", r.ID, d.ID, r.Status), nil
	}
	return out, fmt.Sprintf("Started ingesting %s: ingestion run %s, document %s. Follow it with ingestion_status.", what, r.ID, d.ID), nil
}

func (s *Server) mcpIngestionStatus(ctx context.Context, c models.Caller, req mcp.CallToolRequest) (any, string, error) {
	id, err := mcpservers.UUIDArg(req, "ingestion_run_id", "ingestion run", true)
	if err != nil {
		return nil, "", badArg(err)
	}
	r, err := s.store.IngestionRun(ctx, c, *id)
	if err != nil {
		return nil, "", err
	}
	out := toRunJSON(r)
	text := fmt.Sprintf("Ingestion run %s of document %s: %s", out.ID, out.DocumentID, out.Status)
	if out.Stage != "" {
		text += ", stage " + out.Stage
	}
	if out.ChunksTotal > 0 {
		text += fmt.Sprintf(", %d of %d chunks", out.ChunksDone, out.ChunksTotal)
	}
	if out.Error != nil {
		text += fmt.Sprintf("; error %s: %s", out.Error.Code, out.Error.Message)
	}
	return out, text + ".", nil
}

// mcpBodyLimit is the body cap of POST /mcp: the JSON routes' cap, or room for the largest text
// ingest_text takes, with its JSON escaping.
func (s *Server) mcpBodyLimit() int64 {
	return max(s.cfg.MaxBodyBytes, 2*s.cfg.MCPTextLimit()+64<<10)
}
