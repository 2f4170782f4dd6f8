// Package toolbox is the worker's side of MCP: it lists the tools of the configured MCP servers
// for the model and calls them, over streamable HTTP only.
//
// A Catalog keeps one long-lived mcp-go client per server, shared by concurrent calls, and
// replaces it after a transport failure. Who a call acts for travels out of band, as a signed
// Identity in the X-YouWorker-Identity header, never in the model's arguments.
package toolbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// Separator joins a registered server's name and its tool's name into the name the model sees
// ("notes__search"), so a registered server can never shadow a built-in tool.
const Separator = "__"

// Server is an MCP server the platform can call (streamable HTTP only — never a command to run).
type Server struct {
	ID   string // optional (registered servers have a uuid); "" for built-ins
	Name string // e.g. "datetime"; unique within a Catalog
	URL  string // full MCP endpoint URL, e.g. http://127.0.0.1:8091/mcp
	// Timeout bounds each call, list and ping, connecting included; default 30s.
	Timeout          time.Duration
	RequiresApproval bool
}

// builtin reports whether s is one of the platform's own servers. Only those receive the signed
// identity: a registered server cannot verify it without the platform secret, and could replay it
// against the built-ins.
func (s Server) builtin() bool { return s.ID == "" }

// Tool is one tool of one server, as offered to the model.
type Tool struct {
	Name             string // the MCP tool name, e.g. "time_now"
	Description      string
	InputSchema      json.RawMessage // JSON Schema object of the arguments
	Server           string          // server name
	RequiresApproval bool            // copied from the server; the platform's rules may add to it
	// Outbound: the tool may send data out of the platform or change something (it is not
	// read-only, or it reaches the open world). From the tool's MCP annotations on built-in
	// servers, with the spec's defaults (an unannotated tool is neither read-only nor closed-world);
	// always true for a registered server, whose annotations are its own claims.
	Outbound bool
	// Untrusted: the tool's output may carry text from outside the platform (web pages, documents,
	// a third party), so instructions in it are not the user's. Only a built-in server can declare
	// a tool's output trusted (models.TrustedOutputMeta in the tool's _meta).
	Untrusted bool
}

// Result is what a tool call returned, as text for the model.
type Result struct {
	Text      string
	IsError   bool // the tool reported a failure (MCP isError); the model should read Text
	Truncated bool // Text was cut to Options.MaxResultBytes
	Bytes     int  // size of the text before truncation
}

// Options configures a Catalog. Zero values take the defaults.
type Options struct {
	TTL            time.Duration // tool list cache per server; default 30s
	HTTPClient     *http.Client  // default: dial and TLS timeouts, no overall timeout (calls carry their own), no retries
	MaxResultBytes int           // cap on Result.Text; default 64 KiB
	Logger         *slog.Logger  // default slog.Default()
	// IdentitySecret signs the Identity sent to built-in servers; nil sends no identity header.
	IdentitySecret []byte
}

const (
	defaultTTL            = 30 * time.Second
	defaultTimeout        = 30 * time.Second
	defaultMaxResultBytes = 64 << 10
)

var (
	// ErrUnknownServer means the server name is not in the Catalog.
	ErrUnknownServer = errors.New("toolbox: unknown MCP server")
	// ErrRejected means the server answered that the request itself is wrong (JSON-RPC invalid
	// params, e.g. an unknown tool, or method not found, invalid request, parse error): a retry
	// will not fix it.
	ErrRejected = errors.New("toolbox: request rejected by the MCP server")
	// ErrClosed means the Catalog has been closed.
	ErrClosed = errors.New("toolbox: catalog closed")
)

// Catalog lists and calls the tools of a fixed set of MCP servers. It is safe for concurrent use.
type Catalog struct {
	servers []Server
	conns   map[string]*conn
	order   []*conn
	opts    Options
	log     *slog.Logger
	now     func() time.Time // the tool cache's clock; tests replace it

	clashMu sync.Mutex
	clashes map[string]bool // "tool\x00loser" already logged
}

// NewCatalog returns a Catalog of servers, applying defaults. It connects lazily: nothing is
// dialled before the first Tools, Call or Ping. Of two servers with the same name the first is kept.
func NewCatalog(servers []Server, opts Options) *Catalog {
	if opts.TTL <= 0 {
		opts.TTL = defaultTTL
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient()
	}
	if opts.MaxResultBytes <= 0 {
		opts.MaxResultBytes = defaultMaxResultBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Catalog{
		conns:   make(map[string]*conn, len(servers)),
		opts:    opts,
		log:     opts.Logger,
		now:     time.Now,
		clashes: make(map[string]bool),
	}
	for _, s := range servers {
		if s.Timeout <= 0 {
			s.Timeout = defaultTimeout
		}
		if _, dup := c.conns[s.Name]; dup {
			c.log.Error("duplicate MCP server name, keeping the first", "server", s.Name, "url", s.URL)
			continue
		}
		cn := newConn(s, c)
		c.servers = append(c.servers, s)
		c.conns[s.Name] = cn
		c.order = append(c.order, cn)
	}
	return c
}

// defaultHTTPClient bounds connecting, not calls: a call's deadline comes from its context (the
// server's Timeout), and a client-wide timeout would also cut slow streamed answers. net/http
// never resends a POST that reached the server, and the Catalog only resends a request the server
// provably did not process (404 for a forgotten session): Temporal owns retries.
func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.MaxIdleConnsPerHost = 32
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr}
}

// Servers returns the servers of the catalog, defaults applied.
func (c *Catalog) Servers() []Server {
	out := make([]Server, len(c.servers))
	copy(out, c.servers)
	return out
}

