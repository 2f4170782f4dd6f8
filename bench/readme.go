package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The README's benchmark section is rendered from the results files between these markers, so
// the numbers it shows are always the ones last measured, with their commit and date.
const (
	readmeBegin = "<!-- bench:begin (make bench writes bench/results/*.json; make docs renders this section from them) -->\n"
	readmeEnd   = "<!-- bench:end -->"
	// clusterBegin marks docs/operations.md's copy of the cluster measurements.
	clusterBegin = "<!-- bench:begin (make bench writes bench/results/cluster.json; make docs renders this section from it) -->\n"
	// analyticsBegin marks docs/operations.md's analytics measurements.
	analyticsBegin = "<!-- bench:begin (make bench writes bench/results/analytics.json; make docs renders this section from it) -->\n"
)

// turnsFile is bench/results/turns.json.
type turnsFile struct {
	Commit      string `json:"commit"`
	MeasuredAt  string `json:"measured_at"`
	Cores       int    `json:"cores"`
	Concurrency int    `json:"concurrency"`
	ReplyTokens int    `json:"reply_tokens"`
	Delay0      Result `json:"delay_0ms"`
	Delay20     Result `json:"delay_20ms"`
}

// clusterFile is bench/results/cluster.json.
type clusterFile struct {
	Commit      string `json:"commit"`
	MeasuredAt  string `json:"measured_at"`
	Cores       int    `json:"cores"`
	Concurrency int    `json:"concurrency"`
	ReplyTokens int    `json:"reply_tokens"`
	Temporal    string `json:"temporal"`
	Workers1    Result `json:"workers_1"`
	Workers2    Result `json:"workers_2"`
}

// results are the results files of bench/results.
type results struct {
	turns     turnsFile
	ingest    IngestResult
	cluster   clusterFile
	analytics AnalyticsResult
}

// readResults reads the results files in dir.
func readResults(dir string) (results, error) {
	var r results
	for name, v := range map[string]any{"turns.json": &r.turns, "ingest.json": &r.ingest, "cluster.json": &r.cluster, "analytics.json": &r.analytics} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return r, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
	}
	return r, nil
}

// clusterSection renders the cluster measurements (README and docs/operations.md).
func clusterSection(c clusterFile) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("**Production topology** (%s): %s; %d-token replies at 20 ms per token, throughput with\n",
		measured(c.Commit, c.MeasuredAt, c.Cores), c.Temporal, c.ReplyTokens)
	w("%d concurrent sessions; the floor is a bare workflow on the same server:\n\n", c.Concurrency)
	w("| workers | turn p50 | turn p95 | floor p50 | ratio | TTFT p50 | floor TTFT | turns/s | floor/s | ratio |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		n int
		r Result
	}{{1, c.Workers1}, {2, c.Workers2}} {
		r := row.r
		w("| %d | %.1f ms | %.1f ms | %.1f ms | %.2f | %.1f ms | %.1f ms | %.1f | %.1f | %.2f |\n", row.n, r.TurnP50, r.TurnP95, r.FloorP50,
			r.TurnOverhead, r.TTFTP50, r.FloorTTFTP50, r.TurnsPerS, r.FloorPerS, r.ThroughputRatio)
	}
	w("\nCPU milliseconds per turn in the throughput runs, by process (turn | floor): 1 worker %s | %s; 2 workers %s | %s.\n",
		cpuLine(c.Workers1.TurnCPU), cpuLine(c.Workers1.FloorCPU), cpuLine(c.Workers2.TurnCPU), cpuLine(c.Workers2.FloorCPU))
	w("CPU per turn over the floor's: 1 worker %s; 2 workers %s.\n", cpuRatioText(c.Workers1), cpuRatioText(c.Workers2))
	return b.String()
}

// measured says what and when a results file measured.
func measured(commit, at string, cores int) string {
	if commit == "" {
		commit = "unknown"
	}
	date, _, _ := strings.Cut(at, "T")
	if date == "" {
		date = "an unknown date"
	}
	return fmt.Sprintf("commit `%s`, %s, %d cores", commit, date, cores)
}

