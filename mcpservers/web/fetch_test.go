package web_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract/fixtures"
	"github.com/youworker/youworker/mcpservers/mcptest"
	"github.com/youworker/youworker/mcpservers/web"
	"github.com/youworker/youworker/ssrf"
)

const (
	para1 = "The harbour was still before the first ferry left, and the water held the colour of the sky " +
		"so exactly that the moored boats seemed to hang in the air above their own reflections."
	para2 = "Eleven boats went out this morning, two fewer than last spring. The skippers blame the price " +
		"of diesel more than the fish, which have come back to the bay in numbers not seen in a decade."
	para3 = "By eight the cafe on the quay had its chairs out, and the conversation turned, as it does every " +
		"year, to whether the new breakwater will be finished before the autumn storms arrive."
)

// articlePage is a news page with the boilerplate a reader skips: scripts, styles, a site header,
// navigation, a trending sidebar, related stories, a newsletter box and a footer.
var articlePage = `<!doctype html>
<html><head><title>The Quiet Harbour</title>
<style>body { color: #333; font-family: serif }</style>
<script>trackVisitor("analytics-id-1234")</script>
</head><body>
<header><p>Coastal Times</p><p>News from the shore</p></header>
<nav><a href="/">Frontpage</a> <a href="/world">World</a> <a href="/sports">Sports</a></nav>
<aside><h2>Trending</h2><ul><li><a href="/a">Storm warning lifted</a></li><li><a href="/b">Ferry timetable</a></li>
<li><a href="/c">Lighthouse open day</a></li></ul></aside>
<main><article>
<h1>The quiet harbour at dawn</h1>
<p>By Mara Lind, 3 May 2026</p>
<p>` + para1 + `</p>
<h2>The fishing fleet</h2>
<p>` + para2 + `</p>
<p>` + para3 + `</p>
</article></main>
<aside><h2>Related stories</h2><ul><li><a href="/d">Breakwater delayed again</a></li><li><a href="/e">Diesel prices</a></li></ul></aside>
<div class="newsletter"><p>Subscribe to our newsletter</p></div>
<footer><p>Copyright 2026 Coastal Times</p><a href="/privacy">Privacy policy</a></footer>
<script>loadAds()</script>
</body></html>`

// pages serves the test site; internal is where /to-internal redirects.
func pages(t *testing.T, internal string) http.Handler {
	t.Helper()
	pdf, err := fixtures.PDF(fixtures.PDFOptions{Title: "Tide Report",
		Pages: []string{"High water at Port Ellen is at 06:12 and 18:40.\n\nLow water follows at 12:25."}})
	require.NoError(t, err)
	var long strings.Builder
	long.WriteString("<html><head><title>Logbook</title></head><body>")
	for i := range 60 {
		fmt.Fprintf(&long, "<p>Entry %d: the wind backed south-west and the glass fell steadily all afternoon.</p>", i)
	}
	long.WriteString("</body></html>")

	mux := http.NewServeMux()
	write := func(path, contentType string, body []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			if contentType != "" {
				w.Header().Set("Content-Type", contentType)
			}
			_, _ = w.Write(body)
		})
	}
	write("/article.html", "text/html; charset=utf-8", []byte(articlePage))
	write("/long.html", "text/html", []byte(long.String()))
	write("/data.json", "application/json", []byte(`{"harbour":"Port Ellen","depth_m":12,"boats":["Mara","Kestrel"]}`))
	write("/report.pdf", "application/pdf", pdf)
	write("/report-unlabelled", "application/octet-stream", pdf)
	write("/notes.txt", "text/plain; charset=iso-8859-1", []byte("Caf\xe9 on the quay opens at 7."))
	write("/photo.png", "image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	write("/empty.html", "text/html", nil)
	write("/big.txt", "text/plain", []byte(strings.Repeat("a", 300<<10)))
	mux.Handle("/old-data", http.RedirectHandler("/data.json", http.StatusMovedPermanently))
	mux.Handle("/to-internal", http.RedirectHandler(internal, http.StatusFound))
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	return mux
}