// Tools lists the tools of every server concurrently, each server's list cached for TTL. A server
// that cannot be reached is left out (its error is logged and returned joined in err, while the
// tools of the others are still returned). If two servers expose the same tool name, the first
// server in the list wins and the clash is logged once.
func (c *Catalog) Tools(ctx context.Context) ([]Tool, error) {
	lists := make([][]Tool, len(c.order))
	errs := make([]error, len(c.order))
	var wg sync.WaitGroup
	for i, cn := range c.order {
		wg.Go(func() { lists[i], errs[i] = cn.tools(ctx) })
	}
	wg.Wait()

	var out []Tool
	owner := make(map[string]string)
	for i, cn := range c.order {
		if errs[i] != nil {
			c.log.WarnContext(ctx, "MCP server left out of the tool list", "server", cn.srv.Name, "url", cn.srv.URL, "error", errs[i])
			continue
		}
		for _, t := range lists[i] {
			if first, taken := owner[t.Name]; taken {
				c.logClash(ctx, t.Name, first, cn.srv.Name)
				continue
			}
			owner[t.Name] = cn.srv.Name
			out = append(out, t)
		}
	}
	return out, errors.Join(errs...)
}

func (c *Catalog) logClash(ctx context.Context, tool, kept, dropped string) {
	key := tool + "\x00" + dropped
	c.clashMu.Lock()
	seen := c.clashes[key]
	c.clashes[key] = true
	c.clashMu.Unlock()
	if !seen {
		c.log.WarnContext(ctx, "MCP tool name clash, the first server wins", "tool", tool, "kept", kept, "dropped", dropped)
	}
}

// IdempotencyKeyMeta is the _meta key of a tool call's idempotency key (also sent as the
// Idempotency-Key HTTP header). A tool with side effects that sees the same key twice must act
// once: the platform retries a call whose outcome it did not learn (a worker died, the answer was
// lost), so a call may arrive more than once.
const IdempotencyKeyMeta = "youworker.dev/idempotency-key"

type idempotencyKey struct{}

// WithIdempotencyKey returns a context whose tool calls carry key (see IdempotencyKeyMeta).
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

func idempotencyKeyOf(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}

// IdempotencyKeyFrom returns the idempotency key of the tool call req, "" when it carries none.
func IdempotencyKeyFrom(req mcp.CallToolRequest) string {
	if req.Params.Meta == nil {
		return ""
	}
	k, _ := req.Params.Meta.AdditionalFields[IdempotencyKeyMeta].(string)
	return k
}

// Call calls a tool on the named server with args under the server's Timeout (and ctx), sending
// id out of band to built-in servers, and the idempotency key of ctx (WithIdempotencyKey) to every
// server. A tool-level error (the server's IsError result) is
// returned as Result{IsError: true} with its text and a nil error. Transport and protocol
// failures return an error, for the caller's retry policy: wrapping ErrRejected when retrying is
// pointless, context.DeadlineExceeded when the server's Timeout passed, ctx's error when ctx ended.
func (c *Catalog) Call(ctx context.Context, server, tool string, args map[string]any, id Identity) (Result, error) {
	cn, ok := c.conns[server]
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownServer, server)
	}
	var token string
	if len(c.opts.IdentitySecret) > 0 && cn.srv.builtin() {
		// Valid a little longer than the call may take, so that the last request still passes.
		t, err := SignIdentity(c.opts.IdentitySecret, id, cn.srv.Timeout+time.Minute)
		if err != nil {
			return Result{}, err
		}
		token = t
	}

	if args == nil {
		args = map[string]any{} // "arguments": null fails strict servers (zod's optional record)
	}
	var req mcp.CallToolRequest
	req.Params.Name = tool
	req.Params.Arguments = args
	if key := idempotencyKeyOf(ctx); key != "" {
		req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{IdempotencyKeyMeta: key}}
	}
	var res *mcp.CallToolResult
	ctx, span := startSpan(ctx, "tools/call", tool, cn.srv)
	err := cn.do(ctx, func(ctx context.Context, cl *client.Client) error {
		if token != "" {
			ctx = context.WithValue(ctx, tokenKey{}, token)
		}
		var err error
		res, err = cl.CallTool(ctx, req)
		return err
	})
	endSpan(span, err, err == nil && res.IsError)
	if err != nil {
		return Result{}, fmt.Errorf("toolbox: call %s on %s: %w", tool, server, err)
	}
	return render(res, c.opts.MaxResultBytes), nil
}

// Ping checks that the named server answers, for /health/detailed. It lists the server's tools
// (bypassing the cache): mcp-go's Ping sends nothing on protocol 2026-07-28, which removed ping.
func (c *Catalog) Ping(ctx context.Context, server string) error {
	cn, ok := c.conns[server]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownServer, server)
	}
	err := cn.do(ctx, func(ctx context.Context, cl *client.Client) error {
		_, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
		return err
	})
	if err != nil {
		return fmt.Errorf("toolbox: ping %s: %w", server, err)
	}
	return nil
}

// Close closes every client session. Calls in flight finish first (their sessions close when
// they return); later calls fail with ErrClosed.
func (c *Catalog) Close() error {
	var errs []error
	for _, cn := range c.order {
		errs = append(errs, cn.close())
	}
	return errors.Join(errs...)
}

// DescriptionHash fingerprints what a tool tells the model it does (description and argument
// schema). Registered servers' tools are approved against it.
func DescriptionHash(t Tool) string {
	h := sha256.New()
	h.Write([]byte(t.Description))
	h.Write([]byte{0})
	h.Write(t.InputSchema)
	return hex.EncodeToString(h.Sum(nil))
}
