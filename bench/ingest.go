package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/extract/fixtures"

	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/vectors"
)

const (
	benchEmbedBatch       = 8
	benchEmbedConcurrency = 4
	paragraphsPerDoc      = 8 // each ~200 tokens: one chunk each, one full embedding batch per document
)

// IngestResult is what bench/results/ingest.json records.
type IngestResult struct {
	Commit             string  `json:"commit"`      // what was measured (git describe --dirty)
	MeasuredAt         string  `json:"measured_at"` // when (UTC)
	Cores              int     `json:"cores"`
	Documents          int     `json:"documents"`
	CorpusMB           float64 `json:"corpus_mb"`
	Chunks             int     `json:"chunks"`
	Seconds            float64 `json:"seconds"`
	ChunksPerS         float64 `json:"chunks_per_s"`
	EmbedderBound      float64 `json:"embedder_bound_chunks_per_s"`
	PipelineEfficiency float64 `json:"pipeline_efficiency"`
	EmbedDelayMS       float64 `json:"embed_delay_ms"`
	EmbedBatch         int     `json:"embed_batch"`
	EmbedConcurrency   int     `json:"embed_concurrency"`
	Failed             int     `json:"failed_runs"`
	// How long one run took, from its creation (the POST) to its end, and the tail: the time
	// from when 99% of the runs had finished until the last did.
	RunP50Seconds   float64 `json:"run_p50_seconds"`
	RunP99Seconds   float64 `json:"run_p99_seconds"`
	RunMaxSeconds   float64 `json:"run_max_seconds"`
	TailSeconds     float64 `json:"tail_seconds"`
	SearchPoints    int     `json:"search_points"`
	SearchP50       float64 `json:"p50_ms"`
	SearchP95       float64 `json:"p95_ms"`
	SearchTenantP50 float64 `json:"tenant_p50_ms"`
	SearchTenantP95 float64 `json:"tenant_p95_ms"`
	InsertSeconds   float64 `json:"search_insert_seconds"`
	// PDF is the time from uploading one 50-page PDF to finding its last page in a search.
	PDF PDFResult `json:"pdf_50_pages"`
	// Sweep is a smaller corpus ingested at EMBED_CONCURRENCY 1, 2 and 4: chunks/s follows the
	// embedder's capacity while the platform keeps up.
	Sweep []SweepResult `json:"embed_concurrency_sweep"`
}

// PDFResult is upload-to-searchable of a 50-page PDF over several runs.
type PDFResult struct {
	Pages      int     `json:"pages"`
	Runs       int     `json:"runs"`
	Chunks     int     `json:"chunks"`
	P50Seconds float64 `json:"p50_seconds"`
	MinSeconds float64 `json:"min_seconds"`
	MaxSeconds float64 `json:"max_seconds"`
}

// SweepResult is one EMBED_CONCURRENCY of the sweep.
type SweepResult struct {
	EmbedConcurrency   int     `json:"embed_concurrency"`
	Documents          int     `json:"documents"`
	Chunks             int     `json:"chunks"`
	ChunksPerS         float64 `json:"chunks_per_s"`
	EmbedderBound      float64 `json:"embedder_bound_chunks_per_s"`
	PipelineEfficiency float64 `json:"pipeline_efficiency"`
}

