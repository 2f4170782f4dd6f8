package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// The analytics suite: a private Postgres seeded with generate_series (1,000 users, 20,000
// sessions, 1M turns over the last year, one tool call per two turns, 20,000 ingestion runs), then
// every analytics statement under EXPLAIN (ANALYZE, BUFFERS) through store.ExplainAnalytics — the
// text and arguments the routes use — for a heavy user, a typical user and a group admin, first
// with migration 00012's covering indexes and then without them (migrated down one step).

// AnalyticsResult is bench/results/analytics.json.
type AnalyticsResult struct {
	Commit        string          `json:"commit"`
	MeasuredAt    string          `json:"measured_at"`
	Cores         int             `json:"cores"`
	Turns         int64           `json:"turns"`
	ToolRuns      int64           `json:"tool_runs"`
	Sessions      int64           `json:"sessions"`
	IngestionRuns int64           `json:"ingestion_runs"`
	SeedSeconds   float64         `json:"seed_seconds"` // 0 when a kept corpus was reused (-analytics-data)
	LoadBefore    float64         `json:"load_average"` // the machine's 1-minute load average before measuring
	Cases         []AnalyticsCase `json:"cases"`
}

// AnalyticsCase is one caller and window.
type AnalyticsCase struct {
	Name          string               `json:"name"`
	Days          int                  `json:"days"`
	Interval      string               `json:"interval"`
	TurnsInWindow int64                `json:"turns_in_window"`
	Statements    []AnalyticsStatement `json:"statements"`
	// AnswerMS is each route's store call, start to finish (median of 3), with the indexes.
	AnswerMS map[string]float64 `json:"answer_ms"`
}

// AnalyticsStatement is one statement's measured execution (median of 3 EXPLAIN ANALYZE runs).
type AnalyticsStatement struct {
	Name         string   `json:"name"`
	ExecutionMS  float64  `json:"execution_ms"`
	PlanningMS   float64  `json:"planning_ms"`
	Scans        []string `json:"scans"`
	WithoutMS    float64  `json:"without_indexes_ms"`
	WithoutScans []string `json:"without_indexes_scans"`
}

