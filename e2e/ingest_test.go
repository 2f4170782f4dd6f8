package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/apitest"
	"github.com/youworker/youworker/extract/fixtures"
	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/vectors"
	"github.com/youworker/youworker/workflows"
)

// upload posts a multipart document and returns the ingestion response.
func (u *user) upload(filename string, content []byte, fields map[string]string) reply {
	u.p.t.Helper()
	return u.uploadWith(filename, content, fields, nil)
}

// uploadWith is upload with extra request headers.
func (u *user) uploadWith(filename string, content []byte, fields, headers map[string]string) reply {
	u.p.t.Helper()
	cl := apitest.Client{Base: u.p.apiURL, Token: u.token}
	r, err := cl.Upload(context.Background(), "/v1/documents", filename, content, fields, headers)
	require.NoError(u.p.t, err)
	return reply{status: r.Status, header: r.Header, body: r.Body}
}

// ingested waits for a run to finish and returns its terminal event.
func (u *user) ingested(r reply, timeout time.Duration) (docID string, last sseEvent) {
	u.p.t.Helper()
	require.Equal(u.p.t, http.StatusAccepted, r.status, "%s", r.body)
	m := r.json(u.p.t)
	evs := collect(u.p.t, must(u.stream(context.Background(), m["events_url"].(string), 0)), timeout)
	return m["document_id"].(string), evs[len(evs)-1]
}

