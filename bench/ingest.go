package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

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
	SearchPoints       int     `json:"search_points"`
	SearchP50          float64 `json:"p50_ms"`
	SearchP95          float64 `json:"p95_ms"`
	SearchTenantP50    float64 `json:"tenant_p50_ms"`
	SearchTenantP95    float64 `json:"tenant_p95_ms"`
	InsertSeconds      float64 `json:"search_insert_seconds"`
}

func runIngest(docs int, embedDelay time.Duration, searchPoints int, out, bin string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, stop, err := platform(ctx, bin, fmt.Sprintf("EMBED_BATCH=%d", benchEmbedBatch),
		fmt.Sprintf("EMBED_CONCURRENCY=%d", benchEmbedConcurrency), "CHUNK_MAX_TOKENS=256", "CHUNK_OVERLAP=32")
	if err != nil {
		return err
	}
	defer stop()
	e.standin.SetEmbedDelay(embedDelay)

	corpus := make([]string, docs)
	bytes := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range corpus {
		corpus[i] = document(rng, i)
		bytes += len(corpus[i])
	}
	fmt.Printf("\ningesting %d documents (%.1f MB) with the stand-in embedder at %s per batch of %d, %d batches in flight\n",
		docs, float64(bytes)/1e6, embedDelay, benchEmbedBatch, benchEmbedConcurrency)

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
		return err
	}
	db, err := sql.Open("pgx", e.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var done, failed, chunks int
	for {
		if err := db.QueryRow(`SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status IN ('failed', 'cancelled'))
			FROM ingestion_runs`).Scan(&done, &failed); err != nil {
			return err
		}
		if done+failed >= docs {
			break
		}
		fmt.Printf("\r  %d/%d runs finished", done+failed, docs)
		time.Sleep(500 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if err := db.QueryRow(`SELECT coalesce(sum(chunk_count), 0) FROM documents WHERE status = 'ready'`).Scan(&chunks); err != nil {
		return err
	}
	fmt.Println()
	r := IngestResult{Documents: docs, CorpusMB: float64(bytes) / 1e6, Chunks: chunks, Seconds: elapsed.Seconds(),
		ChunksPerS: float64(chunks) / elapsed.Seconds(), EmbedDelayMS: ms(embedDelay), EmbedBatch: benchEmbedBatch,
		EmbedConcurrency: benchEmbedConcurrency, Failed: failed}
	r.EmbedderBound = float64(benchEmbedConcurrency*benchEmbedBatch) / embedDelay.Seconds()
	r.PipelineEfficiency = r.ChunksPerS / r.EmbedderBound

	if err := searchBench(&r, searchPoints); err != nil {
		return err
	}
	fmt.Printf("\n%-10s %8s %10s %14s %10s   %-28s\n", "documents", "chunks", "chunks/s", "embedder bound", "efficiency", "search p50 / p95 (tenant)")
	fmt.Printf("%-10d %8d %10.1f %14.1f %10.2f   %.1f / %.1f ms (%.1f / %.1f ms)\n", r.Documents, r.Chunks, r.ChunksPerS,
		r.EmbedderBound, r.PipelineEfficiency, r.SearchP50, r.SearchP95, r.SearchTenantP50, r.SearchTenantP95)
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
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