func runAnalytics(out, dataDir string) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "yw-bench-analytics-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	}
	pg, err := devservices.StartPostgres(ctx, devservices.PostgresOptions{DataDir: filepath.Join(dataDir, "pg"), Fast: true, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = pg.Stop(context.Background()) }()
	var exists bool
	if err := queryOnce(ctx, pg.DSN("postgres"), `SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'analytics')`, &exists); err != nil {
		return err
	}
	if !exists {
		if err := pg.CreateDatabase(ctx, "analytics", ""); err != nil {
			return err
		}
	}
	db, err := sql.Open("pgx", pg.DSN("analytics"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := migrations.Up(ctx, db); err != nil { // also after an earlier run migrated it down
		return err
	}
	res := AnalyticsResult{Commit: gitCommit(), MeasuredAt: time.Now().UTC().Format(time.RFC3339), Cores: runtime.NumCPU()}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM turns").Scan(&res.Turns); err != nil {
		return err
	}
	if res.Turns == 0 {
		t0 := time.Now()
		fmt.Println("seeding 1M turns …")
		if err := seedAnalytics(ctx, db); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		res.SeedSeconds = time.Since(t0).Seconds()
	} else {
		fmt.Println("reusing the corpus in", dataDir)
		if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			return err
		}
	}
	for q, v := range map[string]*int64{"turns": &res.Turns, "tool_runs": &res.ToolRuns, "chat_sessions": &res.Sessions, "ingestion_runs": &res.IngestionRuns} {
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+q).Scan(v); err != nil {
			return err
		}
	}
	fmt.Printf("%d turns, %d tool runs, %d sessions, %d ingestion runs (seeded in %.0f s)\n", res.Turns, res.ToolRuns, res.Sessions, res.IngestionRuns, res.SeedSeconds)
	res.LoadBefore = loadAverage()

	st, err := store.Open(store.Options{URL: pg.DSN("analytics"), PoolSize: 2, MaxOverflow: 2, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	cases := analyticsCases()
	for _, c := range cases {
		ac := AnalyticsCase{Name: c.name, Days: c.days, Interval: map[time.Duration]string{time.Hour: "hour", 24 * time.Hour: "day"}[c.interval],
			AnswerMS: map[string]float64{}}
		ac.Statements, err = explainMedian(ctx, st, c)
		if err != nil {
			return err
		}
		if ac.TurnsInWindow, err = turnsInWindow(ctx, db, c); err != nil {
			return err
		}
		if err := timeAnswers(ctx, st, c, ac.AnswerMS); err != nil {
			return err
		}
		res.Cases = append(res.Cases, ac)
	}
	// The same without migration 00012: the plain indexes it replaced.
	if _, err := migrations.Down(ctx, db); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	for i, c := range cases {
		without, err := explainMedian(ctx, st, c)
		if err != nil {
			return err
		}
		for j := range without {
			res.Cases[i].Statements[j].WithoutMS = without[j].ExecutionMS
			res.Cases[i].Statements[j].WithoutScans = without[j].Scans
		}
	}
	fmt.Print("\n" + analyticsSection(res))
	return writeResults(out, res)
}

// The seeded tenants.
var (
	heavyUser   = uuid.NewMD5(uuid.Nil, []byte("user0")) // 10% of all turns: an integration's API key
	typicalUser = uuid.NewMD5(uuid.Nil, []byte("user500"))
	groupAdmin  = uuid.NewMD5(uuid.Nil, []byte("user1"))
	benchGroup  = uuid.NewMD5(uuid.Nil, []byte("group-everyone")) // 30% of the other sessions
)

// seedAnalytics writes the corpus in a few set-based statements; ids are name-based UUIDs (what
// uuid.NewMD5 makes in Go) so that the cases find their callers.
func seedAnalytics(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Name-based ids: the version-3 UUID of name in the nil namespace, as uuid.NewMD5 makes them.
	const fn = `CREATE FUNCTION pg_temp.bench_id(name text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT (substr(h, 1, 12) || '3' || substr(h, 14, 3) || to_hex((('x' || substr(h, 17, 1))::bit(4)::int & 3) | 8) || substr(h, 18))::uuid
  FROM (SELECT md5(decode('00000000000000000000000000000000', 'hex') || convert_to(name, 'UTF8')) AS h) x $$`
	steps := []string{
		fn,
		`SELECT setseed(0.42)`,
		`INSERT INTO users (id, username) SELECT pg_temp.bench_id('user' || g), 'user' || g FROM generate_series(0, 999) g`,
		`INSERT INTO groups (id, name, created_by) VALUES (pg_temp.bench_id('group-everyone'), 'everyone', pg_temp.bench_id('user1'))`,
		`INSERT INTO group_memberships (group_id, user_id, role)
		 SELECT pg_temp.bench_id('group-everyone'), id, CASE WHEN username = 'user1' THEN 'admin' ELSE 'member' END FROM users`,
		// Sessions 0..199 are the heavy user's; of the others 30% are the group's.
		`INSERT INTO chat_sessions (id, owner_id, group_id, title, model, created_at)
		 SELECT pg_temp.bench_id('session' || s),
		        CASE WHEN s < 200 THEN pg_temp.bench_id('user0') ELSE pg_temp.bench_id('user' || (1 + s % 999)) END,
		        CASE WHEN s >= 200 AND s % 10 < 3 THEN pg_temp.bench_id('group-everyone') END,
		        'bench', 'llama3.1:8b', now() - interval '365 days' * random()
		 FROM generate_series(0, 19999) s`,
		// Every tenth turn is the heavy user's; the others spread over the other sessions.
		`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, steps, prompt_tokens, completion_tokens,
		                    started_at, finished_at, created_at)
		 SELECT pg_temp.bench_id('turn' || x.t), s.id, s.owner_id, 'chat-turn/bench/' || x.t,
		        CASE WHEN x.r < 0.9 THEN 'completed' WHEN x.r < 0.95 THEN 'failed' ELSE 'cancelled' END,
		        (ARRAY['llama3.1:8b', 'qwen2.5:7b', 'mistral:7b', 'gemma2:9b'])[1 + x.t % 4], 1 + x.t % 3,
		        200 + (random() * 3000)::int, 50 + (random() * 800)::int,
		        x.at, x.at + interval '20 seconds' * random(), x.at
		 FROM (SELECT t, random() AS r, now() - interval '365 days' * random() AS at,
		              CASE WHEN t % 10 = 0 THEN (t / 10) % 200 ELSE 200 + (t::bigint * 7919) % 19800 END AS sn
		       FROM generate_series(1, 1000000) t) x
		 JOIN chat_sessions s ON s.id = pg_temp.bench_id('session' || x.sn)`,
		`INSERT INTO tool_runs (id, turn_id, session_id, user_id, step, call_id, server_name, tool_name, status,
		                        started_at, finished_at, duration_ms, created_at)
		 SELECT gen_random_uuid(), x.id, x.session_id, x.user_id, 1, 'call-1', 'builtin',
		        (ARRAY['time_now', 'time_format', 'time_add_delta', 'search_knowledge', 'fetch_url', 'search', 'extract_article', 'ingest_url'])[1 + (hashtext(x.id::text) & 7)],
		        CASE WHEN x.r < 0.9 THEN 'succeeded' WHEN x.r < 0.95 THEN 'failed' WHEN x.r < 0.97 THEN 'timed_out' ELSE 'denied' END,
		        x.created_at, x.created_at + interval '1 millisecond' * x.ms, x.ms, x.created_at
		 FROM (SELECT t.*, random() AS r, random() AS r2, (random() * 2000)::int AS ms FROM turns t) x
		 WHERE x.r2 < 0.5`,
		`INSERT INTO documents (id, owner_id, group_id, title, source_kind, size_bytes, status, chunk_count, created_at)
		 SELECT pg_temp.bench_id('doc' || d), pg_temp.bench_id('user' || d % 1000),
		        CASE WHEN d % 10 < 3 THEN pg_temp.bench_id('group-everyone') END, 'doc',
		        (ARRAY['upload', 'url', 'text'])[1 + d % 3], (random() * 1000000)::bigint, 'ready', 20,
		        now() - interval '365 days' * random()
		 FROM generate_series(0, 19999) d`,
		`INSERT INTO ingestion_runs (id, document_id, owner_id, group_id, workflow_id, status, error_code, chunks_done, chunks_total,
		                             attempts, started_at, finished_at, created_at)
		 SELECT gen_random_uuid(), d.id, d.owner_id, d.group_id, 'ingest/' || d.id,
		        CASE WHEN d.r < 0.9 THEN 'completed' ELSE 'failed' END,
		        CASE WHEN d.r < 0.9 THEN '' WHEN d.r < 0.95 THEN 'BAD_DOCUMENT' ELSE 'FETCH_FAILED' END,
		        20, 20, 1 + (d.r * 10)::int % 3, d.created_at, d.created_at + interval '30 seconds' * d.r, d.created_at
		 FROM (SELECT documents.*, random() AS r FROM documents) d`,
		`VACUUM ANALYZE`,
	}
	for _, s := range steps {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%.80s…: %w", strings.Join(strings.Fields(s), " "), err)
		}
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = $1`, heavyUser).Scan(&n); err != nil || n != 1 {
		return fmt.Errorf("the seeded ids differ from uuid.NewMD5 (found %d): %v", n, err)
	}
	return nil
}

type analyticsCaseSpec struct {
	name     string
	caller   models.Caller
	group    *uuid.UUID
	days     int
	interval time.Duration
}

func analyticsCases() []analyticsCaseSpec {
	admin := models.Caller{UserID: groupAdmin, Groups: map[uuid.UUID]models.Role{benchGroup: models.RoleAdmin}}
	heavy := models.Caller{UserID: heavyUser, Groups: map[uuid.UUID]models.Role{benchGroup: models.RoleMember}}
	typical := models.Caller{UserID: typicalUser, Groups: map[uuid.UUID]models.Role{benchGroup: models.RoleMember}}
	g := benchGroup
	return []analyticsCaseSpec{
		{"heavy user, 30 days by hour", heavy, nil, 30, time.Hour},
		{"heavy user, 365 days by day", heavy, nil, 365, 24 * time.Hour},
		{"typical user, 30 days by hour", typical, nil, 30, time.Hour},
		{"group admin, group, 30 days by hour", admin, &g, 30, time.Hour},
		{"group admin, group, 365 days by day", admin, &g, 365, 24 * time.Hour},
	}
}

func (c analyticsCaseSpec) query() store.AnalyticsQuery {
	end := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return store.AnalyticsQuery{GroupID: c.group, Start: end.Add(-time.Duration(c.days) * 24 * time.Hour), End: end, Interval: c.interval}
}

var scanLine = regexp.MustCompile(`(?m)((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?(?: using \S+)? on \S+)`)

// explainMedian explains every statement three times and keeps each one's median run.
func explainMedian(ctx context.Context, st *store.Store, c analyticsCaseSpec) ([]AnalyticsStatement, error) {
	var runs [][]store.AnalyticsPlan
	for range 3 {
		plans, err := st.ExplainAnalytics(ctx, c.caller, c.query())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		runs = append(runs, plans)
	}
	out := make([]AnalyticsStatement, len(runs[0]))
	for i := range out {
		ps := []store.AnalyticsPlan{runs[0][i], runs[1][i], runs[2][i]}
		sort.Slice(ps, func(a, b int) bool { return ps[a].ExecutionMS < ps[b].ExecutionMS })
		p := ps[1]
		scans := []string{}
		for _, m := range scanLine.FindAllStringSubmatch(p.Plan, -1) {
			if !slices.Contains(scans, m[1]) {
				scans = append(scans, m[1])
			}
		}
		out[i] = AnalyticsStatement{Name: p.Name, ExecutionMS: round2(p.ExecutionMS), PlanningMS: round2(p.PlanningMS), Scans: scans}
		if os.Getenv("BENCH_PLANS") == "1" {
			fmt.Printf("--- %s: %s\n%s\n", c.name, p.Name, p.Plan)
		}
	}
	return out, nil
}

// timeAnswers times each route's store call (median of 3).
func timeAnswers(ctx context.Context, st *store.Store, c analyticsCaseSpec, out map[string]float64) error {
	q := c.query()
	total := q
	total.Interval = 0
	calls := map[string]func() error{
		"overview":         func() error { _, err := st.AnalyticsOverview(ctx, c.caller, total); return err },
		"tokens-timeline":  func() error { _, err := st.TokensTimeline(ctx, c.caller, q); return err },
		"tool-performance": func() error { _, err := st.ToolPerformance(ctx, c.caller, total); return err },
		"tool-timeline":    func() error { _, err := st.ToolTimeline(ctx, c.caller, q); return err },
		"ingestion-stats":  func() error { _, err := st.IngestionStats(ctx, c.caller, total); return err },
		"session-activity": func() error { _, err := st.SessionActivity(ctx, c.caller, q); return err },
	}
	for name, call := range calls {
		var ds []float64
		for range 3 {
			t0 := time.Now()
			if err := call(); err != nil {
				return fmt.Errorf("%s %s: %w", c.name, name, err)
			}
			ds = append(ds, float64(time.Since(t0).Microseconds())/1000)
		}
		sort.Float64s(ds)
		out[name] = round2(ds[1])
	}
	return nil
}

func turnsInWindow(ctx context.Context, db *sql.DB, c analyticsCaseSpec) (int64, error) {
	q := c.query()
	var n int64
	var err error
	if c.group != nil {
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM turns t JOIN chat_sessions s ON s.id = t.session_id
			WHERE s.group_id = $1 AND t.created_at >= $2 AND t.created_at < $3`, *c.group, q.Start, q.End).Scan(&n)
	} else {
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM turns WHERE user_id = $1 AND created_at >= $2 AND created_at < $3`,
			c.caller.UserID, q.Start, q.End).Scan(&n)
	}
	return n, err
}

// loadAverage is the machine's 1-minute load average (-1 when unknown): what else ran during a measurement.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

func queryOnce(ctx context.Context, dsn, q string, dst any) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRowContext(ctx, q).Scan(dst)
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// analyticsSection renders the measurements for docs/operations.md.
func analyticsSection(r AnalyticsResult) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("Measured (%s) by `go run ./bench -suite analytics`: %s turns over the last 365 days, %s tool runs,\n",
		measured(r.Commit, r.MeasuredAt, r.Cores), thousands(int(r.Turns)), thousands(int(r.ToolRuns)))
	w("%s sessions, %s ingestion runs, 1,000 users (seeded with `generate_series`); the machine's load average was\n",
		thousands(int(r.Sessions)), thousands(int(r.IngestionRuns)))
	busy := ""
	if r.LoadBefore >= float64(r.Cores) {
		busy = " (other work shared its cores: read the ratios more than the times)"
	}
	w("%.1f when the measurement began%s. Each cell is the\n", r.LoadBefore, busy)
	w("statement's execution time under `EXPLAIN (ANALYZE, BUFFERS)` (median of 3, warm cache) with migration 00012's\n")
	w("covering indexes, and in parentheses with the plain indexes they replaced:\n\n")
	w("| statement |")
	for _, c := range r.Cases {
		w(" %s (%s turns) |", c.Name, thousands(int(c.TurnsInWindow)))
	}
	w("\n|---|")
	for range r.Cases {
		w("---|")
	}
	w("\n")
	if len(r.Cases) > 0 {
		for i, s := range r.Cases[0].Statements {
			w("| %s |", s.Name)
			for _, c := range r.Cases {
				st := c.Statements[i]
				w(" %.1f ms (%.1f) |", st.ExecutionMS, st.WithoutMS)
			}
			w("\n")
		}
		w("\nA whole answer through the store (median of 3, milliseconds):\n\n| route |")
		for _, c := range r.Cases {
			w(" %s |", c.Name)
		}
		w("\n|---|")
		for range r.Cases {
			w("---|")
		}
		w("\n")
		for _, route := range []string{"overview", "tokens-timeline", "tool-performance", "tool-timeline", "ingestion-stats", "session-activity"} {
			w("| %s |", route)
			for _, c := range r.Cases {
				w(" %.1f |", c.AnswerMS[route])
			}
			w("\n")
		}
		var scans []string
		for _, c := range r.Cases {
			for _, s := range c.Statements {
				for _, x := range s.Scans {
					if (strings.Contains(x, "turns") || strings.Contains(x, "tool_runs")) && !slices.Contains(scans, x) {
						scans = append(scans, x)
					}
				}
			}
		}
		sort.Strings(scans)
		w("\nScans of turns and tool runs in these plans: %s.\n", "`"+strings.Join(scans, "`, `")+"`")
	}
	return b.String()
}