func (u *user) search(query string) []map[string]any {
	u.p.t.Helper()
	r := u.do("POST", "/v1/search", map[string]any{"query": query, "top_k": 5})
	require.Equal(u.p.t, http.StatusOK, r.status, "%s", r.body)
	var out []map[string]any
	for _, it := range r.json(u.p.t)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestIngestEveryFormat ingests Markdown, HTML (fetched from a loopback server allowed for this
// test), PDF, DOCX and a PNG through OCR; each becomes ready and a search for one of its sentences
// returns it first.
func TestIngestEveryFormat(t *testing.T) {
	t.Parallel()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Harbour guide</title><script>var secret = "script text must vanish";</script></head>
<body><h1>Harbour guide</h1><p>The lighthouse keeper polishes brass lanterns every stormy evening.</p></body></html>`)
	}))
	defer page.Close()
	// Small chunks, so that the PDF's second page starts a chunk of its own.
	p := newPlatform(t, map[string]string{"SSRF_ALLOW": "127.0.0.1", "CHUNK_MAX_TOKENS": "20", "CHUNK_OVERLAP": "0"}).start()
	u := p.signup("olivia")

	pdf, err := fixtures.PDF(fixtures.PDFOptions{Title: "Orchard report", Pages: []string{
		"This report describes the orchard on the southern hillside and its careful owners. " +
			"It covers pruning, watering and the harvest calendar of every tree in detail.", "Apricot trees bloom early when the valley frost lifts."}})
	require.NoError(t, err)
	docx, err := fixtures.DOCX(fixtures.Para("Heading1", "Kitchen manual")+
		fixtures.Para("", "Copper saucepans need gentle cleaning with lemon and salt."), "Kitchen manual", "")
	require.NoError(t, err)
	png, err := fixtures.PNG("Penguins waddle across glaciers", 48)
	require.NoError(t, err)

	cases := []struct {
		name, query string
		start       func() reply
	}{
		{"markdown", "violin bows horsehair rosin", func() reply {
			return u.upload("notes.md", []byte("# Music notes\n\nViolin bows use horsehair and rosin for grip.\n"), nil)
		}},
		{"html", "lighthouse keeper polishes brass lanterns", func() reply {
			return u.do("POST", "/v1/ingest", map[string]any{"url": page.URL + "/guide.html"})
		}},
		{"pdf", "apricot trees bloom early valley frost", func() reply { return u.upload("orchard.pdf", pdf, nil) }},
		{"docx", "copper saucepans lemon salt cleaning", func() reply { return u.upload("kitchen.docx", docx, nil) }},
		{"png", "penguins waddle across glaciers", func() reply { return u.upload("snow.png", png, nil) }},
	}
	docs := map[string]string{}
	for _, tc := range cases {
		id, last := u.ingested(tc.start(), 60*time.Second)
		require.Equal(t, "run.completed", last.Type, "%s: %v", tc.name, last.Data)
		docs[tc.name] = id
		d := u.do("GET", "/v1/documents/"+id, nil).json(t)
		require.Equal(t, "ready", d["status"], tc.name)
		require.Positive(t, d["chunk_count"], tc.name)
	}
	for _, tc := range cases {
		hits := u.search(tc.query)
		require.NotEmpty(t, hits, tc.name)
		require.Equal(t, docs[tc.name], hits[0]["document_id"], "%s: %v", tc.name, hits)
	}
	html := u.do("GET", "/v1/documents/"+docs["html"], nil).json(t)
	require.Equal(t, "Harbour guide", html["title"])
	for _, h := range u.search("script text must vanish") {
		require.NotContains(t, h["text"], "script text must vanish", "scripts are dropped from HTML")
	}
	for _, h := range u.search("apricot trees bloom") {
		if h["document_id"] == docs["pdf"] {
			require.EqualValues(t, 2, h["page"], "citations carry the page")
			break
		}
	}
}

// TestEmbedderFailuresDoNotDuplicate: with the embedder failing 30% of calls, a 500-chunk document
// completes with exactly one vector per chunk.
func TestEmbedderFailuresDoNotDuplicate(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0"})
	p.ollama.SetFaults("embed", ollama.Faults{FailRate: 0.3, Seed: 7})
	p.start()
	u := p.signup("pablo")
	id, last := u.ingested(u.do("POST", "/v1/ingest", map[string]any{"text": bigText(500), "title": "big"}), 120*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)
	doc := u.do("GET", "/v1/documents/"+id, nil).json(t)
	chunks := int(doc["chunk_count"].(float64))
	require.GreaterOrEqual(t, chunks, 450)
	require.Equal(t, chunks, countVectors(t, p, id))
	require.Positive(t, p.ollama.Stats().FailuresInjected)
}

// bigText is n paragraphs of about 30 words, each with a unique marker word.
func bigText(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Paragraph marker%d talks about the durable ingestion of long documents, with retries, batches, "+
			"heartbeats and vectors that must never be duplicated when a worker dies in the middle.\n\n", i)
	}
	return b.String()
}

// countVectors opens the platform's embedded vector store and counts a document's points.
func countVectors(t *testing.T, p *platform, docID string) int {
	t.Helper()
	vs, err := vectors.OpenSQLite(filepath.Join(p.env["DATA_DIR"], "vectors.db"))
	require.NoError(t, err)
	defer vs.Close()
	n, err := vs.CountDocument(context.Background(), vectors.Collection{Model: "nomic-embed-text", Dim: 768}, uuid.MustParse(docID))
	require.NoError(t, err)
	return n
}

// TestWorkerKilledMidEmbed SIGKILLs the worker while a document is being embedded: after a new
// worker starts the run completes, and the embedder saw fewer than chunks + 2 batches of texts.
func TestWorkerKilledMidEmbed(t *testing.T) {
	t.Parallel()
	// Small slices, so that the run embeds and indexes in several activities each.
	p := newPlatform(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0", "EMBED_CONCURRENCY": "1", "INGEST_SLICE_CHUNKS": "64"})
	p.ollama.SetEmbedDelay(40 * time.Millisecond)
	w := p.startWorker()
	p.startAPI()
	u := p.signup("quinn")
	r := u.do("POST", "/v1/ingest", map[string]any{"text": bigText(300), "title": "killed"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Eventually(t, func() bool { return p.ollama.Stats().EmbedTexts >= 100 }, 60*time.Second, 10*time.Millisecond)
	w.kill()
	p.startWorker()
	id, last := u.ingested(r, 120*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)
	chunks := int(u.do("GET", "/v1/documents/"+id, nil).json(t)["chunk_count"].(float64))
	require.Equal(t, chunks, countVectors(t, p, id))
	require.Less(t, p.ollama.Stats().EmbedTexts, int64(chunks+2*16), "embedding resumed after the last saved batch")
	run := u.do("GET", "/v1/ingestion-runs/"+r.json(t)["ingestion_run_id"].(string), nil).json(t)
	require.GreaterOrEqual(t, run["attempts"], float64(2))
	recordHistory(t, p, ingestWorkflowID(t, r), "ingest_worker_killed")
}

// ingestWorkflowID is the workflow id of the ingestion run an ingest or upload reply started.
func ingestWorkflowID(t *testing.T, r reply) string {
	t.Helper()
	return workflows.IngestID(r.json(t)["ingestion_run_id"].(string))
}

// TestTenantsCannotSeeEachOther: user B never finds user A's canary, and cannot read, cancel or
// delete A's document or run.
func TestTenantsCannotSeeEachOther(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	a := p.signup("alma")
	b := p.signup("boris")
	r := a.do("POST", "/v1/ingest", map[string]any{"text": "The canary word is zanzibarquokka and it is secret.", "title": "A secret"})
	docID, last := a.ingested(r, 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	runID := r.json(t)["ingestion_run_id"].(string)
	require.NotEmpty(t, a.search("zanzibarquokka"))

	for _, h := range b.search("The canary word is zanzibarquokka and it is secret.") {
		require.NotEqual(t, docID, h["document_id"])
		require.NotContains(t, h["text"], "zanzibarquokka")
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/documents/" + docID},
		{"DELETE", "/v1/documents/" + docID},
		{"GET", "/v1/ingestion-runs/" + runID},
		{"GET", "/v1/ingestion-runs/" + runID + "/events"},
		{"POST", "/v1/ingestion-runs/" + runID + "/cancel"},
	} {
		resp := b.do(c.method, c.path, nil)
		require.Equal(t, http.StatusNotFound, resp.status, "%s %s: %s", c.method, c.path, resp.body)
	}
	require.Empty(t, b.do("GET", "/v1/documents", nil).json(t)["items"])
	require.Empty(t, b.do("GET", "/v1/ingestion-runs", nil).json(t)["items"])
	require.Equal(t, "ready", a.do("GET", "/v1/documents/"+docID, nil).json(t)["status"], "nothing changed")
}

func TestURLIngestRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("rosa")
	for _, url := range []string{
		"http://127.0.0.1:1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0/", "http://2130706433/", "http://0177.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1:25/",
	} {
		r := u.do("POST", "/v1/ingest", map[string]any{"url": url})
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", url, r.body)
	}
	require.Empty(t, u.do("GET", "/v1/documents", nil).json(t)["items"], "nothing was created")
}

func TestUploadLimitsAndNames(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"MAX_UPLOAD_BYTES": "4096"}).start()
	u := p.signup("sami")
	big := u.upload("big.txt", bytes.Repeat([]byte("a "), 10_000), nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, big.status, "%s", big.body)
	bin := u.upload("tool.exe", []byte{0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0xff, 0xff, 0, 0, 0xb8, 0, 0, 0, 0, 0, 0x40}, nil)
	require.Equal(t, http.StatusUnsupportedMediaType, bin.status, "%s", bin.body)
	evil := u.upload("../../etc/passwd", []byte("root:x:0:0:root:/root:/bin/bash\n"), nil)
	id, last := u.ingested(evil, 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	d := u.do("GET", "/v1/documents/"+id, nil).json(t)
	require.Equal(t, "passwd", d["original_filename"], "only the base name is kept, as metadata")
	require.Empty(t, u.do("GET", "/v1/documents?limit=10", nil).json(t)["items"].([]any)[1:], "the refused uploads created nothing")
}

func TestReingestingIdenticalContentAddsNothing(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("tara")
	text := "Identical content about marmalade and sourdough, ingested twice."
	r1 := u.do("POST", "/v1/ingest", map[string]any{"text": text})
	first, last := u.ingested(r1, 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	r2 := u.do("POST", "/v1/ingest", map[string]any{"text": text})
	second, last := u.ingested(r2, 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	var stages []string
	evs := collect(t, must(u.stream(context.Background(), r1.json(t)["events_url"].(string), 0)), 10*time.Second)
	for _, e := range evs {
		if e.Type == "stage" {
			stages = append(stages, e.Data["stage"].(string))
		}
	}
	require.Equal(t, "run.started", evs[0].Type)
	require.Equal(t, []string{"fetch", "extract", "chunk", "embed", "index"}, stages, "every stage is announced once, in order")
	recordHistory(t, p, ingestWorkflowID(t, r1), "ingest_completed")
	recordHistory(t, p, ingestWorkflowID(t, r2), "ingest_duplicate")
	require.Equal(t, first, last.Data["duplicate_of"])
	d := u.do("GET", "/v1/documents/"+second, nil).json(t)
	require.Equal(t, first, d["duplicate_of"])
	require.Zero(t, countVectors(t, p, second))
	require.Len(t, u.search("marmalade sourdough"), 1)
}

func TestCancelAndDeleteRemoveVectors(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0", "EMBED_CONCURRENCY": "1"})
	p.ollama.SetEmbedDelay(50 * time.Millisecond)
	p.start()
	u := p.signup("ulla")
	r := u.do("POST", "/v1/ingest", map[string]any{"text": bigText(200), "title": "to cancel"})
	require.Equal(t, http.StatusAccepted, r.status)
	runID := r.json(t)["ingestion_run_id"].(string)
	require.Eventually(t, func() bool { return p.ollama.Stats().EmbedTexts >= 32 }, 60*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusAccepted, u.do("POST", "/v1/ingestion-runs/"+runID+"/cancel", nil).status)
	id, last := u.ingested(r, 30*time.Second)
	require.Equal(t, "run.cancelled", last.Type)
	recordHistory(t, p, ingestWorkflowID(t, r), "ingest_cancelled")
	require.Equal(t, "cancelled", u.do("GET", "/v1/documents/"+id, nil).json(t)["status"])
	require.Zero(t, countVectors(t, p, id))

	p.ollama.SetEmbedDelay(0)
	id2, last := u.ingested(u.do("POST", "/v1/ingest", map[string]any{"text": "A short note about kites and wind."}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	require.Positive(t, countVectors(t, p, id2))
	require.Equal(t, http.StatusNoContent, u.do("DELETE", "/v1/documents/"+id2, nil).status)
	require.Zero(t, countVectors(t, p, id2))
	require.Equal(t, http.StatusNotFound, u.do("GET", "/v1/documents/"+id2, nil).status)
	require.Empty(t, u.search("kites and wind"))
}

// TestKnowledgeSearchTool: in a chat turn the model calls knowledge_search (semantic MCP server);
// it finds the caller's document and never another user's, whatever the model asks for, because
// the worker passes the caller's identity out of band.
func TestKnowledgeSearchTool(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"TOOLS_AUTO_APPROVE": "ingest_url"}) // outbound: it would wait for approval
	p.startMCP("semantic", "ingest")
	p.start()
	a := p.signup("vera")
	b := p.signup("walt")
	_, last := a.ingested(a.do("POST", "/v1/ingest", map[string]any{"text": "Vera keeps her bicycle in the blue shed behind the bakery.", "title": "Vera notes"}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	_, last = b.ingested(b.do("POST", "/v1/ingest", map[string]any{"text": "Walt hides the spare key under the blue shed flowerpot.", "title": "Walt notes"}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)

	sid := a.newSession([]string{"knowledge_search"})
	_, events := a.send(sid, `where is it? call knowledge_search {"query": "blue shed", "top_k": 5}`)
	evs := collect(t, must(a.stream(context.Background(), events, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
	var result string
	for _, e := range evs {
		if e.Type == "tool.result" {
			require.Equal(t, "succeeded", e.Data["status"])
			result = e.Data["content"].(string)
		}
	}
	require.Contains(t, result, "bicycle")
	require.Contains(t, result, "Vera notes")
	require.NotContains(t, result, "spare key", "another user's document never reaches the tool")

	// ingest_url starts an ingestion for the calling user.
	sid2 := b.newSession([]string{"ingest_url"})
	_, events = b.send(sid2, `call ingest_url {"url": "http://169.254.169.254/latest/"}`)
	evs = collect(t, must(b.stream(context.Background(), events, 0)), 60*time.Second)
	for _, e := range evs {
		if e.Type == "tool.result" {
			require.Equal(t, "failed", e.Data["status"], "the SSRF guard refuses the metadata address")
			require.Contains(t, e.Data["content"], "cannot be fetched")
		}
	}
}
