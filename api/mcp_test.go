package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/knowledge"
	"github.com/youworker/youworker/mcpservers/mcptest"
	"github.com/youworker/youworker/models"
)

// fakeSearcher stands in for knowledge.Searcher: it records the requests and answers one hit.
type fakeSearcher struct {
	mu   sync.Mutex
	reqs []knowledge.Request
}

func (f *fakeSearcher) Search(_ context.Context, c models.Caller, req knowledge.Request) ([]knowledge.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return []knowledge.Result{{DocumentID: c.UserID, DocumentTitle: "Notes of " + c.Username, Text: "the answer to " + req.Query,
		Score: 0.9, HeadingPath: []string{}}}, nil
}

// mcpUser is a user of the MCP endpoint test API: their REST client, id and an MCP client per key.
type mcpUser struct {
	rest *apiClient
	id   uuid.UUID
	name string
}

func (e *apiEnv) mcpUser(name string) mcpUser {
	e.t.Helper()
	c, login := e.signup(name)
	id := uuid.MustParse(login["user"].(map[string]any)["id"].(string))
	return mcpUser{rest: c, id: id, name: name}
}

// dialMCP connects the mcp-go client to the API's /mcp with the given request headers.
func (e *apiEnv) dialMCP(headers map[string]string) *client.Client {
	e.t.Helper()
	return mcptest.Dial(e.t, e.http.URL+"/mcp", mcpName, transport.WithHTTPHeaders(headers))
}

// key mints an API key with scopes and returns an MCP client authenticated with it.
func (u mcpUser) key(scopes ...string) *client.Client {
	u.rest.e.t.Helper()
	key, _ := u.rest.mintKey(map[string]any{"name": "mcp", "scopes": scopes})
	return u.rest.e.dialMCP(map[string]string{"Authorization": "Bearer " + key})
}

// newMCPAPI is the real router with the intake and searcher fakes.
func newMCPAPI(t *testing.T, mutate func(*config.Config)) (*apiEnv, *fakeIntake, *fakeSearcher) {
	t.Helper()
	e := newAPI(t, func(cfg *config.Config, _ *[]Check) {
		if mutate != nil {
			mutate(cfg)
		}
	})
	f, fs := &fakeIntake{created: true}, &fakeSearcher{}
	e.srv.intake, e.srv.searcher = f, fs
	return e, f, fs
}

// The endpoint offers the six tools, each checking its arguments against a schema the client sees.
func TestMCPListsTheKnowledgeTools(t *testing.T) {
	t.Parallel()
	e, _, _ := newMCPAPI(t, nil)
	c := e.mcpUser("lena").key("read")
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"get_document", "ingest_text", "ingest_url", "ingestion_status", "knowledge_search", "list_documents"}, names)
}

// Every tool names the REST route doing the same; that route is served and has a rule, so the tool
// needs exactly the scopes the route needs.
func TestMCPToolRoutesAreServedRoutes(t *testing.T) {
	t.Parallel()
	e, _, _ := newMCPAPI(t, nil)
	var served []string
	for _, rt := range e.srv.engine.Routes() {
		served = append(served, rt.Method+" "+rt.Path)
	}
	for _, tool := range e.srv.mcpTools() {
		require.Contains(t, served, tool.route, tool.tool.Name)
		require.Contains(t, routeRules, tool.route, tool.tool.Name)
	}
}

