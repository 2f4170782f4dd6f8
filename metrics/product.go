package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets of the product's latency histograms, in seconds: from a cache hit to a slow model.
var (
	fastBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	slowBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
)

// TurnsTotal is youworker_turns_total, the chat turns finished by outcome. The worker counts the
// turns its workflows and its reaper finish (Worker.TurnFinished), the API the ones it finishes
// itself (a lost turn a new message or a cancel finds, a workflow that could not be started):
// both export this one definition, and dashboards sum it over both.
func TurnsTotal() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "youworker_turns_total",
		Help: "Chat turns finished, by outcome (completed, failed, cancelled)."}, []string{"outcome"})
}

// Worker holds the product metrics a worker exports: what its activities did. A nil *Worker
// records nothing, so activities built without metrics (tests, tools) need no checks.
type Worker struct {
	turns         *prometheus.CounterVec
	turnDuration  *prometheus.HistogramVec
	firstToken    prometheus.Histogram
	tokens        *prometheus.CounterVec
	toolCalls     *prometheus.CounterVec
	toolDuration  *prometheus.HistogramVec
	runs          *prometheus.CounterVec
	stageDuration *prometheus.HistogramVec
	chunksIndexed prometheus.Counter
	embedDuration prometheus.Histogram
}

// NewWorker registers the worker's product metrics on reg. waiting, when set, counts the turns
// waiting for an approval (a query, run at each scrape with a 2 s limit; every worker reports the
// same platform-wide figure, so dashboards take the max).
func NewWorker(reg prometheus.Registerer, waiting func(context.Context) (int64, error), log *slog.Logger) (*Worker, error) {
	m := &Worker{
		turns: TurnsTotal(),
		turnDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "youworker_turn_duration_seconds",
			Help: "Time from a turn's start to its end, by outcome.", Buckets: slowBuckets}, []string{"outcome"}),
		firstToken: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "youworker_turn_first_token_seconds",
			Help: "Time from a turn's start to the first token of its answer reaching the event log.", Buckets: slowBuckets}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "youworker_model_tokens_total",
			Help: "Tokens the models read (direction=in) and wrote (direction=out), by model; a retried model call counts again."},
			[]string{"model", "direction"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "youworker_tool_calls_total",
			Help: "Tool calls run, by tool (server/tool; \"remote\" for users' own MCP servers) and outcome (succeeded, failed, rejected, error)."},
			[]string{"tool", "outcome"}),
		toolDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "youworker_tool_call_duration_seconds",
			Help: "Time a tool call took, by tool.", Buckets: slowBuckets}, []string{"tool"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "youworker_ingestion_runs_total",
			Help: "Ingestion runs finished, by outcome (completed, failed, cancelled)."}, []string{"outcome"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "youworker_ingestion_stage_duration_seconds",
			Help: "Time an ingestion stage took in one activity attempt, by stage (fetch, extract, chunk, embed, index).", Buckets: slowBuckets},
			[]string{"stage"}),
		chunksIndexed: prometheus.NewCounter(prometheus.CounterOpts{Name: "youworker_chunks_indexed_total",
			Help: "Chunks written to the vector store (a retried index writes them again)."}),
		embedDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "youworker_embedding_duration_seconds",
			Help: "Time one embedding request to the model server took.", Buckets: slowBuckets}),
	}
	cs := []prometheus.Collector{m.turns, m.turnDuration, m.firstToken, m.tokens, m.toolCalls, m.toolDuration,
		m.runs, m.stageDuration, m.chunksIndexed, m.embedDuration}
	if waiting != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "youworker_approvals_waiting",
			Help: "Turns waiting for a tool approval, platform-wide (-1 when the database did not answer)."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				n, err := waiting(ctx)
				if err != nil {
					log.Warn("counting the turns waiting for an approval failed", "error", err)
					return -1
				}
				return float64(n)
			}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// TurnFinished records a turn's end; started is when it started (zero: not known, no duration).
func (m *Worker) TurnFinished(outcome string, started time.Time) {
	if m == nil {
		return
	}
	m.turns.WithLabelValues(outcome).Inc()
	if !started.IsZero() {
		m.turnDuration.WithLabelValues(outcome).Observe(time.Since(started).Seconds())
	}
}

// FirstToken records the first token of a turn's answer; started is when the turn started.
func (m *Worker) FirstToken(started time.Time) {
	if m == nil || started.IsZero() {
		return
	}
	m.firstToken.Observe(time.Since(started).Seconds())
}

// Tokens records what one model call read and wrote.
func (m *Worker) Tokens(model string, in, out int) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues(model, "in").Add(float64(in))
	m.tokens.WithLabelValues(model, "out").Add(float64(out))
}

// ToolCall records one tool call.
func (m *Worker) ToolCall(tool, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolDuration.WithLabelValues(tool).Observe(took.Seconds())
}

// RunFinished records an ingestion run's end.
func (m *Worker) RunFinished(outcome string) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(outcome).Inc()
}

// Stage records one ingestion stage of one attempt.
func (m *Worker) Stage(stage string, took time.Duration) {
	if m == nil {
		return
	}
	m.stageDuration.WithLabelValues(stage).Observe(took.Seconds())
}

// ChunksIndexed records chunks written to the vector store.
func (m *Worker) ChunksIndexed(n int) {
	if m == nil {
		return
	}
	m.chunksIndexed.Add(float64(n))
}

// Embedding records one embedding request.
func (m *Worker) Embedding(took time.Duration) {
	if m == nil {
		return
	}
	m.embedDuration.Observe(took.Seconds())
}

// VectorSearch is the histogram of vector searches, which both the API (search routes) and the
// worker (the knowledge tool) run.
func VectorSearch(reg prometheus.Registerer) (prometheus.Histogram, error) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "youworker_vector_search_duration_seconds",
		Help: "Time one vector search took in the vector store.", Buckets: fastBuckets})
	return h, reg.Register(h)
}
