package toolbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/telemetry"
)

// clientInfo is how the worker introduces itself to MCP servers.
var clientInfo = mcp.Implementation{Name: "youworker", Version: "1"}

// tokenKey carries a call's signed identity from Call to the transport's header func.
type tokenKey struct{}

// conn is one server's long-lived client session and tool list cache.
type conn struct {
	srv Server
	cat *Catalog

	connecting chan struct{} // one slot: one goroutine connects at a time
	listing    chan struct{} // one slot: one goroutine refreshes the tool list at a time

	mu     sync.Mutex
	cur    *session // nil until connected, and after a failure dropped it
	closed bool
	cache  []Tool
	cached time.Time // when cache was fetched; zero when there is none
}

// session is one mcp-go client. A dropped session is closed once its last user releases it, so
// that replacing it never cuts a concurrent call short (closing an mcp-go client cancels every
// request in flight on it).
type session struct {
	c       *client.Client
	users   int
	dropped bool
}

func newConn(s Server, cat *Catalog) *conn {
	return &conn{
		srv:        s,
		cat:        cat,
		connecting: make(chan struct{}, 1),
		listing:    make(chan struct{}, 1),
	}
}

// do runs fn with the server's session under the server's Timeout. A transport failure drops the
// session so that the next use reconnects. When the server no longer knows the session (HTTP 404,
// a restarted stateful server) the request was not processed, so fn runs once more on a new
// session; nothing else is retried.
func (cn *conn) do(parent context.Context, fn func(context.Context, *client.Client) error) error {
	ctx, cancel := context.WithTimeout(parent, cn.srv.Timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		s, err := cn.acquire(ctx)
		if err != nil {
			return cn.ctxErr(parent, ctx, fmt.Errorf("connect: %w", err))
		}
		err = fn(ctx, s.c)
		var terr *transport.Error
		if err != nil && errors.As(err, &terr) && ctx.Err() == nil {
			cn.drop(s)
		}
		cn.release(s)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, transport.ErrSessionTerminated) && attempt == 1 && ctx.Err() == nil:
			cn.cat.log.InfoContext(ctx, "MCP session ended by the server, reconnecting", "server", cn.srv.Name)
			continue
		case rejected(err):
			return fmt.Errorf("%w: %w", ErrRejected, err)
		default:
			return cn.ctxErr(parent, ctx, err)
		}
	}
}

// rejected reports whether err is a JSON-RPC error answer saying the request itself is wrong. A
// tool handler that fails with a Go error answers INTERNAL_ERROR instead, which may be transient.
func rejected(err error) bool {
	return errors.Is(err, mcp.ErrInvalidParams) || errors.Is(err, mcp.ErrMethodNotFound) ||
		errors.Is(err, mcp.ErrInvalidRequest) || errors.Is(err, mcp.ErrParseError)
}

// ctxErr makes an error caused by the end of ctx (the caller's parent, or the server's Timeout)
// say so and match the context's error.
func (cn *conn) ctxErr(parent, ctx context.Context, err error) error {
	switch {
	case ctx.Err() == nil:
		return err
	case parent.Err() != nil:
		if !errors.Is(err, parent.Err()) {
			err = fmt.Errorf("%w: %w", parent.Err(), err)
		}
		return err
	default:
		if !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		return fmt.Errorf("no answer within the server's timeout of %s: %w", cn.srv.Timeout, err)
	}
}

// acquire returns the current session, connecting if there is none, and counts the caller as a
// user until release.
func (cn *conn) acquire(ctx context.Context) (*session, error) {
	for {
		cn.mu.Lock()
		if cn.closed {
			cn.mu.Unlock()
			return nil, ErrClosed
		}
		if s := cn.cur; s != nil {
			s.users++
			cn.mu.Unlock()
			return s, nil
		}
		cn.mu.Unlock()

		select {
		case cn.connecting <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		cn.mu.Lock()
		raced := cn.cur != nil || cn.closed
		cn.mu.Unlock()
		if raced {
			<-cn.connecting
			continue
		}
		c, err := cn.connect(ctx)
		if err != nil {
			<-cn.connecting
			return nil, err
		}
		s := &session{c: c, users: 1}
		cn.mu.Lock()
		closed := cn.closed
		if !closed {
			cn.cur = s
		}
		cn.mu.Unlock()
		<-cn.connecting
		if closed {
			_ = c.Close()
			return nil, ErrClosed
		}
		return s, nil
	}
}

func (cn *conn) release(s *session) {
	cn.mu.Lock()
	s.users--
	closeNow := s.dropped && s.users == 0
	cn.mu.Unlock()
	if closeNow {
		// Closing may send a DELETE to end the session (up to 5s): not on the caller's time.
		go func() { _ = s.c.Close() }()
	}
}

// drop retires s: the next acquire connects anew. s closes when its last user releases it.
func (cn *conn) drop(s *session) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.cur == s {
		cn.cur = nil
	}
	s.dropped = true
}

func (cn *conn) close() error {
	cn.mu.Lock()
	cn.closed = true
	s := cn.cur
	cn.cur = nil
	cn.cache, cn.cached = nil, time.Time{}
	closeNow := false
	if s != nil {
		s.dropped = true
		closeNow = s.users == 0
	}
	cn.mu.Unlock()
	if closeNow {
		if err := s.c.Close(); err != nil {
			return fmt.Errorf("toolbox: close %s: %w", cn.srv.Name, err)
		}
	}
	return nil
}