// The endpoint authenticates like every route: API key (either header) or access token; nothing,
// or a bad key, is a 401 before any MCP message is read; a key without read or documents (chat
// only) cannot open it.
func TestMCPAuthentication(t *testing.T) {
	t.Parallel()
	e, _, _ := newMCPAPI(t, nil)
	u := e.mcpUser("mira")
	key, _ := u.rest.mintKey(map[string]any{"name": "k", "scopes": []string{"read"}})
	_, login := e.signup("mira2")

	for _, tt := range []struct {
		name    string
		headers map[string]string
		user    string
	}{
		{"X-API-Key", map[string]string{"X-API-Key": key}, "mira"},
		{"Authorization: Bearer yw_…", map[string]string{"Authorization": "Bearer " + key}, "mira"},
		{"access token", map[string]string{"Authorization": "Bearer " + login["access_token"].(string)}, "mira2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := mcptest.Call(t, e.dialMCP(tt.headers), "knowledge_search", map[string]any{"query": "q"})
			require.False(t, res.IsError, res.Text)
			hit := res.Structured["results"].([]any)[0].(map[string]any)
			require.Equal(t, "Notes of "+tt.user, hit["document_title"], "the tool runs as the credential's user")
		})
	}

	chatKey, _ := u.rest.mintKey(map[string]any{"name": "chat", "scopes": []string{"chat"}})
	for _, tt := range []struct {
		name      string
		headers   []string
		status    int
		code      string
		challenge string // WWW-Authenticate: every 401 carries one (RFC 9110, RFC 6750)
	}{
		{"no credentials", nil, http.StatusUnauthorized, "UNAUTHENTICATED", `Bearer realm="youworker"`},
		{"unknown key", []string{"Authorization", "Bearer yw_00000000_nope"}, http.StatusUnauthorized, "INVALID_API_KEY",
			`Bearer realm="youworker", error="invalid_token"`},
		{"unknown X-API-Key", []string{"X-API-Key", "yw_00000000_nope"}, http.StatusUnauthorized, "INVALID_API_KEY",
			`Bearer realm="youworker", error="invalid_token"`},
		{"chat-only key", []string{"X-API-Key", chatKey}, http.StatusForbidden, "INSUFFICIENT_SCOPE", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.client().do("POST", "/mcp", initializeRequest(), tt.headers...)
			require.Equal(t, tt.status, r.Status, "%s", r.Body)
			require.Equal(t, tt.code, r.errCode(t))
			require.Equal(t, tt.challenge, r.Header.Get("WWW-Authenticate"))
		})
	}
	// The same on the REST routes and the OpenAI-compatible ones.
	for _, path := range []string{"/v1/auth/me", "/v1/models"} {
		r := e.client().do("GET", path, nil)
		require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
		require.Equal(t, `Bearer realm="youworker"`, r.Header.Get("WWW-Authenticate"), path)
	}
}

func initializeRequest() map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "t", "version": "1"}}}
}

// A browser origin outside MCP_ALLOWED_ORIGINS is refused, whatever the method and even when it is
// the API's own origin or one CORS allows (DNS rebinding); a listed origin and no Origin pass.
func TestMCPChecksOrigin(t *testing.T) {
	t.Parallel()
	e, _, _ := newMCPAPI(t, func(cfg *config.Config) {
		cfg.CORSOrigins = []string{"https://agent.example", "https://cors-only.example"}
		cfg.MCPOrigins = []string{"https://agent.example"}
	})
	u := e.mcpUser("otto")
	key, _ := u.rest.mintKey(map[string]any{"name": "k", "scopes": []string{"read"}})
	for _, tt := range []struct {
		name, method, origin string
		status               int
	}{
		{"no Origin", "POST", "", http.StatusOK},
		{"allowed origin", "POST", "https://agent.example", http.StatusOK},
		{"the API's own origin", "POST", originOf(e.cfg.PublicURL), http.StatusForbidden},
		{"a CORS origin not allowed for MCP", "POST", "https://cors-only.example", http.StatusForbidden},
		{"foreign site", "POST", "https://evil.example", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"X-API-Key", key, "Accept", "application/json, text/event-stream"}
			if tt.origin != "" {
				headers = append(headers, "Origin", tt.origin)
			}
			var body any
			if tt.method == "POST" {
				body = initializeRequest()
			}
			r := e.client().do(tt.method, "/mcp", body, headers...)
			require.Equal(t, tt.status, r.Status, "%s", r.Body)
			if tt.status == http.StatusOK {
				require.Contains(t, string(r.Body), `"youworker"`, "the MCP server answered")
			}
		})
	}
	// The MCP check itself, not only the API's cross-site check, refuses the API's own origin.
	r := e.client().do("POST", "/mcp", initializeRequest(), "X-API-Key", key, "Origin", originOf(e.cfg.PublicURL))
	require.Equal(t, "ORIGIN_NOT_ALLOWED", r.errCode(t))
}