func runIngest(docs, sweepDocs, pdfRuns int, embedDelay time.Duration, searchPoints int, out, bin string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := IngestResult{Commit: gitCommit(), MeasuredAt: time.Now().UTC().Format(time.RFC3339), Cores: runtime.NumCPU(),
		EmbedDelayMS: ms(embedDelay), EmbedBatch: benchEmbedBatch, EmbedConcurrency: benchEmbedConcurrency}
	err := withIngestPlatform(ctx, bin, benchEmbedConcurrency, embedDelay, func(e *env) error {
		c, err := ingestCorpus(e, docs, embedDelay, benchEmbedConcurrency)
		if err != nil {
			return err
		}
		r.Documents, r.CorpusMB, r.Chunks, r.Seconds, r.Failed = c.docs, c.mb, c.chunks, c.seconds, c.failed
		r.ChunksPerS, r.EmbedderBound, r.PipelineEfficiency = c.chunksPerS, c.bound, c.chunksPerS/c.bound
		r.RunP50Seconds, r.RunP99Seconds, r.RunMaxSeconds, r.TailSeconds = c.runP50, c.runP99, c.runMax, c.tail
		r.PDF, err = pdfToSearchable(e, pdfRuns)
		return err
	})
	if err != nil {
		return err
	}
	for _, conc := range []int{1, 2, 4} {
		err := withIngestPlatform(ctx, bin, conc, embedDelay, func(e *env) error {
			c, err := ingestCorpus(e, sweepDocs, embedDelay, conc)
			r.Sweep = append(r.Sweep, SweepResult{EmbedConcurrency: conc, Documents: c.docs, Chunks: c.chunks,
				ChunksPerS: c.chunksPerS, EmbedderBound: c.bound, PipelineEfficiency: c.chunksPerS / c.bound})
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := searchBench(&r, searchPoints); err != nil {
		return err
	}
	fmt.Printf("\n%-10s %8s %10s %14s %10s   %-28s\n", "documents", "chunks", "chunks/s", "embedder bound", "efficiency", "search p50 / p95 (tenant)")
	fmt.Printf("%-10d %8d %10.1f %14.1f %10.2f   %.1f / %.1f ms (%.1f / %.1f ms)\n", r.Documents, r.Chunks, r.ChunksPerS,
		r.EmbedderBound, r.PipelineEfficiency, r.SearchP50, r.SearchP95, r.SearchTenantP50, r.SearchTenantP95)
	for _, sw := range r.Sweep {
		fmt.Printf("EMBED_CONCURRENCY=%d: %d documents, %.1f chunks/s of %.1f (%.2f)\n", sw.EmbedConcurrency, sw.Documents,
			sw.ChunksPerS, sw.EmbedderBound, sw.PipelineEfficiency)
	}
	fmt.Printf("50-page PDF, upload to searchable: p50 %.2f s (%.2f–%.2f s over %d runs, %d chunks)\n", r.PDF.P50Seconds,
		r.PDF.MinSeconds, r.PDF.MaxSeconds, r.PDF.Runs, r.PDF.Chunks)
	return writeResults(out, r)
}

// withIngestPlatform runs fn on a fresh platform whose worker embeds EMBED_BATCH=8 texts per
// request, conc requests at once, against the stand-in embedder at delay per request.
func withIngestPlatform(ctx context.Context, bin string, conc int, delay time.Duration, fn func(*env) error) error {
	e, stop, err := platform(ctx, bin, topology{}, fmt.Sprintf("EMBED_BATCH=%d", benchEmbedBatch),
		fmt.Sprintf("EMBED_CONCURRENCY=%d", conc), "CHUNK_MAX_TOKENS=256", "CHUNK_OVERLAP=32")
	if err != nil {
		return err
	}
	defer stop()
	e.standin.SetEmbedDelay(delay)
	return fn(e)
}

// corpusRun is what ingesting a corpus measured.
type corpusRun struct {
	docs, chunks, failed           int
	mb, seconds, chunksPerS, bound float64
	runP50, runP99, runMax, tail   float64
}

// ingestCorpus posts docs generated documents (8 clients at once) and waits until every run has
// finished: chunks/s against what the embedder allows at conc requests in flight.
func ingestCorpus(e *env, docs int, delay time.Duration, conc int) (corpusRun, error) {
	corpus := make([]string, docs)
	bytes := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range corpus {
		corpus[i] = document(rng, i)
		bytes += len(corpus[i])
	}
	c := corpusRun{docs: docs, mb: float64(bytes) / 1e6, bound: float64(conc*benchEmbedBatch) / delay.Seconds()}
	fmt.Printf("\ningesting %d documents (%.1f MB) with the stand-in embedder at %s per batch of %d, %d batches in flight\n",
		docs, c.mb, delay, benchEmbedBatch, conc)
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for text := range work {
				body, _ := json.Marshal(map[string]string{"text": text})
				if _, err := e.post("/v1/ingest", string(body)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, text := range corpus {
		work <- text
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return c, err
	}
	db, err := sql.Open("pgx", e.dsn)
	if err != nil {
		return c, err
	}
	defer db.Close()
	var done int
	for {
		if err := db.QueryRow(`SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status IN ('failed', 'cancelled'))
			FROM ingestion_runs`).Scan(&done, &c.failed); err != nil {
			return c, err
		}
		if done+c.failed >= docs {
			break
		}
		fmt.Printf("\r  %d/%d runs finished", done+c.failed, docs)
		time.Sleep(500 * time.Millisecond)
	}
	c.seconds = time.Since(start).Seconds()
	fmt.Println()
	if err := db.QueryRow(`SELECT coalesce(sum(chunk_count), 0) FROM documents WHERE status = 'ready'`).Scan(&c.chunks); err != nil {
		return c, err
	}
	c.chunksPerS = float64(c.chunks) / c.seconds
	err = db.QueryRow(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d),
			extract(epoch FROM max(finished_at) - percentile_disc(0.99) WITHIN GROUP (ORDER BY finished_at))
		FROM (SELECT finished_at, extract(epoch FROM finished_at - created_at) AS d FROM ingestion_runs) r`).
		Scan(&c.runP50, &c.runP99, &c.runMax, &c.tail)
	return c, err
}

// pdfPages is the size of the PDF whose upload-to-searchable time the bench reports.
const pdfPages = 50

// pdfToSearchable uploads a 50-page PDF runs times (different words each time, so none is a
// duplicate) and times each from the start of the upload until a search of that document finds
// its last page.
func pdfToSearchable(e *env, runs int) (PDFResult, error) {
	res := PDFResult{Pages: pdfPages, Runs: runs}
	var took []float64
	rng := rand.New(rand.NewPCG(5, 6))
	for run := range runs {
		pages := make([]string, pdfPages)
		for i := range pages {
			var b strings.Builder
			fmt.Fprintf(&b, "Run %d page %d.", run, i+1)
			for range 300 {
				b.WriteByte(' ')
				b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
			}
			pages[i] = b.String()
		}
		marker := fmt.Sprintf("zebracorn%d finale", run)
		pages[pdfPages-1] += " The last page ends with " + marker + "."
		pdf, err := fixtures.PDF(fixtures.PDFOptions{Title: fmt.Sprintf("Bench report %d", run), Pages: pages})
		if err != nil {
			return res, err
		}
		start := time.Now()
		b, err := e.upload(fmt.Sprintf("report-%d.pdf", run), pdf)
		if err != nil {
			return res, err
		}
		var accepted struct {
			DocumentID string `json:"document_id"`
		}
		if err := json.Unmarshal(b, &accepted); err != nil {
			return res, err
		}
		// Searchable: a search of this document finds its last page (its chunks are indexed).
		query, _ := json.Marshal(map[string]any{"query": marker, "top_k": 5, "document_ids": []string{accepted.DocumentID}})
		for {
			b, err := e.post("/v1/search", string(query))
			if err != nil {
				return res, err
			}
			var hits struct {
				Items []struct {
					Page *int `json:"page"`
				} `json:"items"`
			}
			if err := json.Unmarshal(b, &hits); err != nil {
				return res, err
			}
			if slices.ContainsFunc(hits.Items, func(h struct {
				Page *int `json:"page"`
			}) bool {
				return h.Page != nil && *h.Page == pdfPages
			}) {
				break
			}
			if time.Since(start) > 5*time.Minute {
				return res, fmt.Errorf("the PDF of run %d was not searchable after 5 minutes", run)
			}
			time.Sleep(20 * time.Millisecond)
		}
		took = append(took, time.Since(start).Seconds())
	}
	db, err := sql.Open("pgx", e.dsn)
	if err != nil {
		return res, err
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT coalesce(max(chunk_count), 0) FROM documents WHERE content_type = 'application/pdf'`).Scan(&res.Chunks); err != nil {
		return res, err
	}
	res.P50Seconds, res.MinSeconds, res.MaxSeconds = pct(took, 50), slices.Min(took), slices.Max(took)
	return res, nil
}

// gitCommit names what is measured: the commit, marked dirty when the work tree has changes.
func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=7").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// document is paragraphsPerDoc paragraphs of about 200 tokens of pseudo-random words.
func document(rng *rand.Rand, i int) string {
	var b strings.Builder
	for p := range paragraphsPerDoc {
		fmt.Fprintf(&b, "Document %d paragraph %d.", i, p)
		for range 195 {
			b.WriteByte(' ')
			b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
		}
		b.WriteString(".\n\n")
	}
	return b.String()
}

var vocabulary = func() []string {
	syll := []string{"ka", "lo", "mi", "ren", "to", "sa", "vel", "quo", "dan", "pe", "ru", "zi"}
	var out []string
	for _, a := range syll {
		for _, b := range syll {
			out = append(out, a+b, a+b+"s")
		}
	}
	return out
}()

// searchBench fills an embedded store with searchPoints chunks and times top-10 searches: for a
// tenant that can read all of them (the worst case) and for a typical tenant (own chunks and three
// groups among a hundred users and twenty groups).
func searchBench(r *IngestResult, points int) error {
	dir, err := os.MkdirTemp("", "yw-bench-vectors-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	vs, err := vectors.OpenSQLite(filepath.Join(dir, "vectors.db"))
	if err != nil {
		return err
	}
	defer vs.Close()
	ctx := context.Background()
	coll := vectors.Collection{Model: "nomic-embed-text", Dim: 768}
	users := make([]uuid.UUID, 100)
	groups := make([]uuid.UUID, 20)
	for i := range users {
		users[i] = uuid.New()
	}
	for i := range groups {
		groups[i] = uuid.New()
	}
	whale := uuid.New() // owns the first half, so one tenant can read "everything" it owns
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Now()
	batch := make([]vectors.Point, 0, 500)
	doc := uuid.New()
	for i := range points {
		p := vectors.Point{ID: uuid.New(), DocumentID: doc, ChunkIndex: i % 1000}
		switch {
		case i < points/2:
			p.OwnerID = whale
		case i%2 == 0:
			p.OwnerID = users[rng.IntN(len(users))]
		default:
			p.OwnerID, p.GroupID = users[rng.IntN(len(users))], &groups[rng.IntN(len(groups))]
		}
		if i%1000 == 999 {
			doc = uuid.New()
		}
		p.Vector = ollama.Embed(fmt.Sprintf("chunk %d %s %s %s", i, vocabulary[rng.IntN(len(vocabulary))],
			vocabulary[rng.IntN(len(vocabulary))], vocabulary[rng.IntN(len(vocabulary))]), 768)
		batch = append(batch, p)
		if len(batch) == cap(batch) || i == points-1 {
			if err := vs.Upsert(ctx, coll, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	r.InsertSeconds = time.Since(start).Seconds()
	r.SearchPoints = points
	// The worst case: the whale reads its own half plus every group (all the group points).
	all, err := vectors.NewTenant(whale, groups)
	if err != nil {
		return err
	}
	typical, err := vectors.NewTenant(users[0], groups[:3])
	if err != nil {
		return err
	}
	for _, c := range []struct {
		t        vectors.Tenant
		p50, p95 *float64
	}{{all, &r.SearchP50, &r.SearchP95}, {typical, &r.SearchTenantP50, &r.SearchTenantP95}} {
		var lat []float64
		for q := range 60 {
			vec := ollama.Embed(fmt.Sprintf("query %d %s", q, vocabulary[q%len(vocabulary)]), 768)
			s := time.Now()
			if _, err := vs.Search(ctx, coll, c.t, vectors.Query{Vector: vec, TopK: 10}); err != nil {
				return err
			}
			lat = append(lat, ms(time.Since(s)))
		}
		*c.p50, *c.p95 = pct(lat, 50), pct(lat, 95)
	}
	return nil
}