// site serves the test pages and returns their base URL (http://pages.test:<port>) and a client
// of a web server whose guard allows only pages.test, with MaxResultChars 4000.
func site(t *testing.T, opts ssrf.Options, internal string) (string, *client.Client) {
	t.Helper()
	base := serve(t, pages(t, internal))
	tmp := t.TempDir()
	t.Cleanup(func() {
		if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
			t.Errorf("fetched documents left in TempDir: %v %v", left, err)
		}
	})
	return base, connect(t, web.Deps{Guard: newGuard(t, opts), MaxResultChars: 4000, TempDir: tmp})
}

func TestFetchURL(t *testing.T) {
	t.Parallel()
	base, c := site(t, ssrf.Options{}, "http://127.0.0.1:1/")
	tests := []struct {
		name        string
		tool        string
		path        string
		maxChars    int
		head        string // the text starts with it
		contains    []string
		excludes    []string
		contentType string
		truncated   bool
	}{
		{
			name: "HTML page", tool: "fetch_url", path: "/article.html",
			head: "URL: " + base + "/article.html\nTitle: The Quiet Harbour\n\n",
			contains: []string{"# The quiet harbour at dawn\n\nBy Mara Lind", "## The fishing fleet", para1, para2, para3,
				"Related stories", "- Breakwater delayed again"},
			excludes:    []string{"trackVisitor", "analytics-id", "font-family", "loadAds", "Frontpage", "Sports", "Privacy policy", "<p>"},
			contentType: "text/html",
		},
		{
			name: "JSON document", tool: "fetch_url", path: "/data.json",
			head:        "URL: " + base + "/data.json\n\n",
			contains:    []string{`{"harbour":"Port Ellen","depth_m":12,"boats":["Mara","Kestrel"]}`},
			contentType: "application/json",
		},
		{
			name: "PDF document", tool: "fetch_url", path: "/report.pdf",
			head:        "URL: " + base + "/report.pdf\nTitle: Tide Report\n\n",
			contains:    []string{"High water at Port Ellen is at 06:12 and 18:40.", "Low water follows at 12:25."},
			contentType: "application/pdf",
		},
		{
			name: "PDF served as octet-stream is sniffed", tool: "fetch_url", path: "/report-unlabelled",
			head:        "URL: " + base + "/report-unlabelled\nTitle: Tide Report\n\n",
			contains:    []string{"High water at Port Ellen"},
			contentType: "application/pdf",
		},
		{
			name: "text in its declared charset", tool: "fetch_url", path: "/notes.txt",
			head: "URL: " + base + "/notes.txt\n\n", contains: []string{"Café on the quay opens at 7."}, contentType: "text/plain",
		},
		{
			name: "a redirect reports the final URL", tool: "fetch_url", path: "/old-data",
			head: "URL: " + base + "/data.json\n\n", contains: []string{`"depth_m":12`}, contentType: "application/json",
		},
		{
			name: "cut at max_chars", tool: "fetch_url", path: "/long.html", maxChars: 500,
			head:      "URL: " + base + "/long.html\nTitle: Logbook\n\nEntry 0: the wind backed",
			contains:  []string{"[truncated: showing the first 500 of "},
			excludes:  []string{"Entry 59"},
			truncated: true, contentType: "text/html",
		},
		{
			name: "cut at the server's limit by default", tool: "fetch_url", path: "/long.html",
			head:      "URL: " + base + "/long.html\nTitle: Logbook\n\nEntry 0: the wind backed",
			contains:  []string{"[truncated: showing the first 4000 of "},
			truncated: true, contentType: "text/html",
		},
		{
			name: "article without the boilerplate", tool: "extract_article", path: "/article.html",
			head:        "URL: " + base + "/article.html\nTitle: The Quiet Harbour\n\n# The quiet harbour at dawn\n\nBy Mara Lind, 3 May 2026\n\n" + para1,
			contains:    []string{"## The fishing fleet\n\n" + para2 + "\n\n" + para3},
			excludes:    []string{"Coastal Times", "News from the shore", "Trending", "Storm warning", "Related stories", "Breakwater", "Subscribe", "Copyright", "trackVisitor", "Frontpage"},
			contentType: "text/html",
		},
		{
			name: "article of a JSON document is the document", tool: "extract_article", path: "/data.json",
			head: "URL: " + base + "/data.json\n\n", contains: []string{`"boats":["Mara","Kestrel"]`}, contentType: "application/json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := map[string]any{"url": base + tt.path}
			if tt.maxChars > 0 {
				args["max_chars"] = tt.maxChars
			}
			res := mcptest.Call(t, c, tt.tool, args)
			require.False(t, res.IsError, res.Text)
			require.True(t, strings.HasPrefix(res.Text, tt.head), "text starts:\n%s", res.Text[:min(len(res.Text), 400)])
			for _, s := range tt.contains {
				require.Contains(t, res.Text, s)
			}
			for _, s := range tt.excludes {
				require.NotContains(t, res.Text, s)
			}
			require.Equal(t, tt.contentType, res.Structured["content_type"])
			require.Equal(t, tt.truncated, res.Structured["truncated"])
			if tt.truncated {
				limit := 4000
				if tt.maxChars > 0 {
					limit = tt.maxChars
				}
				content := strings.SplitN(res.Text, "\n\n", 2)[1]
				content = content[:strings.Index(content, "\n\n[truncated")]
				require.LessOrEqual(t, len([]rune(content)), limit)
				require.Greater(t, len([]rune(content)), limit-20, "the cut keeps what fits")
				require.Greater(t, res.Structured["chars"], float64(limit))
			}
		})
	}
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	base, c := site(t, ssrf.Options{MaxBytes: 256 << 10}, "http://127.0.0.1:1/")
	tests := []struct {
		name string
		tool string
		args map[string]any
		want string
	}{
		{name: "missing url", tool: "fetch_url", args: map[string]any{}, want: `missing required argument "url"`},
		{name: "blank url", tool: "extract_article", args: map[string]any{"url": "  "}, want: `missing required argument "url"`},
		{name: "url not a string", tool: "fetch_url", args: map[string]any{"url": 42}, want: `invalid argument "url": must be a string`},
		{name: "url too long", tool: "fetch_url", args: map[string]any{"url": base + "/" + strings.Repeat("a", 2048)}, want: `invalid argument "url": longer than 2048`},
		{name: "not a URL", tool: "fetch_url", args: map[string]any{"url": "harbour news"}, want: `invalid argument "url": only http and https URLs`},
		{name: "ftp", tool: "fetch_url", args: map[string]any{"url": "ftp://pages.test/file"}, want: `invalid argument "url": only http and https URLs`},
		{name: "max_chars too small", tool: "fetch_url", args: map[string]any{"url": base + "/data.json", "max_chars": 10}, want: `invalid argument "max_chars": must be between 100 and 4000`},
		{name: "max_chars above the limit", tool: "fetch_url", args: map[string]any{"url": base + "/data.json", "max_chars": 4001}, want: `invalid argument "max_chars": must be between 100 and 4000`},
		{name: "max_chars fractional", tool: "fetch_url", args: map[string]any{"url": base + "/data.json", "max_chars": 500.5}, want: `invalid argument "max_chars": must be an integer`},
		{name: "HTTP status", tool: "fetch_url", args: map[string]any{"url": base + "/nowhere"}, want: "the server answered HTTP 404 Not Found"},
		{name: "unsupported content type", tool: "fetch_url", args: map[string]any{"url": base + "/photo.png"}, want: "unsupported content type image/png"},
		{name: "too large", tool: "fetch_url", args: map[string]any{"url": base + "/big.txt"}, want: "the response is too large"},
		{name: "empty page", tool: "extract_article", args: map[string]any{"url": base + "/empty.html"}, want: "the page is empty"},
		{name: "unknown host", tool: "fetch_url", args: map[string]any{"url": "http://nowhere.test/"}, want: "the host name could not be resolved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mcptest.Call(t, c, tt.tool, tt.args)
			require.True(t, res.IsError, "got a result: %s", res.Text)
			require.Contains(t, res.Text, tt.want)
			require.Less(t, len(res.Text), 400, "messages stay short: the model reads them")
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	base, c := site(t, ssrf.Options{Timeout: 300 * time.Millisecond}, "http://127.0.0.1:1/")
	start := time.Now()
	res := mcptest.Call(t, c, "fetch_url", map[string]any{"url": base + "/slow"})
	require.True(t, res.IsError, res.Text)
	require.Equal(t, "the request timed out", res.Text)
	require.Less(t, time.Since(start), 3*time.Second)
}

// TestFetchRefusesInternalAddresses checks that the guard refuses internal destinations in any
// notation, and through a redirect, without ever connecting to them.
func TestFetchRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	v4 := listenCounting(t, "127.0.0.1:0")
	require.NotNil(t, v4)
	p4 := port(t, v4)
	p6 := p4
	v6 := listenCounting(t, "[::1]:0") // nil without IPv6; the URL is refused all the same
	if v6 != nil {
		p6 = port(t, v6)
	}
	base, c := site(t, ssrf.Options{}, "http://127.0.0.1:"+p4+"/secret")

	const notAllowed = `invalid argument "url": this address is not allowed`
	tests := []struct {
		name string
		tool string
		url  string
		want string
	}{
		{name: "IPv4 loopback", tool: "fetch_url", url: "http://127.0.0.1:" + p4 + "/", want: notAllowed},
		{name: "IPv6 loopback", tool: "fetch_url", url: "http://[::1]:" + p6 + "/", want: notAllowed},
		{name: "localhost", tool: "fetch_url", url: "http://localhost:" + p4 + "/", want: notAllowed},
		{name: "cloud metadata", tool: "fetch_url", url: "http://169.254.169.254/latest/meta-data/", want: notAllowed},
		{name: "decimal IPv4", tool: "fetch_url", url: "http://2130706433:" + p4 + "/", want: notAllowed},
		{name: "IPv4-mapped IPv6", tool: "extract_article", url: "http://[::ffff:127.0.0.1]:" + p4 + "/", want: notAllowed},
		{name: "file scheme", tool: "fetch_url", url: "file:///etc/passwd", want: `invalid argument "url": only http and https URLs can be fetched`},
		{name: "redirect to loopback", tool: "fetch_url", url: base + "/to-internal", want: notAllowed},
		{name: "article redirect to loopback", tool: "extract_article", url: base + "/to-internal", want: notAllowed},
	}
	t.Run("refused", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				res := mcptest.Call(t, c, tt.tool, map[string]any{"url": tt.url})
				require.True(t, res.IsError, "got a result: %s", res.Text)
				require.True(t, strings.HasPrefix(res.Text, tt.want), res.Text)
				for _, leak := range []string{"internal secret", "127.0.0.1", "::1", "169.254", "2130706433", "passwd"} {
					require.NotContains(t, res.Text, leak, "the message names no address")
				}
			})
		}
	})
	require.Zero(t, v4.accepted.Load(), "no connection reached the IPv4 loopback listener")
	if v6 != nil {
		require.Zero(t, v6.accepted.Load(), "no connection reached the IPv6 loopback listener")
	}

	// The listener does count a connection that is made.
	res, err := http.Get("http://127.0.0.1:" + p4 + "/")
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.EqualValues(t, 1, v4.accepted.Load())
}
