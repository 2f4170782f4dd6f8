package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/apitest"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/extract/fixtures"
	"github.com/youworker/youworker/mcpservers/datetime"
	standin "github.com/youworker/youworker/standin/ollama"
	qstandin "github.com/youworker/youworker/standin/qdrant"
	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/workflows"
)

// spans receives every span this test binary's processes end: tracing is on for the whole binary
// (TestMain), exported to memory instead of OTLP.
var spans = tracetest.NewInMemoryExporter()

func TestMain(m *testing.M) {
	testenv.SearchAttributes = workflows.SearchAttributes()
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Options{Service: "youworker-test", Exporter: spans,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testenv.Main(m, func() { _ = shutdown(context.Background()) })
}

// tracedPlatform is the API and the worker as `youworker api` and `youworker worker` run them
// (serveAPI, serveWorker), in this process, over a private database and task queue, the Ollama
// stand-in, the Qdrant stand-in and the datetime MCP server.
type tracedPlatform struct {
	t    *testing.T
	api  string
	logs *testenv.Buffer
}

func startTraced(t *testing.T) *tracedPlatform {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	tmp := testenv.Temporal(t)
	db := testenv.NewDB(t)
	_, ollamaURL, stopOllama, err := standin.Start(standin.Options{Logger: quiet}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = stopOllama(context.Background()) })
	q, err := qstandin.Listen(qstandin.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(q.Stop)
	mcp := httptest.NewServer(datetime.Handler(datetime.Options{Logger: quiet}))
	t.Cleanup(mcp.Close)
	apiAddr := freeTCPAddr(t)
	cfg, err := config.FromMap(map[string]string{
		"DATABASE_URL": db.DSN, "TEMPORAL_ADDRESS": tmp.Address, "TEMPORAL_NAMESPACE": tmp.Namespace,
		"TEMPORAL_TASK_QUEUE": testenv.TaskQueue(t), "OLLAMA_HOST": ollamaURL, "QDRANT_URL": "http://" + q.Addr(),
		"MCP_SERVERS": "datetime=" + mcp.URL + "/mcp", "API_ADDR": apiAddr, "PUBLIC_URL": "http://" + apiAddr,
		"METRICS_ADDR": freeTCPAddr(t), "JWT_SECRET": "trace-secret-trace-secret-trace-secret", "FERNET_KEYS": mustKey(t),
		"COOKIE_SECURE": "false", "DATA_DIR": t.TempDir(), "DB_POOL_SIZE": "4", "RATE_LIMIT_AUTH": "1000",
		"LOG_LEVEL": "info", "WORKER_STOP_TIMEOUT": "5s", "HTTP_SHUTDOWN_TIMEOUT": "2s",
		"SSRF_ALLOW": "127.0.0.1", // the documents TestURLIngestionTracesFetchAndTools serves
	})
	require.NoError(t, err)
	p := &tracedPlatform{t: t, api: "http://" + apiAddr, logs: &testenv.Buffer{}}
	log := cfg.Logger(p.logs)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- serveWorker(ctx, cfg, log, false) }()
	go func() { errs <- serveAPI(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("platform stopped with: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("platform logs:\n%s", p.logs)
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.api + "/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	return p
}

// freeTCPAddr is freeLocalAddr for a test.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeLocalAddr()
	require.NoError(t, err)
	return addr
}

// signup registers a user and returns a client holding its access token.
func (p *tracedPlatform) signup(name string) *apitest.Client {
	p.t.Helper()
	anon := &apitest.Client{Base: p.api}
	body := map[string]any{"username": name, "password": "correct horse battery staple"}
	r, err := anon.Do(context.Background(), "POST", "/v1/auth/register", body, nil)
	require.NoError(p.t, err)
	require.Equal(p.t, http.StatusCreated, r.Status, "%s", r.Body)
	r, err = anon.Do(context.Background(), "POST", "/v1/auth/login", body, nil)
	require.NoError(p.t, err)
	require.Equal(p.t, http.StatusOK, r.Status, "%s", r.Body)
	return &apitest.Client{Base: p.api, Token: jsonOf(p.t, r)["access_token"].(string)}
}

func jsonOf(t *testing.T, r apitest.Response) map[string]any {
	t.Helper()
	m, err := r.JSON()
	require.NoError(t, err)
	return m
}

// waitFor reads the stream at path until an event of type last.
func waitFor(t *testing.T, c *apitest.Client, path, last string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch, err := c.Stream(ctx, path, 0)
	require.NoError(t, err)
	var seen []string
	for ev := range ch {
		seen = append(seen, ev.Type)
		if ev.Type == last {
			return
		}
	}
	t.Fatalf("the stream ended without %s; saw %v", last, seen)
}

// spanTree is the ended spans of one trace.
type spanTree struct {
	t     *testing.T
	id    trace.TraceID
	spans tracetest.SpanStubs
	byID  map[trace.SpanID]tracetest.SpanStub
}

// traceOf waits until the trace id has a span named each of names (workflow spans end after the
// response that started them), then returns the trace.
func traceOf(t *testing.T, id trace.TraceID, names ...string) *spanTree {
	t.Helper()
	var tr *spanTree
	require.Eventually(t, func() bool {
		tr = &spanTree{t: t, id: id, byID: map[trace.SpanID]tracetest.SpanStub{}}
		for _, s := range spans.GetSpans() {
			if s.SpanContext.TraceID() == id {
				tr.spans = append(tr.spans, s)
				tr.byID[s.SpanContext.SpanID()] = s
			}
		}
		for _, n := range names {
			if len(tr.named(n)) == 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "trace %s lacks one of %v", id, names)
	return tr
}

func (tr *spanTree) named(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range tr.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// one is the only span named name.
func (tr *spanTree) one(name string) tracetest.SpanStub {
	tr.t.Helper()
	found := tr.named(name)
	require.Len(tr.t, found, 1, "spans named %q in %s", name, tr.dump())
	return found[0]
}

// requireChild fails unless child's parent is parent.
func (tr *spanTree) requireChild(child, parent tracetest.SpanStub) {
	tr.t.Helper()
	require.Equal(tr.t, parent.SpanContext.SpanID(), child.Parent.SpanID(), "%q is not a child of %q in %s",
		child.Name, parent.Name, tr.dump())
}

// under reports whether ancestor is on the path from s to the root.
func (tr *spanTree) under(s, ancestor tracetest.SpanStub) bool {
	for p, ok := tr.byID[s.Parent.SpanID()]; ok; p, ok = tr.byID[p.Parent.SpanID()] {
		if p.SpanContext.SpanID() == ancestor.SpanContext.SpanID() {
			return true
		}
	}
	return false
}

// nearest is the closest ancestor of s whose name starts with prefix.
func (tr *spanTree) nearest(s tracetest.SpanStub, prefix string) (tracetest.SpanStub, bool) {
	for p, ok := tr.byID[s.Parent.SpanID()]; ok; p, ok = tr.byID[p.Parent.SpanID()] {
		if strings.HasPrefix(p.Name, prefix) {
			return p, true
		}
	}
	return tracetest.SpanStub{}, false
}

// requireConnected fails unless every span's parent is in the trace, but for root, whose parent
// is remoteParent (invalid for a trace that began at the API).
func (tr *spanTree) requireConnected(root tracetest.SpanStub, remoteParent trace.SpanID) {
	tr.t.Helper()
	require.Equal(tr.t, remoteParent, root.Parent.SpanID())
	for _, s := range tr.spans {
		if s.SpanContext.SpanID() == root.SpanContext.SpanID() {
			continue
		}
		_, ok := tr.byID[s.Parent.SpanID()]
		require.True(tr.t, ok, "span %q has a parent outside the trace: %s", s.Name, tr.dump())
		require.True(tr.t, tr.under(s, root), "span %q is not under %q", s.Name, root.Name)
	}
}

// postgres are the trace's Postgres statements (the pgx tracer's spans).
func (tr *spanTree) postgres() tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range tr.spans {
		for _, a := range s.Attributes {
			if a.Key == "db.query.text" {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// dump draws the trace as an indented tree, for failure messages.
func (tr *spanTree) dump() string {
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		fmt.Fprintf(&b, "\n%s%s [%s]", strings.Repeat("  ", depth), s.Name, s.SpanKind)
		for _, c := range tr.spans {
			if c.Parent.SpanID() == s.SpanContext.SpanID() {
				walk(c, depth+1)
			}
		}
	}
	for _, s := range tr.spans {
		if _, ok := tr.byID[s.Parent.SpanID()]; !ok {
			walk(s, 0)
		}
	}
	return b.String()
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

// One chat turn with a tool call is one trace, continuing the caller's traceparent: the POST,
// the workflow start, the workflow, the LLM activities with their Ollama calls, the tool activity
// with its MCP call, and the MCP server's span as that call's child; the API's and the worker's
// Postgres statements are in it too. The access log line names the trace next to the request id.
func TestChatTurnIsOneTrace(t *testing.T) {
	t.Parallel()
	p := startTraced(t)
	c := p.signup("tracy")
	r, err := c.Do(context.Background(), "POST", "/v1/sessions", map[string]any{"title": "traced", "tools": []string{"time_now"}}, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	sid := jsonOf(t, r)["id"].(string)

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	callerSpan, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	r, err = c.Do(context.Background(), "POST", "/v1/sessions/"+sid+"/messages",
		map[string]any{"content": `what time is it? call time_now {"timezone":"UTC"}`},
		map[string]string{"traceparent": "00-" + traceID.String() + "-" + callerSpan.String() + "-01", "X-Request-ID": "trace-chat-1"})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	waitFor(t, c, jsonOf(t, r)["events_url"].(string), "turn.completed")

	tr := traceOf(t, traceID, "RunWorkflow:ChatTurn", "POST /mcp", "RunActivity:CallTool")
	post := tr.one("POST /v1/sessions/:id/messages")
	require.Equal(t, trace.SpanKindServer, post.SpanKind)
	require.True(t, post.Parent.IsRemote(), "the POST continues the caller's span")
	require.Equal(t, "trace-chat-1", attr(post, "youworker.request_id"))
	tr.requireConnected(post, callerSpan)

	start := tr.one("StartWorkflow:ChatTurn")
	tr.requireChild(start, post)
	run := tr.one("RunWorkflow:ChatTurn")
	tr.requireChild(run, start)

	// The model asks for the tool, then answers: two LLM activities, each calling Ollama.
	generations := tr.named("RunActivity:Generate")
	require.Len(t, generations, 2, tr.dump())
	chats := tr.named("POST /api/chat")
	require.Len(t, chats, 2, tr.dump())
	for _, chat := range chats {
		require.Equal(t, trace.SpanKindClient, chat.SpanKind)
		require.Equal(t, "ollama", attr(chat, "peer.service"))
		gen, ok := tr.nearest(chat, "RunActivity:")
		require.True(t, ok)
		require.Equal(t, "RunActivity:Generate", gen.Name, tr.dump())
		require.True(t, tr.under(gen, run))
	}

	// The tool activity calls the MCP server; the server's request span is that call's child and
	// the tool's own span the request's. Every MCP request (the tool list the first LLM activity
	// fetches too) is the child of the worker's MCP span that made it.
	tool := tr.one("RunActivity:CallTool")
	require.True(t, tr.under(tool, run))
	calls := tr.named("tools/call time_now")
	require.Len(t, calls, 2, "the worker's call and the server's tool span: %s", tr.dump())
	var client, server tracetest.SpanStub
	for _, s := range calls {
		if s.SpanKind == trace.SpanKindClient {
			client = s
		} else {
			server = s
		}
	}
	tr.requireChild(client, tool)
	require.Equal(t, "datetime", attr(client, "youworker.mcp.server"))
	require.Equal(t, "time_now", attr(server, "gen_ai.tool.name"))
	handler := tr.byID[server.Parent.SpanID()]
	require.Equal(t, "POST /mcp", handler.Name, tr.dump())
	require.Equal(t, trace.SpanKindServer, handler.SpanKind)
	tr.requireChild(handler, client)
	for _, h := range tr.named("POST /mcp") {
		caller := tr.byID[h.Parent.SpanID()]
		require.True(t, strings.HasPrefix(caller.Name, "tools/") && caller.SpanKind == trace.SpanKindClient,
			"an MCP request without the worker's MCP span: %s", tr.dump())
	}

	// Postgres: the API's writes under the POST, the worker's under its activities.
	var apiSQL, workerSQL bool
	for _, s := range tr.postgres() {
		require.Equal(t, trace.SpanKindClient, s.SpanKind)
		if _, ok := tr.nearest(s, "RunActivity:"); ok {
			workerSQL = true
		} else if s.Parent.SpanID() == post.SpanContext.SpanID() {
			apiSQL = true
		}
	}
	require.True(t, apiSQL, "no Postgres statement of the API in %s", tr.dump())
	require.True(t, workerSQL, "no Postgres statement of the worker in %s", tr.dump())

	// The access log line of the POST carries the trace and the request id.
	line := logLine(t, p.logs, func(m map[string]any) bool {
		return m["msg"] == "request" && m["route"] == "/v1/sessions/:id/messages"
	})
	require.Equal(t, "trace-chat-1", line["request_id"])
	require.Equal(t, traceID.String(), line["trace_id"])
	require.Equal(t, post.SpanContext.SpanID().String(), line["span_id"])
}

// One ingestion is one trace that begins at the API: the POST, the workflow, its activities, the
// embedding calls to Ollama, the upserts to Qdrant and the Postgres statements.
func TestIngestionIsOneTrace(t *testing.T) {
	t.Parallel()
	p := startTraced(t)
	post := ingested(t, p.signup("ingrid"), "trace-ingest-1",
		map[string]any{"title": "notes", "text": "Durable ingestion keeps every page. Traces show each step of it."})
	tr := traceOf(t, post.SpanContext.TraceID(), "RunWorkflow:IngestDocument", "POST /api/embed", "qdrant.Points/Upsert")
	require.False(t, post.Parent.IsValid(), "without a traceparent the trace begins at the API")
	tr.requireConnected(post, trace.SpanID{})

	start := tr.one("StartWorkflow:IngestDocument")
	tr.requireChild(start, post)
	run := tr.one("RunWorkflow:IngestDocument")
	tr.requireChild(run, start)

	for _, name := range []string{"POST /api/embed", "qdrant.Points/Upsert"} {
		for _, s := range tr.named(name) {
			require.Equal(t, trace.SpanKindClient, s.SpanKind)
			act, ok := tr.nearest(s, "RunActivity:")
			require.True(t, ok, "%q outside an activity: %s", name, tr.dump())
			require.True(t, tr.under(act, run))
		}
	}
	var workerSQL int
	for _, s := range tr.postgres() {
		if act, ok := tr.nearest(s, "RunActivity:"); ok && tr.under(act, run) {
			workerSQL++
		}
	}
	require.Positive(t, workerSQL, "no Postgres statement of the ingestion's activities in %s", tr.dump())
}

// ingested posts body to /v1/ingest as c with the request id, waits until the run completed and
// returns the POST's span, the root of the ingestion's trace.
func ingested(t *testing.T, c *apitest.Client, requestID string, body map[string]any) tracetest.SpanStub {
	t.Helper()
	r, err := c.Do(context.Background(), "POST", "/v1/ingest", body, map[string]string{"X-Request-ID": requestID})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	waitFor(t, c, jsonOf(t, r)["events_url"].(string), "run.completed")
	var post tracetest.SpanStub
	require.Eventually(t, func() bool {
		for _, s := range spans.GetSpans() {
			if s.Name == "POST /v1/ingest" && attr(s, "youworker.request_id") == requestID {
				post = s
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	return post
}

// TestURLIngestionTracesFetchAndTools: a document ingested from a URL shows its fetch (a client
// span naming the host, nothing of the path or query) and each run of an extraction tool in the
// ingestion's trace, under the activities that made them.
func TestURLIngestionTracesFetchAndTools(t *testing.T) {
	t.Parallel()
	pdf, err := fixtures.PDF(fixtures.PDFOptions{Title: "report", Pages: []string{"Quarterly figures, traced from fetch to index."}})
	require.NoError(t, err)
	var traceparents []string
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write(pdf)
	}))
	t.Cleanup(docs.Close)
	p := startTraced(t)
	post := ingested(t, p.signup("ursula"), "trace-ingest-url", map[string]any{"url": docs.URL + "/private/q3-report.pdf?token=s3cret"})
	tr := traceOf(t, post.SpanContext.TraceID(), "RunWorkflow:IngestDocument", "GET", "exec pdftotext")
	run := tr.one("RunWorkflow:IngestDocument")
	for _, name := range []string{"GET", "exec pdftotext"} {
		for _, s := range tr.named(name) {
			act, ok := tr.nearest(s, "RunActivity:")
			require.True(t, ok, "%q outside an activity: %s", name, tr.dump())
			require.True(t, tr.under(act, run))
		}
	}
	get := tr.named("GET")[0]
	require.Equal(t, trace.SpanKindClient, get.SpanKind)
	require.Equal(t, "127.0.0.1", attr(get, "server.address"))
	require.Equal(t, "200", attr(get, "http.response.status_code"))
	for _, s := range tr.spans {
		for _, a := range s.Attributes {
			require.NotContains(t, a.Value.String(), "s3cret", "span %q attribute %s carries the fetched URL", s.Name, a.Key)
			require.NotContains(t, a.Value.String(), "q3-report", "span %q attribute %s carries the fetched URL", s.Name, a.Key)
		}
	}
	require.Equal(t, "0", attr(tr.named("exec pdftotext")[0], "process.exit.code"))
	for _, tp := range traceparents {
		require.Empty(t, tp, "the fetched host received the trace context")
	}
}

// logLine is the first JSON log record match accepts.
func logLine(t *testing.T, logs *testenv.Buffer, match func(map[string]any) bool) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader([]byte(logs.String())))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && match(m) {
			return m
		}
	}
	t.Fatalf("no such log line in:\n%s", logs)
	return nil
}