// Each tool needs the scopes of its REST route: a read-only key searches, lists and reads but
// cannot ingest (the intake is never reached); a documents key ingests.
func TestMCPToolsNeedTheirRoutesScopes(t *testing.T) {
	t.Parallel()
	e, f, fs := newMCPAPI(t, nil)
	u := e.mcpUser("ruth")
	read := u.key("read")
	for _, tool := range []string{"ingest_text", "ingest_url"} {
		res := mcptest.Call(t, read, tool, map[string]any{"text": "notes", "url": "https://example.org/"})
		require.True(t, res.IsError, "%s: %s", tool, res.Text)
		require.Equal(t, "this API key needs the documents scope", res.Text)
		require.Equal(t, "INSUFFICIENT_SCOPE", res.Structured["error"].(map[string]any)["code"])
	}
	require.Empty(t, f.metas, "a refused call never reaches intake")
	require.False(t, mcptest.Call(t, read, "knowledge_search", map[string]any{"query": "q"}).IsError)
	require.False(t, mcptest.Call(t, read, "list_documents", nil).IsError)

	docs := u.key("documents")
	res := mcptest.Call(t, docs, "ingest_text", map[string]any{"text": "notes"})
	require.False(t, res.IsError, res.Text)
	require.False(t, mcptest.Call(t, docs, "knowledge_search", map[string]any{"query": "q"}).IsError)
	require.Len(t, fs.reqs, 2)
}

// The ingest tools hand intake what POST /v1/ingest would (the text as sent, parsed tags, title,
// group, idempotency key) and answer the run in the route's shape.
func TestMCPIngestGoesThroughIntake(t *testing.T) {
	t.Parallel()
	e, f, _ := newMCPAPI(t, nil)
	c := e.mcpUser("ines").key("documents")
	group := uuid.New()
	res := mcptest.Call(t, c, "ingest_text", map[string]any{"text": "  # Notes\n\nbody\n", "title": " Notes ",
		"tags": []any{"a, b", "c"}, "group_id": group.String(), "idempotency_key": "k1"})
	require.False(t, res.IsError, res.Text)
	require.Equal(t, []string{"  # Notes\n\nbody\n"}, f.texts, "the text is the document: never trimmed")
	key := "k1"
	require.Equal(t, intake.Meta{Title: "Notes", GroupID: &group, Tags: []string{"a", "b", "c"}, IdempotencyKey: &key}, f.metas[0])
	require.Equal(t, "queued", res.Structured["status"])
	run := res.Structured["ingestion_run_id"].(string)
	require.Equal(t, "/v1/ingestion-runs/"+run+"/events", res.Structured["events_url"])
	require.Contains(t, res.Text, run)

	res = mcptest.Call(t, c, "ingest_url", map[string]any{"url": "https://example.org/a"})
	require.False(t, res.IsError, res.Text)
	require.Equal(t, []string{"https://example.org/a"}, f.urls)

	// intake's errors are the route's: a domain error as it is, anything else "internal error".
	f.err = models.Invalid("url", "this URL cannot be fetched: private address")
	res = mcptest.Call(t, c, "ingest_url", map[string]any{"url": "http://10.0.0.1/"})
	require.True(t, res.IsError)
	require.Equal(t, `invalid argument "url": this URL cannot be fetched: private address`, res.Text)
	f.err = errors.New("connection reset by peer at 10.1.2.3")
	res = mcptest.Call(t, c, "ingest_text", map[string]any{"text": "x"})
	require.True(t, res.IsError)
	require.Equal(t, "internal error", res.Text)
	require.NotEmpty(t, res.Structured["error"].(map[string]any)["request_id"])
}

