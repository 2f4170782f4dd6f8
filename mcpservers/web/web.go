// Package web is the built-in web MCP server: its tools fetch public web pages and documents as
// readable text (fetch_url), keep only a page's main article (extract_article) and search the web
// through a SearXNG-compatible endpoint (search).
//
// Every page fetch goes through the SSRF guard, so the model cannot make the platform reach a
// loopback, private, link-local or metadata address, whatever the URL's notation, the host's DNS
// answer or a redirect say. The search endpoint is the operator's own configuration and is called
// with a plain client. Like the other built-in servers it sits behind toolbox.IdentityMiddleware:
// only the platform's worker calls it, although no tool acts for a particular user.
package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/toolbox"
)

// Name is the server's name.
const Name = "web"

// Defaults for the zero Deps fields.
const (
	defaultMaxResultChars = 20000
	defaultSearchTimeout  = 15 * time.Second
)

// Deps are what the server needs.
type Deps struct {
	// Guard makes every page fetch; nil means a strict guard with its defaults (no exemptions).
	Guard *ssrf.Guard
	// Extractor turns HTML, PDF and DOCX into text; nil means extract.New with defaults.
	Extractor *extract.Extractor
	// SearchURL is a SearXNG-compatible search endpoint, e.g. https://searx.example/search;
	// "" disables the search tool (it answers with a tool error saying so).
	SearchURL string
	// SearchClient calls SearchURL. The endpoint is trusted configuration (operators may run
	// SearXNG on a private address), so it does not go through Guard. Default: a client with a
	// 15 s timeout.
	SearchClient *http.Client
	// MaxResultChars caps the text a tool returns to the model, default 20000; longer text is
	// cut with a note saying so.
	MaxResultChars int
	// TempDir holds fetched documents while they are extracted; "" means os.TempDir().
	TempDir string
	// IdentityKeys verify the identity header (toolbox.IdentityMiddleware); a rotation has two.
	IdentityKeys [][]byte
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// AllowedOrigins are the browser origins allowed to call the server (mcpservers.CheckOrigin).
	AllowedOrigins []string
}

func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Guard == nil {
		// New fails only on a malformed Allow entry, and there is none.
		d.Guard, _ = ssrf.New(ssrf.Options{Logger: d.Logger})
	}
	if d.Extractor == nil {
		d.Extractor = extract.New(extract.Options{Logger: d.Logger})
	}
	if d.SearchClient == nil {
		d.SearchClient = &http.Client{Timeout: defaultSearchTimeout}
	}
	if d.MaxResultChars <= 0 {
		d.MaxResultChars = defaultMaxResultChars
	}
	return d
}

// NewServer returns the MCP server named "web" with the tools fetch_url, extract_article and
// search. Bad arguments and failed fetches produce tool error results with a message that is
// safe to show (never an internal address), not protocol errors.
func NewServer(d Deps) *server.MCPServer {
	d = d.withDefaults()
	s := mcpservers.NewServer(Name, "Read the public web. Use search to find pages, then fetch_url to read a page or document "+
		"(HTML, PDF, DOCX, text, JSON) or extract_article to read just a page's main article. Cite the URLs you used.", d.Logger)
	t := tools{d: d}
	s.AddTool(fetchURLTool(d.MaxResultChars), t.fetchURL)
	s.AddTool(extractArticleTool(), t.extractArticle)
	s.AddTool(searchTool(), t.search)
	return s
}

// Handler serves the server at /mcp behind the identity check.
func Handler(d Deps) http.Handler {
	d = d.withDefaults()
	return toolbox.IdentityMiddleware(d.IdentityKeys, mcpservers.Mount(NewServer(d), d.Logger, d.AllowedOrigins...))
}

// tools holds the handlers' dependencies.
type tools struct {
	d Deps
}

// readOnly marks a tool that only reads: no side effects, but it reaches the open internet.
func readOnly() mcp.ToolOption {
	return mcp.WithToolAnnotation(mcp.ToolAnnotation{
		ReadOnlyHint:    mcp.ToBoolPtr(true),
		DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint:  mcp.ToBoolPtr(true),
		OpenWorldHint:   mcp.ToBoolPtr(true),
	})
}
