package store

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
)

// Analytics: aggregates over turns, tool runs, ingestion runs and sessions, computed in Postgres.
// The result types are the API's response shapes (JSON, snake_case); timeline buckets come
// complete, empty ones as zeros. Migration 00012 adds the covering indexes these queries read.

// AnalyticsQuery is what an analytics read covers: rows created in [Start, End), the caller's own
// or, with GroupID, those of a group the caller administers; timelines in buckets of Interval
// counted from Start (Start and End are whole buckets apart).
type AnalyticsQuery struct {
	GroupID  *uuid.UUID
	Start    time.Time
	End      time.Time
	Interval time.Duration
}

// Rows of the lists in analytics answers.
const (
	analyticsMaxModels     = 20  // tokens-timeline: the models with the most tokens
	analyticsMaxTools      = 100 // tool-performance: the most used tools
	analyticsMaxErrorCodes = 10  // ingestion-stats: the most frequent failure codes
)

// analyticsScope is whose rows an analytics query reads: one user's (turns they sent, their tool
// runs, ingestion runs and sessions) or one group's (everything of the group's sessions and
// documents, whoever in the group did it).
type analyticsScope struct {
	user  uuid.UUID
	group *uuid.UUID
}

// analyticsScopeOf resolves the scope of q for c: the caller's own data, or a group's for its
// admins (a member who is not an admin is forbidden; anyone else finds no such group).
func (s *Store) analyticsScopeOf(ctx context.Context, c models.Caller, q AnalyticsQuery) (analyticsScope, error) {
	if c.UserID == uuid.Nil {
		return analyticsScope{}, models.Errorf(models.ErrUnauthenticated, "UNAUTHENTICATED", "authentication required")
	}
	if !q.End.After(q.Start) {
		return analyticsScope{}, fmt.Errorf("analytics: empty window %s..%s", q.Start, q.End)
	}
	if q.GroupID == nil {
		return analyticsScope{user: c.UserID}, nil
	}
	if _, err := s.groupFor(ctx, c, *q.GroupID, policy.ViewAnalytics); err != nil {
		return analyticsScope{}, err
	}
	return analyticsScope{group: q.GroupID}, nil
}

// The FROM and WHERE of each table in a scope and window. Group rows are found through the
// group's sessions (turns and tool runs carry no group) or their own group_id (ingestion runs).
// The group's session ids go in as one array, so that the planner reads each session's window
// from the (session_id, created_at) index instead of joining (it chose a sequential scan of all
// tool runs for a group with a third of the sessions; docs/operations.md, "Analytics").
const groupSessions = `ARRAY(SELECT id FROM chat_sessions WHERE group_id = @gid)`

func (sc analyticsScope) turns() string {
	if sc.group != nil {
		return `FROM turns t WHERE t.session_id = ANY (` + groupSessions + `) AND t.created_at >= @start AND t.created_at < @end`
	}
	return `FROM turns t WHERE t.user_id = @uid AND t.created_at >= @start AND t.created_at < @end`
}

func (sc analyticsScope) toolRuns() string {
	if sc.group != nil {
		return `FROM tool_runs r WHERE r.session_id = ANY (` + groupSessions + `) AND r.created_at >= @start AND r.created_at < @end`
	}
	return `FROM tool_runs r WHERE r.user_id = @uid AND r.created_at >= @start AND r.created_at < @end`
}

func (sc analyticsScope) ingestionRuns() string {
	if sc.group != nil {
		return `FROM ingestion_runs i JOIN documents d ON d.id = i.document_id
WHERE i.group_id = @gid AND i.created_at >= @start AND i.created_at < @end`
	}
	return `FROM ingestion_runs i JOIN documents d ON d.id = i.document_id
WHERE i.owner_id = @uid AND i.created_at >= @start AND i.created_at < @end`
}

func (sc analyticsScope) sessions() string {
	if sc.group != nil {
		return `FROM chat_sessions s WHERE s.group_id = @gid AND s.created_at >= @start AND s.created_at < @end`
	}
	return `FROM chat_sessions s WHERE s.owner_id = @uid AND s.created_at >= @start AND s.created_at < @end`
}