// Bad arguments are tool errors naming the argument, and reach neither intake nor the searcher;
// the limits are the configured ones.
func TestMCPBadArgumentsNameTheField(t *testing.T) {
	t.Parallel()
	e, f, fs := newMCPAPI(t, func(cfg *config.Config) {
		cfg.MCPMaxResults = 3
		cfg.MCPMaxTextBytes = 100
	})
	c := e.mcpUser("bert").key("read", "documents")
	for _, tt := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"knowledge_search", map[string]any{}, `missing required argument "query"`},
		{"knowledge_search", map[string]any{"query": "  "}, `missing required argument "query"`},
		{"knowledge_search", map[string]any{"query": "q", "top_k": 4}, `invalid argument "top_k": must be between 1 and 3`},
		{"knowledge_search", map[string]any{"query": "q", "top_k": 1.5}, `invalid argument "top_k": must be an integer`},
		{"knowledge_search", map[string]any{"query": "q", "document_ids": []any{"x"}}, `invalid argument "document_ids": x is not a document id`},
		{"knowledge_search", map[string]any{"query": "q", "group_id": "club"}, `invalid argument "group_id": "club" is not a group id`},
		{"list_documents", map[string]any{"limit": 4}, `invalid argument "limit": must be between 1 and 3`},
		{"list_documents", map[string]any{"cursor": "garbage"}, `invalid argument "cursor": cursor is malformed`},
		{"get_document", map[string]any{}, `missing required argument "document_id"`},
		{"get_document", map[string]any{"document_id": "42"}, `invalid argument "document_id": "42" is not a document id`},
		{"ingestion_status", map[string]any{"ingestion_run_id": 7}, `invalid argument "ingestion_run_id": must be a string`},
		{"ingest_text", map[string]any{}, `missing required argument "text"`},
		{"ingest_text", map[string]any{"text": 12}, `invalid argument "text": must be a string`},
		{"ingest_text", map[string]any{"text": strings.Repeat("x", 101)}, `invalid argument "text": the text is longer than 100 bytes`},
		{"ingest_text", map[string]any{"text": "x", "tags": "a"}, `invalid argument "tags": must be a list of strings`},
		{"ingest_text", map[string]any{"text": "x", "tags": []any{strings.Repeat("t,", 21)}}, `invalid argument "tags": at most 20 tags`},
		{"ingest_text", map[string]any{"text": "x", "idempotency_key": strings.Repeat("k", 201)}, `invalid argument "idempotency_key": longer than`},
		{"ingest_url", map[string]any{"url": "https://example.org/" + strings.Repeat("a", 2048)}, `invalid argument "url": longer than 2048`},
	} {
		res := mcptest.Call(t, c, tt.tool, tt.args)
		require.True(t, res.IsError, "%s %v: got a result: %s", tt.tool, tt.args, res.Text)
		require.True(t, strings.HasPrefix(res.Text, tt.want), "%s %v: %s", tt.tool, tt.args, res.Text)
		require.Equal(t, "VALIDATION_ERROR", res.Structured["error"].(map[string]any)["code"], tt.tool)
	}
	require.Empty(t, f.metas)
	require.Empty(t, fs.reqs)

	// Within the limits: the arguments reach the searcher.
	doc := uuid.New()
	res := mcptest.Call(t, c, "knowledge_search", map[string]any{"query": " violins ", "top_k": 3, "document_ids": []any{doc.String()}})
	require.False(t, res.IsError, res.Text)
	require.Equal(t, knowledge.Request{Query: "violins", TopK: 3, DocumentIDs: []uuid.UUID{doc}}, fs.reqs[0])
	require.Contains(t, res.Text, "the answer to violins")
	res = mcptest.Call(t, c, "knowledge_search", map[string]any{"query": "q"})
	require.False(t, res.IsError, res.Text)
	require.Equal(t, 3, fs.reqs[1].TopK, "the default is capped by MCP_ENDPOINT_MAX_RESULTS")
}

