package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/net/html/charset"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/ssrf"
)

// maxURLLen bounds the url argument.
const maxURLLen = 2048

// minMaxChars is the smallest max_chars accepted.
const minMaxChars = 100

// sniffHead is how much of a body labelled as text is checked for binary content.
const sniffHead = 8 << 10

const urlDescription = `The absolute http or https URL, e.g. "https://example.com/news/article.html".`

func fetchURLTool(maxChars int) mcp.Tool {
	return mcp.NewTool("fetch_url",
		mcp.WithDescription("Fetches a public web page or document over http(s) and returns its readable text, "+
			"starting with the final URL (after redirects) and the title. HTML is reduced to its text (scripts, styles, "+
			"navigation and footers removed; headings marked with #), PDF and DOCX documents are extracted, plain text, "+
			"Markdown, CSV, XML and JSON are returned as they are; other content types are refused. "+
			fmt.Sprintf("Text longer than max_chars (default and maximum %d characters) is cut, with a note saying so. ", maxChars)+
			"Only public internet addresses can be fetched. To read just the article of a news or blog page, use extract_article."),
		mcp.WithString("url", mcp.Required(), mcp.Description(urlDescription), mcp.MaxLength(maxURLLen)),
		mcp.WithInteger("max_chars",
			mcp.Description(fmt.Sprintf("At most this many characters of text are returned (%d-%d, default %d).",
				min(minMaxChars, maxChars), maxChars, maxChars)),
			mcp.Min(min(minMaxChars, maxChars)), mcp.Max(maxChars), mcp.DefaultNumber(maxChars)),
		readOnly(),
	)
}

func extractArticleTool() mcp.Tool {
	return mcp.NewTool("extract_article",
		mcp.WithDescription("Fetches a public web page like fetch_url but returns only its main article: the title and the "+
			"article's headings and paragraphs, without site headers, navigation, sidebars, related-link lists, "+
			"newsletter boxes and footers. Best for news articles, blog posts and documentation pages; use fetch_url "+
			"when you need everything on the page. PDF and DOCX documents are shortened the same way; text and JSON "+
			"are returned whole."),
		mcp.WithString("url", mcp.Required(), mcp.Description(urlDescription), mcp.MaxLength(maxURLLen)),
		readOnly(),
	)
}

// page is a fetched resource: either structured blocks (HTML, PDF, DOCX) or plain text.
type page struct {
	url         string
	title       string
	contentType string // the media type it was read as
	blocks      []extract.Block
	text        string // when blocks is nil
}

// fetched is the structured content of fetch_url and extract_article.
type fetched struct {
	URL         string `json:"url"` // after redirects
	Title       string `json:"title,omitempty"`
	ContentType string `json:"content_type"`
	Chars       int    `json:"chars"` // of the whole text, before any cut
	Truncated   bool   `json:"truncated"`
}

func toolError(err error) *mcp.CallToolResult {
	return mcp.NewToolResultError(err.Error())
}

func (t tools) fetchURL(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	raw, err := mcpservers.StringArg(req, "url", true, maxURLLen)
	if err != nil {
		return toolError(err), nil
	}
	maxChars, err := mcpservers.IntArg(req, "max_chars", t.d.MaxResultChars, min(minMaxChars, t.d.MaxResultChars), t.d.MaxResultChars)
	if err != nil {
		return toolError(err), nil
	}
	p, err := t.load(ctx, raw)
	if err != nil {
		return toolError(err), nil
	}
	return t.result(p, p.blocks, maxChars), nil
}

func (t tools) extractArticle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	raw, err := mcpservers.StringArg(req, "url", true, maxURLLen)
	if err != nil {
		return toolError(err), nil
	}
	p, err := t.load(ctx, raw)
	if err != nil {
		return toolError(err), nil
	}
	return t.result(p, mainContent(p.blocks), t.d.MaxResultChars), nil
}

// result renders a page: "URL: ...", "Title: ..." (when there is one), a blank line, then the
// text cut at maxChars.
func (t tools) result(p page, blocks []extract.Block, maxChars int) *mcp.CallToolResult {
	text := p.text
	if p.blocks != nil {
		text = render(blocks)
	}
	body, truncated := cut(text, maxChars)
	var b strings.Builder
	fmt.Fprintf(&b, "URL: %s\n", p.url)
	if p.title != "" {
		fmt.Fprintf(&b, "Title: %s\n", p.title)
	}
	b.WriteString("\n")
	b.WriteString(body)
	return mcp.NewToolResultStructured(fetched{
		URL:         p.url,
		Title:       p.title,
		ContentType: p.contentType,
		Chars:       len([]rune(text)),
		Truncated:   truncated,
	}, b.String())
}