// connect starts and initialises a client. mcp-go first probes with server/discover (protocol
// 2026-07-28, stateless: no session id at all) and falls back to the initialize handshake
// (a session id in Mcp-Session-Id) for older servers.
func (cn *conn) connect(ctx context.Context) (*client.Client, error) {
	log := cn.cat.log.With("server", cn.srv.Name)
	tr, err := transport.NewStreamableHTTP(cn.srv.URL,
		transport.WithHTTPBasicClient(cn.cat.opts.HTTPClient),
		transport.WithHTTPHeaderFunc(cn.headers),
		transport.WithHTTPLogger(log),
	)
	if err != nil {
		return nil, err
	}
	c := client.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	var init mcp.InitializeRequest
	init.Params.ClientInfo = clientInfo
	res, err := c.Initialize(ctx, init)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	log.DebugContext(ctx, "MCP session started", "url", cn.srv.URL, "protocol", res.ProtocolVersion,
		"server_name", res.ServerInfo.Name, "session", c.GetSessionId())
	return c, nil
}

// headers is the transport's per-request header func. It runs with each request's context, so
// concurrent calls sharing the session each send their own identity. Requests that are not tool
// calls carry the platform's own identity, so that servers behind IdentityMiddleware accept them.
func (cn *conn) headers(ctx context.Context) map[string]string {
	h := map[string]string{}
	telemetry.Inject(ctx, h) // traceparent: the server's span continues the caller's trace
	if key := idempotencyKeyOf(ctx); key != "" {
		h["Idempotency-Key"] = key
	}
	secret := cn.cat.opts.IdentitySecret
	if len(secret) == 0 || !cn.srv.builtin() {
		return h
	}
	token, ok := ctx.Value(tokenKey{}).(string)
	if !ok {
		var err error
		if token, err = SignIdentity(secret, Identity{}, cn.srv.Timeout+time.Minute); err != nil {
			cn.cat.log.ErrorContext(ctx, "cannot sign the platform identity", "error", err)
			return h
		}
	}
	h[IdentityHeader] = token
	return h
}

// tools returns the server's tool list, fetching it when the cached one is older than the TTL.
func (cn *conn) tools(ctx context.Context) ([]Tool, error) {
	if tools, ok := cn.fresh(); ok {
		return tools, nil
	}
	select {
	case cn.listing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-cn.listing }()
	if tools, ok := cn.fresh(); ok { // refreshed while we waited
		return tools, nil
	}

	var listed []mcp.Tool
	spanCtx, span := startSpan(ctx, "tools/list", "", cn.srv)
	err := cn.do(spanCtx, func(ctx context.Context, cl *client.Client) error {
		res, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			return err
		}
		listed = res.Tools
		return nil
	})
	endSpan(span, err, false)
	if err != nil {
		return nil, fmt.Errorf("toolbox: list tools of %s: %w", cn.srv.Name, err)
	}
	tools := make([]Tool, 0, len(listed))
	for _, t := range listed {
		schema, err := inputSchema(t)
		if err != nil {
			cn.cat.log.WarnContext(ctx, "MCP tool left out: bad input schema", "server", cn.srv.Name, "tool", t.Name, "error", err)
			continue
		}
		tool := Tool{
			Name:             t.Name,
			Description:      t.Description,
			InputSchema:      schema,
			Server:           cn.srv.Name,
			RequiresApproval: cn.srv.RequiresApproval,
			Outbound:         true,
			Untrusted:        true,
		}
		if cn.srv.builtin() {
			tool.Outbound = !hint(t.Annotations.ReadOnlyHint, false) || hint(t.Annotations.OpenWorldHint, true)
			tool.Untrusted = !trustedOutput(t.Meta)
		}
		tools = append(tools, tool)
	}
	cn.mu.Lock()
	if !cn.closed {
		cn.cache, cn.cached = tools, cn.cat.now()
	}
	cn.mu.Unlock()
	return tools, nil
}

// hint reads an MCP tool annotation, def when the server did not say.
func hint(v *bool, def bool) bool {
	if v == nil {
		return def
	}
	return *v
}

func trustedOutput(m *mcp.Meta) bool {
	if m == nil {
		return false
	}
	v, _ := m.AdditionalFields[models.TrustedOutputMeta].(bool)
	return v
}

func (cn *conn) fresh() ([]Tool, bool) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.cached.IsZero() || cn.cat.now().Sub(cn.cached) >= cn.cat.opts.TTL {
		return nil, false
	}
	return cn.cache, true
}

// inputSchema is the tool's argument schema as JSON. mcp-go decodes tools/list schemas into a
// struct keeping type, properties, required, additionalProperties and $defs (definitions are
// renamed $defs); other top-level keywords (oneOf, description...) do not survive.
func inputSchema(t mcp.Tool) (json.RawMessage, error) {
	if len(t.RawInputSchema) > 0 {
		return t.RawInputSchema, nil
	}
	if t.InputSchema.Type == "" {
		t.InputSchema.Type = "object"
	}
	return json.Marshal(t.InputSchema)
}
