package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/mcpservers/mcptest"
	"github.com/youworker/youworker/mcpservers/web"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/toolbox"
)

var quiet = slog.New(slog.DiscardHandler)

var secret = []byte("web-test-identity-secret")

// pagesHost is the only host the tests' guard allows; the fake resolver maps it to loopback.
const pagesHost = "pages.test"

// fakeResolver answers for pages.test only, like a DNS server that knows nothing else.
type fakeResolver struct{}

func (fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == pagesHost {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// newGuard returns a guard that allows pages.test and nothing else that is not public.
func newGuard(t *testing.T, opts ssrf.Options) *ssrf.Guard {
	t.Helper()
	opts.Allow = []string{pagesHost}
	opts.Resolver = fakeResolver{}
	g, err := ssrf.New(opts)
	require.NoError(t, err)
	return g
}

// serve starts h on a loopback port and returns the base URL under the name pages.test.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	return "http://" + pagesHost + ":" + port
}

// connect serves Handler(d) (with the test secret, logger and extractor filled in) and returns a
// real mcp-go client speaking streamable HTTP to it, signing the platform identity like the worker.
func connect(t *testing.T, d web.Deps) *client.Client {
	t.Helper()
	d.IdentityKeys = [][]byte{secret}
	d.Logger = quiet
	if d.Extractor == nil {
		d.Extractor = extract.New(extract.Options{Logger: quiet})
	}
	if d.TempDir == "" {
		d.TempDir = t.TempDir()
	}
	srv := httptest.NewServer(web.Handler(d))
	t.Cleanup(srv.Close)

	return mcptest.Dial(t, srv.URL+mcpservers.EndpointPath, web.Name, mcptest.AsUser(t, secret))
}

func TestListTools(t *testing.T) {
	t.Parallel()
	c := connect(t, web.Deps{Guard: newGuard(t, ssrf.Options{})})
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	byName := map[string]mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	tests := []struct {
		name     string
		params   []string
		required []string
		maxLen   map[string]int
	}{
		{name: "fetch_url", params: []string{"url", "max_chars"}, required: []string{"url"}, maxLen: map[string]int{"url": 2048}},
		{name: "extract_article", params: []string{"url"}, required: []string{"url"}, maxLen: map[string]int{"url": 2048}},
		{name: "search", params: []string{"query", "max_results"}, required: []string{"query"}, maxLen: map[string]int{"query": 500}},
	}
	require.Len(t, byName, len(tests))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tool, ok := byName[tt.name]
			require.True(t, ok)
			require.Greater(t, len(tool.Description), 80, "the model reads the description")
			require.Equal(t, "object", tool.InputSchema.Type)
			require.ElementsMatch(t, tt.required, tool.InputSchema.Required)
			require.Len(t, tool.InputSchema.Properties, len(tt.params))
			for _, p := range tt.params {
				prop, ok := tool.InputSchema.Properties[p].(map[string]any)
				require.True(t, ok, "parameter %s", p)
				require.NotEmpty(t, prop["description"])
				if n, ok := tt.maxLen[p]; ok {
					require.Equal(t, "string", prop["type"])
					require.EqualValues(t, n, prop["maxLength"])
				} else {
					require.Equal(t, "integer", prop["type"])
					require.NotNil(t, prop["maximum"], "integer %s is bounded", p)
				}
			}
			require.True(t, *tool.Annotations.ReadOnlyHint)
			require.True(t, *tool.Annotations.OpenWorldHint)
		})
	}
}

func TestIdentityIsRequired(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler(web.Deps{IdentityKeys: [][]byte{secret}, Logger: quiet}))
	t.Cleanup(srv.Close)
	otherSecret, err := toolbox.SignIdentity([]byte("another-secret"), toolbox.Identity{UserID: uuid.New()}, time.Hour)
	require.NoError(t, err)
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{name: "no header", token: "", want: "missing " + toolbox.IdentityHeader},
		{name: "garbage token", token: "not-a-jwt", want: "invalid " + toolbox.IdentityHeader},
		{name: "token signed with another secret", token: otherSecret, want: "invalid " + toolbox.IdentityHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch_url","arguments":{"url":"https://example.com/"}}}`
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+mcpservers.EndpointPath, strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tt.token != "" {
				req.Header.Set(toolbox.IdentityHeader, tt.token)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			got, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.NoError(t, res.Body.Close())
			require.Equal(t, http.StatusUnauthorized, res.StatusCode)
			require.Contains(t, string(got), tt.want)
		})
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// listenCounting serves a "secret" page on a loopback address of network ("tcp4" or "tcp6") and
// counts accepted connections; it returns nil when the network is unavailable.
func listenCounting(t *testing.T, addr string) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "internal secret") }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return cl
}

func port(t *testing.T, ln net.Listener) string {
	t.Helper()
	_, p, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return p
}