// bucketOf is the start of the bucket of a row's time: whole intervals counted from @start, so a
// row exactly at a bucket boundary belongs to the bucket starting there.
const bucketOf = `date_bin(CAST(@step AS interval), %s, CAST(@start AS timestamptz))`

func (sc analyticsScope) args(q AnalyticsQuery) map[string]any {
	args := map[string]any{"start": q.Start.UTC(), "end": q.End.UTC(), "uid": sc.user, "gid": uuid.Nil,
		"step": strconv.FormatInt(max(q.Interval.Microseconds(), 1), 10) + " microseconds"}
	if sc.group != nil {
		args["gid"] = *sc.group
	}
	return args
}

// analyticsStatements are every statement the analytics answers run, by name: the bench explains
// each of them (ExplainAnalytics) with the same text and arguments the answers use.
var analyticsStatements = []struct {
	name string
	sql  func(analyticsScope) string
}{
	{"overview", overviewSQL},
	{"tokens-timeline", tokensSQL},
	{"tool-performance", toolPerformanceSQL},
	{"tool-timeline", toolTimelineSQL},
	{"ingestion-stats", ingestionSQL},
	{"ingestion-stats/errors", ingestionErrorsSQL},
	{"session-activity/turns", sessionTurnsSQL},
	{"session-activity/new", newSessionsSQL},
}

// ---- overview

// Overview sums up a window: turns, tokens, sessions, tool runs and ingestion.
type Overview struct {
	Turns     TurnCounts      `json:"turns"`
	Tokens    TokenCounts     `json:"tokens"`
	Sessions  SessionCounts   `json:"sessions"`
	ToolRuns  ToolRunCounts   `json:"tool_runs"`
	Ingestion IngestionCounts `json:"ingestion"`
}

// TurnCounts counts turns by status; AvgDurationMS is of completed turns (null without any).
type TurnCounts struct {
	Total         int64    `json:"total"`
	Completed     int64    `json:"completed"`
	Failed        int64    `json:"failed"`
	Cancelled     int64    `json:"cancelled"`
	Active        int64    `json:"active"` // running or waiting for an approval
	AvgDurationMS *float64 `json:"avg_duration_ms"`
}

// TokenCounts are the model's token usage.
type TokenCounts struct {
	Prompt     int64 `json:"prompt"`
	Completion int64 `json:"completion"`
	Total      int64 `json:"total"`
}

// SessionCounts: Active sessions had a turn in the window, New ones were created in it.
type SessionCounts struct {
	Active int64 `json:"active"`
	New    int64 `json:"new"`
}

// ToolRunCounts counts tool calls; Failed includes timeouts; SuccessRate is of finished calls.
type ToolRunCounts struct {
	Total       int64    `json:"total"`
	Succeeded   int64    `json:"succeeded"`
	Failed      int64    `json:"failed"`
	SuccessRate *float64 `json:"success_rate"`
}

// IngestionCounts counts ingestion runs by outcome.
type IngestionCounts struct {
	Runs      int64 `json:"runs"`
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
}

func overviewSQL(sc analyticsScope) string {
	return `WITH t AS (
    SELECT count(*) AS turns,
           count(*) FILTER (WHERE t.status = 'completed') AS completed,
           count(*) FILTER (WHERE t.status = 'failed') AS failed,
           count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE t.status IN ('running', 'waiting_approval')) AS active,
           coalesce(sum(t.prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(t.completion_tokens), 0) AS completion_tokens,
           count(DISTINCT t.session_id) AS active_sessions,
           avg(EXTRACT(epoch FROM t.finished_at - t.started_at) * 1000)
               FILTER (WHERE t.status = 'completed' AND t.finished_at IS NOT NULL) AS avg_turn_ms
    ` + sc.turns() + `
), r AS (
    SELECT count(*) AS tool_runs,
           count(*) FILTER (WHERE r.status = 'succeeded') AS tools_succeeded,
           count(*) FILTER (WHERE r.status IN ('failed', 'timed_out')) AS tools_failed,
           count(*) FILTER (WHERE r.status <> 'running') AS tools_finished
    ` + sc.toolRuns() + `
), i AS (
    SELECT count(*) AS ingestion_runs,
           count(*) FILTER (WHERE i.status = 'completed') AS ingestion_completed,
           count(*) FILTER (WHERE i.status = 'failed') AS ingestion_failed
    ` + sc.ingestionRuns() + `
), n AS (
    SELECT count(*) AS new_sessions ` + sc.sessions() + `
)
SELECT * FROM t, r, i, n`
}

