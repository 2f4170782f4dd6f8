package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/youworker/youworker/mcpservers"
)

// Bounds of the search tool.
const (
	maxQueryLen       = 500
	defaultMaxResults = 5
	maxMaxResults     = 10
	maxSnippetChars   = 500
	maxSearchBody     = 4 << 20 // bytes of the search endpoint's answer read
)

// errSearchDisabled is the tool error when no search endpoint is configured.
var errSearchDisabled = errors.New("web search is not configured on this server (set WEB_SEARCH_URL)")

func searchTool() mcp.Tool {
	return mcp.NewTool("search",
		mcp.WithDescription("Searches the web and returns numbered results, each with its title, URL and a short snippet. "+
			"Use it to find pages about recent events or anything you do not know, then read the promising results "+
			"with fetch_url or extract_article; snippets alone are often incomplete."),
		mcp.WithString("query", mcp.Required(),
			mcp.Description(`What to search for, as you would type it into a search engine, e.g. "Go 1.26 release notes".`),
			mcp.MaxLength(maxQueryLen)),
		mcp.WithInteger("max_results",
			mcp.Description(fmt.Sprintf("How many results to return (1-%d, default %d).", maxMaxResults, defaultMaxResults)),
			mcp.Min(1), mcp.Max(maxMaxResults), mcp.DefaultNumber(defaultMaxResults)),
		readOnly(),
	)
}

// searchResult is one hit.
type searchResult struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet,omitempty"`
}

func (t tools) search(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if t.d.SearchURL == "" {
		return toolError(errSearchDisabled), nil
	}
	query, err := mcpservers.StringArg(req, "query", true, maxQueryLen)
	if err != nil {
		return toolError(err), nil
	}
	n, err := mcpservers.IntArg(req, "max_results", defaultMaxResults, 1, maxMaxResults)
	if err != nil {
		return toolError(err), nil
	}
	results, err := t.querySearch(ctx, query)
	if err != nil {
		return toolError(err), nil
	}
	results = results[:min(n, len(results))]
	if len(results) == 0 {
		return mcp.NewToolResultStructured(map[string]any{"results": results},
			fmt.Sprintf("No web results for %q.", query)), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Web results for %q:\n", query)
	for i, r := range results {
		fmt.Fprintf(&b, "\n%d. %s\n   %s\n", i+1, r.Title, r.URL)
		if r.Snippet != "" {
			fmt.Fprintf(&b, "   %s\n", r.Snippet)
		}
	}
	text, _ := cut(strings.TrimSpace(b.String()), t.d.MaxResultChars)
	return mcp.NewToolResultStructured(map[string]any{"results": results}, text), nil
}

// querySearch GETs SearchURL?q=<query>&format=json and returns the results that have a URL,
// titles and snippets on one line. Its errors are messages for the model; details are logged.
func (t tools) querySearch(ctx context.Context, query string) ([]searchResult, error) {
	unavailable := errors.New("the web search failed; try again later")
	u, err := url.Parse(t.d.SearchURL)
	if err != nil {
		t.d.Logger.ErrorContext(ctx, "web: invalid search URL", "error", err)
		return nil, unavailable
	}
	q := u.Query()
	q.Set("q", query)
	q.Set("format", "json")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		t.d.Logger.ErrorContext(ctx, "web: invalid search URL", "error", err)
		return nil, unavailable
	}
	req.Header.Set("Accept", "application/json")
	resp, err := t.d.SearchClient.Do(req)
	if err != nil {
		t.d.Logger.WarnContext(ctx, "web: search request failed", "error", err)
		return nil, unavailable
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSearchBody))
		t.d.Logger.WarnContext(ctx, "web: search endpoint answered an error", "status", resp.StatusCode)
		return nil, fmt.Errorf("the web search failed: the search service answered HTTP %d %s; try again later",
			resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	// SearXNG's JSON format: {"results": [{"title": ..., "url": ..., "content": ...}, ...], ...}.
	var body struct {
		Results []struct {
			Title   string `json:"title"`
			URL     string `json:"url"`
			Content string `json:"content"`
		} `json:"results"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSearchBody)).Decode(&body); err != nil {
		t.d.Logger.WarnContext(ctx, "web: search endpoint answered invalid JSON", "error", err)
		return nil, errors.New("the web search failed: the search service gave an invalid answer")
	}
	out := make([]searchResult, 0, len(body.Results))
	for _, r := range body.Results {
		hit := searchResult{Title: oneLine(r.Title), URL: strings.TrimSpace(r.URL), Snippet: oneLine(r.Content)}
		if hit.URL == "" {
			continue
		}
		if hit.Title == "" {
			hit.Title = hit.URL
		}
		if rs := []rune(hit.Snippet); len(rs) > maxSnippetChars {
			hit.Snippet = strings.TrimSpace(string(rs[:maxSnippetChars])) + "…"
		}
		out = append(out, hit)
	}
	return out, nil
}
