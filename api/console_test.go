package api

import (
	"bytes"
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/youworker/youworker/console"
)

// TestConsoleIsServedUnderAStrictCSP opens the console the way a browser does: / leads to it,
// the page and everything it loads (its stylesheet, icon, ES modules and their imports) are
// served from this origin with the console's CSP, which allows nothing inline, and the page has
// no inline script, style or event handler, nor any reference to another origin.
func TestConsoleIsServedUnderAStrictCSP(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	c := e.client()

	home := c.do("GET", "/", nil)
	require.Equal(t, http.StatusFound, home.Status)
	require.Equal(t, "/console/", home.Header.Get("Location"))
	bare := c.do("GET", "/console", nil)
	require.Contains(t, []int{http.StatusMovedPermanently, http.StatusFound}, bare.Status)
	require.Equal(t, "/console/", bare.Header.Get("Location"))

	page := c.do("GET", "/console/", nil)
	require.Equal(t, http.StatusOK, page.Status)
	require.Equal(t, "text/html; charset=utf-8", page.Header.Get("Content-Type"))
	csp := page.Header.Get("Content-Security-Policy")
	require.Equal(t, console.CSP, csp)
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'",
		"frame-ancestors": "'none'", "base-uri": "'none'", "form-action": "'none'",
		"require-trusted-types-for": "'script'", "trusted-types": "'none'",
	} {
		require.Equal(t, want, directives[name], "CSP directive %s", name)
	}
	require.NotContains(t, csp, "unsafe-", "nothing inline, no eval")
	require.Equal(t, "DENY", page.Header.Get("X-Frame-Options"))
	require.Equal(t, "nosniff", page.Header.Get("X-Content-Type-Options"))

	// The page: scripts only by src, no style element or attribute, no on* handler, and every
	// reference a relative path (nothing from a CDN: the console works offline).
	doc, err := html.Parse(bytes.NewReader(page.Body))
	require.NoError(t, err)
	var refs []string
	var scripts int
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			require.NotEqual(t, "style", n.Data, "inline <style>")
			for _, a := range n.Attr {
				require.NotEqual(t, "style", a.Key, "inline style attribute on <%s>", n.Data)
				require.False(t, strings.HasPrefix(a.Key, "on"), "inline event handler %s on <%s>", a.Key, n.Data)
				if a.Key == "src" || a.Key == "href" {
					require.NotRegexp(t, `^([a-z]+:|//)`, a.Val, "<%s %s> must be a relative path", n.Data, a.Key)
					refs = append(refs, a.Val)
				}
			}
			if n.Data == "script" {
				scripts++
				require.NotEmpty(t, attr(n, "src"), "inline <script>")
				require.Nil(t, n.FirstChild, "a <script src> with inline content")
				require.Equal(t, "module", attr(n, "type"))
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	require.Equal(t, 1, scripts, "the page loads its one entry module")

	// Everything the page loads, and every module the modules import, is served here under the
	// same CSP with its proper type.
	importRE := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	seen := map[string]bool{}
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		name := path.Clean(ref)
		if seen[name] {
			continue
		}
		seen[name] = true
		r := c.do("GET", "/console/"+name, nil)
		require.Equal(t, http.StatusOK, r.Status, name)
		require.Equal(t, console.CSP, r.Header.Get("Content-Security-Policy"), name)
		switch path.Ext(name) {
		case ".js":
			require.Equal(t, "text/javascript; charset=utf-8", r.Header.Get("Content-Type"), name)
			for _, m := range importRE.FindAllStringSubmatch(string(r.Body), -1) {
				require.True(t, strings.HasPrefix(m[1], "./"), "%s imports %q: only the console's own modules", name, m[1])
				refs = append(refs, path.Join(path.Dir(name), m[1]))
			}
		case ".css":
			require.Equal(t, "text/css; charset=utf-8", r.Header.Get("Content-Type"), name)
			require.NotContains(t, string(r.Body), "url(", "%s loads nothing", name)
			require.NotContains(t, string(r.Body), "@import", name)
		}
	}
	for _, want := range []string{"console.css", "icon.svg", "js/main.js", "js/api.js", "js/chat.js", "js/documents.js", "js/search.js", "js/dom.js"} {
		require.True(t, seen[want], "the page does not load %s", want)
	}
	require.Len(t, seen, len(console.Names())-1, "every embedded file but index.html is loaded by the page: %v", console.Names())

	// Revalidation, unknown files, and the API's own (stricter) policy elsewhere.
	again := c.do("GET", "/console/js/main.js", nil, "If-None-Match", c.do("GET", "/console/js/main.js", nil).Header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, again.Status)
	missing := c.do("GET", "/console/nope.js", nil)
	require.Equal(t, http.StatusNotFound, missing.Status)
	require.Equal(t, "ROUTE_NOT_FOUND", missing.errCode(t))
	require.Equal(t, console.CSP, missing.Header.Get("Content-Security-Policy"))
	api := c.do("GET", "/health", nil)
	require.True(t, strings.HasPrefix(api.Header.Get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'"),
		"the API keeps its own policy: %s", api.Header.Get("Content-Security-Policy"))
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