// AnalyticsOverview sums up q's window for c.
func (s *Store) AnalyticsOverview(ctx context.Context, c models.Caller, q AnalyticsQuery) (*Overview, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	var row struct {
		Turns, Completed, Failed, Cancelled, Active        int64
		PromptTokens, CompletionTokens, ActiveSessions     int64
		AvgTurnMS                                          *float64
		ToolRuns, ToolsSucceeded, ToolsFailed              int64
		ToolsFinished                                      int64
		IngestionRuns, IngestionCompleted, IngestionFailed int64
		NewSessions                                        int64
	}
	if err := s.q(ctx).Raw(overviewSQL(sc), sc.args(q)).Scan(&row).Error; err != nil {
		return nil, translate(err)
	}
	return &Overview{
		Turns: TurnCounts{Total: row.Turns, Completed: row.Completed, Failed: row.Failed, Cancelled: row.Cancelled,
			Active: row.Active, AvgDurationMS: round1(row.AvgTurnMS)},
		Tokens:    TokenCounts{Prompt: row.PromptTokens, Completion: row.CompletionTokens, Total: row.PromptTokens + row.CompletionTokens},
		Sessions:  SessionCounts{Active: row.ActiveSessions, New: row.NewSessions},
		ToolRuns:  ToolRunCounts{Total: row.ToolRuns, Succeeded: row.ToolsSucceeded, Failed: row.ToolsFailed, SuccessRate: ratio(row.ToolsSucceeded, row.ToolsFinished)},
		Ingestion: IngestionCounts{Runs: row.IngestionRuns, Completed: row.IngestionCompleted, Failed: row.IngestionFailed},
	}, nil
}

// ---- tokens timeline

// TokensTimeline is token usage per bucket and, for the whole window, per model.
type TokensTimeline struct {
	Buckets []TokenBucket `json:"buckets"`
	Models  []ModelTokens `json:"models"` // the 20 models with the most tokens, most first
}

// TokenBucket is one bucket of a tokens timeline.
type TokenBucket struct {
	Start            time.Time `json:"start"`
	Turns            int64     `json:"turns"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	TotalTokens      int64     `json:"total_tokens"`
}

// ModelTokens is one model's usage over the window.
type ModelTokens struct {
	Model            string `json:"model"`
	Turns            int64  `json:"turns"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
}

// One scan of the window, grouped twice: by bucket (by_model = 0) and by model (1).
func tokensSQL(sc analyticsScope) string {
	return `SELECT GROUPING(x.model) = 0 AS by_model, x.bucket, x.model, count(*) AS turns,
       coalesce(sum(x.prompt_tokens), 0) AS prompt_tokens, coalesce(sum(x.completion_tokens), 0) AS completion_tokens
FROM (SELECT ` + fmt.Sprintf(bucketOf, "t.created_at") + ` AS bucket, t.model, t.prompt_tokens, t.completion_tokens
      ` + sc.turns() + `) x
GROUP BY GROUPING SETS ((x.bucket), (x.model))`
}

