package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers/mcptest"
	"github.com/youworker/youworker/mcpservers/web"
	"github.com/youworker/youworker/ssrf"
)

// searx is a SearXNG-like endpoint: /search?q=...&format=json answers seven results for any
// query, "nothing" answers none; /broken answers 500 and /garbled invalid JSON.
type searx struct {
	mu      sync.Mutex
	queries []map[string][]string
}

func (s *searx) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.queries = append(s.queries, r.URL.Query())
	s.mu.Unlock()
	switch r.URL.Path {
	case "/broken":
		http.Error(w, "engine crashed", http.StatusInternalServerError)
		return
	case "/garbled":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"results": [{"title": "cut off`))
		return
	}
	if r.URL.Query().Get("format") != "json" {
		http.Error(w, "format not allowed", http.StatusForbidden)
		return
	}
	type result struct {
		Title   string `json:"title"`
		URL     string `json:"url"`
		Content string `json:"content"`
		Engine  string `json:"engine"`
	}
	body := struct {
		Query   string   `json:"query"`
		Results []result `json:"results"`
	}{Query: r.URL.Query().Get("q"), Results: []result{}}
	if body.Query != "nothing" {
		body.Results = append(body.Results, result{Title: "Harbour\n  news", URL: "https://news.example/harbour",
			Content: "The  quiet harbour\nat dawn.", Engine: "duckduckgo"})
		body.Results = append(body.Results, result{Title: "", URL: "https://untitled.example/", Content: ""})
		body.Results = append(body.Results, result{Title: "No URL", URL: "", Content: "dropped"})
		for i := 3; i <= 7; i++ {
			body.Results = append(body.Results, result{Title: fmt.Sprintf("Result %d", i),
				URL: fmt.Sprintf("https://r%d.example/", i), Content: fmt.Sprintf("Snippet %d.", i)})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (s *searx) lastQuery() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[len(s.queries)-1]
}

func TestSearch(t *testing.T) {
	t.Parallel()
	backend := &searx{}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	// The endpoint is on loopback: it is trusted configuration and does not go through the guard.
	c := connect(t, web.Deps{SearchURL: srv.URL + "/search?language=en", Guard: newGuard(t, ssrf.Options{})})

	res := mcptest.Call(t, c, "search", map[string]any{"query": "harbour news", "max_results": 3})
	require.False(t, res.IsError, res.Text)
	require.Equal(t, `Web results for "harbour news":

1. Harbour news
   https://news.example/harbour
   The quiet harbour at dawn.

2. https://untitled.example/
   https://untitled.example/

3. Result 3
   https://r3.example/
   Snippet 3.`, res.Text)
	q := backend.lastQuery()
	require.Equal(t, []string{"harbour news"}, q["q"])
	require.Equal(t, []string{"json"}, q["format"])
	require.Equal(t, []string{"en"}, q["language"], "the configured URL's own parameters are kept")
	results, ok := res.Structured["results"].([]any)
	require.True(t, ok)
	require.Len(t, results, 3)
	require.Equal(t, map[string]any{"title": "Harbour news", "url": "https://news.example/harbour", "snippet": "The quiet harbour at dawn."}, results[0])

	tests := []struct {
		name  string
		args  map[string]any
		count int
	}{
		{name: "default is five", args: map[string]any{"query": "harbour"}, count: 5},
		{name: "ten when fewer exist", args: map[string]any{"query": "harbour", "max_results": 10}, count: 7},
		{name: "one", args: map[string]any{"query": "harbour", "max_results": 1}, count: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mcptest.Call(t, c, "search", tt.args)
			require.False(t, res.IsError, res.Text)
			require.Len(t, res.Structured["results"], tt.count)
			require.Contains(t, res.Text, fmt.Sprintf("\n%d. ", tt.count))
			require.NotContains(t, res.Text, fmt.Sprintf("\n%d. ", tt.count+1))
			require.NotContains(t, res.Text, "No URL", "results without a URL are skipped")
		})
	}
}

func TestSearchFailures(t *testing.T) {
	t.Parallel()
	backend := &searx{}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	tests := []struct {
		name      string
		searchURL string
		args      map[string]any
		want      string
	}{
		{name: "not configured", searchURL: "", args: map[string]any{"query": "harbour"},
			want: "web search is not configured on this server (set WEB_SEARCH_URL)"},
		{name: "backend error", searchURL: srv.URL + "/broken", args: map[string]any{"query": "harbour"},
			want: "the web search failed: the search service answered HTTP 500 Internal Server Error; try again later"},
		{name: "invalid JSON", searchURL: srv.URL + "/garbled", args: map[string]any{"query": "harbour"},
			want: "the web search failed: the search service gave an invalid answer"},
		{name: "backend down", searchURL: "http://127.0.0.1:1/search", args: map[string]any{"query": "harbour"},
			want: "the web search failed; try again later"},
		{name: "missing query", searchURL: srv.URL + "/search", args: map[string]any{},
			want: `missing required argument "query"`},
		{name: "query too long", searchURL: srv.URL + "/search", args: map[string]any{"query": strings.Repeat("q", 501)},
			want: `invalid argument "query": longer than 500 characters`},
		{name: "max_results zero", searchURL: srv.URL + "/search", args: map[string]any{"query": "harbour", "max_results": 0},
			want: `invalid argument "max_results": must be between 1 and 10`},
		{name: "max_results eleven", searchURL: srv.URL + "/search", args: map[string]any{"query": "harbour", "max_results": 11},
			want: `invalid argument "max_results": must be between 1 and 10`},
		{name: "max_results a string", searchURL: srv.URL + "/search", args: map[string]any{"query": "harbour", "max_results": "3"},
			want: `invalid argument "max_results": must be an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := connect(t, web.Deps{SearchURL: tt.searchURL, Guard: newGuard(t, ssrf.Options{})})
			res := mcptest.Call(t, c, "search", tt.args)
			require.True(t, res.IsError, "got a result: %s", res.Text)
			require.Equal(t, tt.want, res.Text)
		})
	}
}

func TestSearchNoResults(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&searx{})
	t.Cleanup(srv.Close)
	c := connect(t, web.Deps{SearchURL: srv.URL + "/search", Guard: newGuard(t, ssrf.Options{})})
	res := mcptest.Call(t, c, "search", map[string]any{"query": "nothing"})
	require.False(t, res.IsError, res.Text)
	require.Equal(t, `No web results for "nothing".`, res.Text)
}