// render joins blocks with blank lines; headings get Markdown '#' marks and code is fenced.
func render(blocks []extract.Block) string {
	parts := make([]string, 0, len(blocks))
	for _, b := range blocks {
		switch b.Kind {
		case extract.KindHeading:
			parts = append(parts, strings.Repeat("#", max(b.Level, 1))+" "+b.Text)
		case extract.KindCode:
			parts = append(parts, "```\n"+b.Text+"\n```")
		default:
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n\n")
}

// load fetches raw through the guard and reads it as blocks or text. Its errors are messages
// for the model: they never name an internal address.
func (t tools) load(ctx context.Context, raw string) (page, error) {
	resp, err := t.d.Guard.Fetch(ctx, raw)
	if err != nil {
		return page{}, t.fetchError(ctx, raw, err)
	}
	p := page{url: resp.URL.String()}
	if len(bytes.TrimSpace(resp.Body)) == 0 {
		return page{}, errors.New("the page is empty")
	}
	declared := mediaType(resp.ContentType)
	sniffed, sniffErr := extract.Sniff(bytes.NewReader(resp.Body), int64(len(resp.Body)), path.Base(resp.URL.Path))
	mt := declared
	switch {
	case sniffed == extract.MediaPDF || sniffed == extract.MediaDOCX:
		mt = sniffed // magic numbers beat a wrong label
	case declared == "" || declared == "application/octet-stream" || declared == "binary/octet-stream":
		if sniffErr != nil {
			return page{}, fmt.Errorf("unsupported content type %s: its content is not a format fetch_url reads", orOctet(declared))
		}
		mt = sniffed
	}
	p.contentType = mt
	t.d.Logger.DebugContext(ctx, "web page fetched", "host", resp.URL.Host, "content_type", mt, "bytes", len(resp.Body))
	switch {
	case extractable(mt):
		doc, err := t.extract(ctx, mt, resp.Body)
		if err != nil {
			return page{}, err
		}
		p.title, p.blocks = doc.Title, doc.Blocks
	case textual(mt):
		if errors.Is(sniffErr, extract.ErrUnsupported) && bytes.IndexByte(resp.Body[:min(len(resp.Body), sniffHead)], 0) >= 0 {
			return page{}, fmt.Errorf("the response is labelled %s but holds binary data", mt)
		}
		p.text = decodeText(resp.Body, resp.ContentType)
	default:
		return page{}, fmt.Errorf("unsupported content type %s: fetch_url reads HTML, PDF, DOCX, text and JSON", mt)
	}
	return p, nil
}

// mediaType is the lower-case media type of a Content-Type header, "" when missing or malformed.
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

func orOctet(mt string) string {
	if mt == "" {
		return "application/octet-stream"
	}
	return mt
}

// extractable media types go through the extractor.
func extractable(mt string) bool {
	switch mt {
	case extract.MediaHTML, "application/xhtml+xml", extract.MediaPDF, extract.MediaDOCX:
		return true
	}
	return false
}

// textual media types are returned as they are.
func textual(mt string) bool {
	return strings.HasPrefix(mt, "text/") ||
		mt == extract.MediaJSON || mt == "application/xml" ||
		strings.HasPrefix(mt, "application/") && (strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml"))
}

// decodeText converts a text body to UTF-8 using the Content-Type's charset (or, without one, a
// byte order mark, else UTF-8 when valid, else Windows-1252).
func decodeText(body []byte, contentType string) string {
	out := body
	if r, err := charset.NewReader(bytes.NewReader(body), contentType); err == nil {
		if b, err := io.ReadAll(r); err == nil {
			out = b
		}
	}
	s := strings.ToValidUTF8(string(out), "\uFFFD")
	return strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF"))
}

// extract materialises body in TempDir and extracts it as mt.
func (t tools) extract(ctx context.Context, mt string, body []byte) (extract.Document, error) {
	f, err := os.CreateTemp(t.d.TempDir, "web-fetch-*")
	if err != nil {
		t.d.Logger.ErrorContext(ctx, "web: cannot create a temporary file", "error", err)
		return extract.Document{}, errors.New("the document could not be read; try again later")
	}
	defer os.Remove(f.Name())
	_, err = f.Write(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.d.Logger.ErrorContext(ctx, "web: cannot write a temporary file", "error", err)
		return extract.Document{}, errors.New("the document could not be read; try again later")
	}
	doc, err := t.d.Extractor.Extract(ctx, mt, f.Name())
	switch {
	case err == nil:
		return doc, nil
	case errors.Is(err, extract.ErrEmpty):
		return extract.Document{}, errors.New("no readable text found in this document")
	case errors.Is(err, extract.ErrEncrypted):
		return extract.Document{}, errors.New("the document is password-protected")
	case errors.Is(err, extract.ErrCorrupt):
		return extract.Document{}, fmt.Errorf("the document is damaged or not the %s it claims to be", mt)
	case errors.Is(err, extract.ErrUnsupported):
		return extract.Document{}, fmt.Errorf("unsupported content type %s", mt)
	case ctx.Err() != nil:
		return extract.Document{}, errors.New("the request was cancelled or timed out")
	default:
		t.d.Logger.WarnContext(ctx, "web: extraction failed", "content_type", mt, "error", err)
		return extract.Document{}, errors.New("the document could not be read; try again later")
	}
}

// fetchError turns a Guard.Fetch error into a message for the model. Refused destinations are
// only logged by the guard; the message never names them.
func (t tools) fetchError(ctx context.Context, raw string, err error) error {
	var status *ssrf.StatusError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, ssrf.ErrBlocked):
		return mcpservers.ArgError("url", "this address is not allowed: only public internet addresses can be fetched, "+
			"and the URL or one of its redirects points to a private, local or internal address")
	case errors.Is(err, ssrf.ErrScheme):
		return mcpservers.ArgError("url", "only http and https URLs can be fetched")
	case errors.Is(err, ssrf.ErrInvalidURL):
		return mcpservers.ArgError("url", `not a valid absolute http(s) URL such as "https://example.com/page"`)
	case errors.Is(err, ssrf.ErrTooLarge):
		return errors.New("the response is too large to fetch")
	case errors.Is(err, ssrf.ErrTooManyRedirects):
		return errors.New("the page redirects too many times")
	case errors.As(err, &status):
		return fmt.Errorf("the server answered HTTP %d %s", status.Status, http.StatusText(status.Status))
	case errors.As(err, &dnsErr):
		return errors.New("the host name could not be resolved")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("the request timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("the request was cancelled")
	default:
		host := ""
		if u, perr := url.Parse(raw); perr == nil {
			host = u.Host
		}
		t.d.Logger.InfoContext(ctx, "web: fetch failed", "host", host, "error", err)
		return errors.New("the page could not be fetched: the connection to the server failed")
	}
}