// TokensTimeline returns token usage per bucket of q and per model.
func (s *Store) TokensTimeline(ctx context.Context, c models.Caller, q AnalyticsQuery) (*TokensTimeline, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ByModel                        bool
		Bucket                         *time.Time
		Model                          *string
		Turns                          int64
		PromptTokens, CompletionTokens int64
	}
	if err := s.q(ctx).Raw(tokensSQL(sc), sc.args(q)).Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := &TokensTimeline{Models: []ModelTokens{}}
	found := map[int64]TokenBucket{}
	for _, r := range rows {
		switch {
		case r.ByModel && r.Model != nil:
			out.Models = append(out.Models, ModelTokens{Model: *r.Model, Turns: r.Turns, PromptTokens: r.PromptTokens,
				CompletionTokens: r.CompletionTokens, TotalTokens: r.PromptTokens + r.CompletionTokens})
		case !r.ByModel && r.Bucket != nil:
			found[r.Bucket.Unix()] = TokenBucket{Turns: r.Turns, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
				TotalTokens: r.PromptTokens + r.CompletionTokens}
		}
	}
	out.Buckets = fill(q, found, func(b *TokenBucket, start time.Time) { b.Start = start })
	sort.Slice(out.Models, func(i, j int) bool {
		a, b := out.Models[i], out.Models[j]
		if a.TotalTokens != b.TotalTokens {
			return a.TotalTokens > b.TotalTokens
		}
		return a.Model < b.Model
	})
	if len(out.Models) > analyticsMaxModels {
		out.Models = out.Models[:analyticsMaxModels]
	}
	return out, nil
}

// ---- tool performance

// ToolPerformance lists the tools called in the window, most called first (at most 100).
type ToolPerformance struct {
	Tools []ToolStats `json:"tools"`
}

// ToolStats is one tool's calls: counts by status and durations of the calls that finished.
type ToolStats struct {
	ToolName      string   `json:"tool_name"`
	ServerName    string   `json:"server_name"`
	Runs          int64    `json:"runs"`
	Succeeded     int64    `json:"succeeded"`
	Failed        int64    `json:"failed"`
	TimedOut      int64    `json:"timed_out"`
	Denied        int64    `json:"denied"`
	Cancelled     int64    `json:"cancelled"`
	Running       int64    `json:"running"`
	SuccessRate   *float64 `json:"success_rate"` // succeeded / finished calls
	AvgDurationMS *float64 `json:"avg_duration_ms"`
	P50DurationMS *float64 `json:"p50_duration_ms"`
	P95DurationMS *float64 `json:"p95_duration_ms"`
	MaxDurationMS *float64 `json:"max_duration_ms"`
}

func toolPerformanceSQL(sc analyticsScope) string {
	return `SELECT r.tool_name, r.server_name, count(*) AS runs,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE r.status = 'failed') AS failed,
       count(*) FILTER (WHERE r.status = 'timed_out') AS timed_out,
       count(*) FILTER (WHERE r.status = 'denied') AS denied,
       count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE r.status = 'running') AS running,
       avg(r.duration_ms) AS avg_duration_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms) AS p50_duration_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) AS p95_duration_ms,
       max(r.duration_ms)::float8 AS max_duration_ms
` + sc.toolRuns() + `
GROUP BY r.tool_name, r.server_name
ORDER BY runs DESC, r.tool_name, r.server_name
LIMIT ` + strconv.Itoa(analyticsMaxTools)
}

// ToolPerformance returns per-tool counts and durations over q's window.
func (s *Store) ToolPerformance(ctx context.Context, c models.Caller, q AnalyticsQuery) (*ToolPerformance, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	var rows []ToolStats
	if err := s.q(ctx).Raw(toolPerformanceSQL(sc), sc.args(q)).Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	for i := range rows {
		r := &rows[i]
		r.SuccessRate = ratio(r.Succeeded, r.Runs-r.Running)
		r.AvgDurationMS, r.P50DurationMS, r.P95DurationMS = round1(r.AvgDurationMS), round1(r.P50DurationMS), round1(r.P95DurationMS)
	}
	if rows == nil {
		rows = []ToolStats{}
	}
	return &ToolPerformance{Tools: rows}, nil
}