// The tools read through the caller's scope: another user's document and run are "not found", a
// listing shows only the caller's own; pages follow the cursor.
func TestMCPReadsAreTenantScoped(t *testing.T) {
	t.Parallel()
	e, _, _ := newMCPAPI(t, nil)
	alice, bob := e.mcpUser("alice"), e.mcpUser("bob")
	ctx := t.Context()
	var docs, runs []uuid.UUID
	for _, title := range []string{"first", "second"} {
		d, r, _, err := e.store.CreateDocument(ctx, models.Caller{UserID: alice.id},
			&models.Document{ID: uuid.New(), Title: title, SourceKind: models.SourceText, ContentType: "text/plain", Status: models.DocPending, Tags: []string{}},
			&models.IngestionRun{ID: uuid.New(), Status: models.RunQueued, WorkflowID: "ingest/" + title})
		require.NoError(t, err)
		docs, runs = append(docs, d.ID), append(runs, r.ID)
	}
	a, b := alice.key("read"), bob.key("read")

	page := mcptest.Call(t, a, "list_documents", map[string]any{"limit": 1})
	require.False(t, page.IsError, page.Text)
	items := page.Structured["items"].([]any)
	require.Len(t, items, 1)
	require.Equal(t, "second", items[0].(map[string]any)["title"], "newest first")
	next := mcptest.Call(t, a, "list_documents", map[string]any{"limit": 1, "cursor": page.Structured["next_cursor"]})
	require.Equal(t, "first", next.Structured["items"].([]any)[0].(map[string]any)["title"])
	require.Nil(t, next.Structured["next_cursor"])

	got := mcptest.Call(t, a, "get_document", map[string]any{"document_id": docs[0].String()})
	require.False(t, got.IsError, got.Text)
	require.Equal(t, "first", got.Structured["title"])
	require.Equal(t, true, got.Structured["is_owner"])
	st := mcptest.Call(t, a, "ingestion_status", map[string]any{"ingestion_run_id": runs[0].String()})
	require.False(t, st.IsError, st.Text)
	require.Equal(t, "queued", st.Structured["status"])
	require.Equal(t, docs[0].String(), st.Structured["document_id"])

	require.Empty(t, mcptest.Call(t, b, "list_documents", nil).Structured["items"])
	res := mcptest.Call(t, b, "get_document", map[string]any{"document_id": docs[0].String()})
	require.True(t, res.IsError)
	require.Equal(t, "document not found", res.Text)
	require.Equal(t, "DOCUMENT_NOT_FOUND", res.Structured["error"].(map[string]any)["code"])
	res = mcptest.Call(t, b, "ingestion_status", map[string]any{"ingestion_run_id": runs[0].String()})
	require.True(t, res.IsError)
	require.Equal(t, "ingestion run not found", res.Text)
}

// The tools count against their routes' rate limit classes, per user: ingests with uploads and
// POST /v1/ingest, searches with POST /v1/search.
func TestMCPRateLimitsAreTheRoutes(t *testing.T) {
	t.Parallel()
	e, f, fs := newMCPAPI(t, func(cfg *config.Config) {
		cfg.RateIngPerMin = 2
		cfg.RateSearch = 1
	})
	u := e.mcpUser("rita")
	c := u.key("read", "documents")
	for range 2 {
		require.False(t, mcptest.Call(t, c, "ingest_text", map[string]any{"text": "x"}).IsError)
	}
	res := mcptest.Call(t, c, "ingest_text", map[string]any{"text": "x"})
	require.True(t, res.IsError)
	require.True(t, strings.HasPrefix(res.Text, "too many requests; retry in"), res.Text)
	require.Equal(t, "RATE_LIMITED", res.Structured["error"].(map[string]any)["code"])
	require.Len(t, f.texts, 2)
	r := u.rest.do("POST", "/v1/ingest", map[string]any{"text": "x"})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "the route's budget is spent too")

	require.False(t, mcptest.Call(t, c, "knowledge_search", map[string]any{"query": "q"}).IsError)
	require.True(t, mcptest.Call(t, c, "knowledge_search", map[string]any{"query": "q"}).IsError)
	require.Equal(t, http.StatusTooManyRequests, u.rest.do("POST", "/v1/search", map[string]any{"query": "q"}).Status)
	require.Len(t, fs.reqs, 1)
	require.False(t, mcptest.Call(t, c, "list_documents", nil).IsError, "reads are not limited, as their routes")

	other := e.mcpUser("sven").key("read")
	require.False(t, mcptest.Call(t, other, "knowledge_search", map[string]any{"query": "q"}).IsError, "limits are per user")
}