// cpuRatioText is a run's CPU ratio with the ratio of each of its interleaved rounds.
func cpuRatioText(r Result) string {
	rounds := make([]string, len(r.CPURatioRounds))
	for i, x := range r.CPURatioRounds {
		rounds[i] = fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("**%.2f** (rounds %s)", r.CPURatio, strings.Join(rounds, ", "))
}

// readmeSection renders the benchmark section of the README from the results.
func readmeSection(res results) string {
	t, in := res.turns, res.ingest
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("**Chat turns** (%s; %d-token replies, throughput with %d concurrent sessions):\n\n",
		measured(t.Commit, t.MeasuredAt, t.Cores), t.ReplyTokens, t.Concurrency)
	w("| stand-in | turn p50 | floor p50 | ratio | TTFT p50 | floor TTFT | ratio | turns/s | floor/s | ratio |\n")
	w("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		label string
		r     Result
	}{{"20 ms/token", t.Delay20}, {"0 ms/token", t.Delay0}} {
		r := row.r
		w("| %s | %.1f ms | %.1f ms | %.2f | %.1f ms | %.1f ms | %.2f | %.1f | %.1f | %.2f |\n", row.label, r.TurnP50, r.FloorP50,
			r.TurnOverhead, r.TTFTP50, r.FloorTTFTP50, r.TTFTOverhead, r.TurnsPerS, r.FloorPerS, r.ThroughputRatio)
	}
	w("\nCPU milliseconds per turn in the throughput runs, by process (turn | floor): 20 ms/token %s | %s; 0 ms/token %s | %s.\n",
		cpuLine(t.Delay20.TurnCPU), cpuLine(t.Delay20.FloorCPU), cpuLine(t.Delay0.TurnCPU), cpuLine(t.Delay0.FloorCPU))
	w("CPU per turn over the floor's: 20 ms/token %s; 0 ms/token %s.\n", cpuRatioText(t.Delay20), cpuRatioText(t.Delay0))
	w("\n**Ingestion** (%s): %s documents (%.1f MB of text, %s chunks) through `POST /v1/ingest`, the\n",
		measured(in.Commit, in.MeasuredAt, in.Cores), thousands(in.Documents), in.CorpusMB, thousands(in.Chunks))
	w("stand-in embedder at %.0f ms per batch of %d, %d batches in flight (the embedder alone allows %.0f chunks/s):\n",
		in.EmbedDelayMS, in.EmbedBatch, in.EmbedConcurrency, in.EmbedderBound)
	w("**%.1f chunks/s, pipeline efficiency %.2f** (%.0f s, %d failed runs). A run took %.1f s at the median, %.1f s at\n",
		in.ChunksPerS, in.PipelineEfficiency, in.Seconds, in.Failed, in.RunP50Seconds, in.RunP99Seconds)
	w("p99 and %.1f s at most (from the POST, queueing included); the last 1%% of the runs finished within %.1f s of the rest.\n\n",
		in.RunMaxSeconds, in.TailSeconds)
	if len(in.Sweep) > 0 {
		w("| `EMBED_CONCURRENCY` | documents | chunks/s | embedder alone | efficiency |\n|---|---|---|---|---|\n")
		for _, s := range in.Sweep {
			w("| %d | %s | %.1f | %.0f | %.2f |\n", s.EmbedConcurrency, thousands(s.Documents), s.ChunksPerS, s.EmbedderBound, s.PipelineEfficiency)
		}
		w("\n")
	}
	if in.PDF.Runs > 0 {
		w("One %d-page PDF (%d chunks) from the start of its upload until a search finds its last page: p50 **%.2f s**\n",
			in.PDF.Pages, in.PDF.Chunks, in.PDF.P50Seconds)
		w("(%.2f–%.2f s over %d runs, on an idle platform).\n\n", in.PDF.MinSeconds, in.PDF.MaxSeconds, in.PDF.Runs)
	}
	w("Search in the embedded store at %s chunks: p50 **%.1f ms** / p95 %.1f ms for a tenant who can read 75%% of them\n",
		thousands(in.SearchPoints), in.SearchP50, in.SearchP95)
	w("(its own half and twenty groups: the worst case, one brute-force KNN per partition), p50 %.1f ms / p95 %.1f ms for a\n",
		in.SearchTenantP50, in.SearchTenantP95)
	w("typical tenant (own chunks and three groups among a hundred users and twenty groups).\n\n")
	b.WriteString(clusterSection(res.cluster))
	return b.String()
}

// thousands writes n with thousands separators (2,000).
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