// ---- tool timeline

// ToolTimeline is tool calls per bucket.
type ToolTimeline struct {
	Buckets []ToolBucket `json:"buckets"`
}

// ToolBucket is one bucket of the tool timeline; Failed includes timeouts; the average is of the
// calls that finished (null in a bucket without any: an average of nothing is not 0 ms).
type ToolBucket struct {
	Start         time.Time `json:"start"`
	Runs          int64     `json:"runs"`
	Succeeded     int64     `json:"succeeded"`
	Failed        int64     `json:"failed"`
	AvgDurationMS *float64  `json:"avg_duration_ms"`
}

func toolTimelineSQL(sc analyticsScope) string {
	return `SELECT x.bucket, count(*) AS runs,
       count(*) FILTER (WHERE x.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE x.status IN ('failed', 'timed_out')) AS failed,
       avg(x.duration_ms) AS avg_duration_ms
FROM (SELECT ` + fmt.Sprintf(bucketOf, "r.created_at") + ` AS bucket, r.status, r.duration_ms
      ` + sc.toolRuns() + `) x
GROUP BY x.bucket`
}

// ToolTimeline returns tool calls per bucket of q.
func (s *Store) ToolTimeline(ctx context.Context, c models.Caller, q AnalyticsQuery) (*ToolTimeline, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Bucket time.Time
		ToolBucket
	}
	if err := s.q(ctx).Raw(toolTimelineSQL(sc), sc.args(q)).Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	found := make(map[int64]ToolBucket, len(rows))
	for _, r := range rows {
		r.ToolBucket.AvgDurationMS = round1(r.ToolBucket.AvgDurationMS)
		found[r.Bucket.Unix()] = r.ToolBucket
	}
	return &ToolTimeline{Buckets: fill(q, found, func(b *ToolBucket, start time.Time) { b.Start = start })}, nil
}

// ---- ingestion

// IngestionStats sums up the ingestion runs started in the window.
type IngestionStats struct {
	Runs          int64             `json:"runs"`
	Completed     int64             `json:"completed"`
	Failed        int64             `json:"failed"`
	Cancelled     int64             `json:"cancelled"`
	Active        int64             `json:"active"`  // queued or running
	Retried       int64             `json:"retried"` // runs that took more than one attempt
	Chunks        int64             `json:"chunks"`  // chunks indexed by completed runs
	Bytes         int64             `json:"bytes"`   // size of the documents of completed runs
	AvgDurationMS *float64          `json:"avg_duration_ms"`
	P95DurationMS *float64          `json:"p95_duration_ms"`
	BySource      []IngestionSource `json:"by_source"` // upload, url, text (those with runs)
	Errors        []IngestionError  `json:"errors"`    // the 10 most frequent failure codes
}

// IngestionSource counts the runs of one kind of source.
type IngestionSource struct {
	Source    string `json:"source"`
	Runs      int64  `json:"runs"`
	Completed int64  `json:"completed"`
	Failed    int64  `json:"failed"`
}

// IngestionError counts the failed runs of one error code.
type IngestionError struct {
	Code string `json:"code"`
	Runs int64  `json:"runs"`
}

// One scan, grouped twice: the totals (per_source = false) and per source kind.
func ingestionSQL(sc analyticsScope) string {
	return `SELECT GROUPING(d.source_kind) = 0 AS per_source, d.source_kind AS source, count(*) AS runs,
       count(*) FILTER (WHERE i.status = 'completed') AS completed,
       count(*) FILTER (WHERE i.status = 'failed') AS failed,
       count(*) FILTER (WHERE i.status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE i.status IN ('queued', 'running')) AS active,
       count(*) FILTER (WHERE i.attempts > 1) AS retried,
       coalesce(sum(i.chunks_done) FILTER (WHERE i.status = 'completed'), 0) AS chunks,
       coalesce(sum(d.size_bytes) FILTER (WHERE i.status = 'completed'), 0) AS bytes,
       avg(EXTRACT(epoch FROM i.finished_at - i.started_at) * 1000)
           FILTER (WHERE i.status = 'completed') AS avg_duration_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(epoch FROM i.finished_at - i.started_at) * 1000)
           FILTER (WHERE i.status = 'completed') AS p95_duration_ms
` + sc.ingestionRuns() + `
GROUP BY GROUPING SETS ((), (d.source_kind))`
}

func ingestionErrorsSQL(sc analyticsScope) string {
	return `SELECT i.error_code AS code, count(*) AS runs
` + sc.ingestionRuns() + ` AND i.status = 'failed'
GROUP BY i.error_code
ORDER BY runs DESC, code
LIMIT ` + strconv.Itoa(analyticsMaxErrorCodes)
}

// IngestionStats sums up the ingestion runs of q's window.
func (s *Store) IngestionStats(ctx context.Context, c models.Caller, q AnalyticsQuery) (*IngestionStats, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		PerSource                                  bool
		Source                                     *string
		Runs, Completed, Failed, Cancelled, Active int64
		Retried, Chunks, Bytes                     int64
		AvgDurationMS, P95DurationMS               *float64
	}
	if err := s.q(ctx).Raw(ingestionSQL(sc), sc.args(q)).Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := &IngestionStats{BySource: []IngestionSource{}, Errors: []IngestionError{}}
	for _, r := range rows {
		if r.PerSource && r.Source != nil {
			out.BySource = append(out.BySource, IngestionSource{Source: *r.Source, Runs: r.Runs, Completed: r.Completed, Failed: r.Failed})
			continue
		}
		out.Runs, out.Completed, out.Failed, out.Cancelled, out.Active = r.Runs, r.Completed, r.Failed, r.Cancelled, r.Active
		out.Retried, out.Chunks, out.Bytes = r.Retried, r.Chunks, r.Bytes
		out.AvgDurationMS, out.P95DurationMS = round1(r.AvgDurationMS), round1(r.P95DurationMS)
	}
	sort.Slice(out.BySource, func(i, j int) bool { return out.BySource[i].Source < out.BySource[j].Source })
	if err := s.q(ctx).Raw(ingestionErrorsSQL(sc), sc.args(q)).Scan(&out.Errors).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// ---- session activity

// SessionActivity is how many sessions were used and started, in the window and per bucket.
type SessionActivity struct {
	Turns          int64           `json:"turns"`
	ActiveSessions int64           `json:"active_sessions"` // sessions with a turn in the window
	NewSessions    int64           `json:"new_sessions"`
	TurnsPerActive *float64        `json:"turns_per_active_session"`
	Buckets        []SessionBucket `json:"buckets"`
}

// SessionBucket is one bucket of the session activity.
type SessionBucket struct {
	Start          time.Time `json:"start"`
	Turns          int64     `json:"turns"`
	ActiveSessions int64     `json:"active_sessions"`
	NewSessions    int64     `json:"new_sessions"`
}

// One scan, grouped twice: per bucket and for the whole window (bucket NULL).
func sessionTurnsSQL(sc analyticsScope) string {
	return `SELECT x.bucket, count(*) AS turns, count(DISTINCT x.session_id) AS active_sessions
FROM (SELECT ` + fmt.Sprintf(bucketOf, "t.created_at") + ` AS bucket, t.session_id
      ` + sc.turns() + `) x
GROUP BY GROUPING SETS ((x.bucket), ())`
}

func newSessionsSQL(sc analyticsScope) string {
	return `SELECT x.bucket, count(*) AS new_sessions
FROM (SELECT ` + fmt.Sprintf(bucketOf, "s.created_at") + ` AS bucket ` + sc.sessions() + `) x
GROUP BY x.bucket`
}

// SessionActivity returns sessions used and started over q's window and per bucket.
func (s *Store) SessionActivity(ctx context.Context, c models.Caller, q AnalyticsQuery) (*SessionActivity, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	var turns []struct {
		Bucket                *time.Time
		Turns, ActiveSessions int64
	}
	if err := s.q(ctx).Raw(sessionTurnsSQL(sc), sc.args(q)).Scan(&turns).Error; err != nil {
		return nil, translate(err)
	}
	var created []struct {
		Bucket      time.Time
		NewSessions int64
	}
	if err := s.q(ctx).Raw(newSessionsSQL(sc), sc.args(q)).Scan(&created).Error; err != nil {
		return nil, translate(err)
	}
	out := &SessionActivity{}
	found := map[int64]SessionBucket{}
	for _, r := range turns {
		if r.Bucket == nil {
			out.Turns, out.ActiveSessions = r.Turns, r.ActiveSessions
			continue
		}
		found[r.Bucket.Unix()] = SessionBucket{Turns: r.Turns, ActiveSessions: r.ActiveSessions}
	}
	for _, r := range created {
		b := found[r.Bucket.Unix()]
		b.NewSessions = r.NewSessions
		found[r.Bucket.Unix()] = b
		out.NewSessions += r.NewSessions
	}
	if out.ActiveSessions > 0 {
		v := math.Round(float64(out.Turns)/float64(out.ActiveSessions)*100) / 100
		out.TurnsPerActive = &v
	}
	out.Buckets = fill(q, found, func(b *SessionBucket, start time.Time) { b.Start = start })
	return out, nil
}

// ---- helpers

// fill returns every bucket of q's window in order: the ones found (keyed by their start's Unix
// time), zeros for the others, each with its start set.
func fill[B any](q AnalyticsQuery, found map[int64]B, setStart func(*B, time.Time)) []B {
	if q.Interval <= 0 {
		return []B{}
	}
	out := make([]B, 0, int(q.End.Sub(q.Start)/q.Interval))
	for start := q.Start.UTC(); start.Before(q.End); start = start.Add(q.Interval) {
		b := found[start.Unix()]
		setStart(&b, start)
		out = append(out, b)
	}
	return out
}

// ratio is part/whole rounded to 4 places, nil when whole is 0.
func ratio(part, whole int64) *float64 {
	if whole <= 0 {
		return nil
	}
	v := math.Round(float64(part)/float64(whole)*10000) / 10000
	return &v
}

// round1 rounds a duration in milliseconds to one decimal.
func round1(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := math.Round(*v*10) / 10
	return &r
}

// AnalyticsPlan is the measured plan of one analytics statement (EXPLAIN ANALYZE).
type AnalyticsPlan struct {
	Name        string
	PlanningMS  float64
	ExecutionMS float64
	Plan        string
}

var explainTime = regexp.MustCompile(`(?m)^(Planning|Execution) Time: ([0-9.]+) ms$`)

// ExplainAnalytics runs every analytics statement for c and q under EXPLAIN (ANALYZE, BUFFERS)
// and returns the plans with their measured times: the same text and arguments the answers use
// (the bench's analytics suite; docs/operations.md, "Analytics").
func (s *Store) ExplainAnalytics(ctx context.Context, c models.Caller, q AnalyticsQuery) ([]AnalyticsPlan, error) {
	sc, err := s.analyticsScopeOf(ctx, c, q)
	if err != nil {
		return nil, err
	}
	out := make([]AnalyticsPlan, 0, len(analyticsStatements))
	for _, st := range analyticsStatements {
		var lines []string
		if err := s.q(ctx).Raw("EXPLAIN (ANALYZE, BUFFERS) "+st.sql(sc), sc.args(q)).Scan(&lines).Error; err != nil {
			return nil, fmt.Errorf("explain %s: %w", st.name, translate(err))
		}
		p := AnalyticsPlan{Name: st.name}
		for _, l := range lines {
			p.Plan += l + "\n"
		}
		for _, m := range explainTime.FindAllStringSubmatch(p.Plan, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			if m[1] == "Planning" {
				p.PlanningMS = v
			} else {
				p.ExecutionMS = v
			}
		}
		out = append(out, p)
	}
	return out, nil
}
