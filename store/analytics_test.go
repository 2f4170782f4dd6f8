package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

// analyticsFixture writes rows at chosen times straight into the tables the analytics read.
type analyticsFixture struct {
	t  *testing.T
	st *store.Store
}

func (f analyticsFixture) exec(sql string, args ...any) {
	f.t.Helper()
	_, err := f.st.SQL().Exec(sql, args...)
	require.NoError(f.t, err)
}

func (f analyticsFixture) user(name string) models.Caller {
	f.t.Helper()
	u := &models.User{Username: name}
	require.NoError(f.t, f.st.CreateUser(context.Background(), u))
	return models.Caller{UserID: u.ID, Username: name, Groups: map[uuid.UUID]models.Role{}}
}

// group makes a group with admin as its admin and the members, and records the roles in the callers.
func (f analyticsFixture) group(name string, admin *models.Caller, members ...*models.Caller) uuid.UUID {
	f.t.Helper()
	g := &models.Group{Name: name}
	require.NoError(f.t, f.st.CreateGroup(context.Background(), *admin, g))
	admin.Groups[g.ID] = models.RoleAdmin
	for _, m := range members {
		require.NoError(f.t, f.st.AddMember(context.Background(), *admin, g.ID, m.UserID, models.RoleMember))
		m.Groups[g.ID] = models.RoleMember
	}
	return g.ID
}

func (f analyticsFixture) session(owner models.Caller, group *uuid.UUID, at time.Time) uuid.UUID {
	id := uuid.New()
	f.exec(`INSERT INTO chat_sessions (id, owner_id, group_id, title, model, created_at) VALUES ($1, $2, $3, 'secret title', 'm', $4)`,
		id, owner.UserID, group, at)
	return id
}

type turnRow struct {
	session            uuid.UUID
	user               models.Caller
	at                 time.Time
	status, model      string
	prompt, completion int
	took               time.Duration // finished_at - started_at; 0 = unfinished
}

func (f analyticsFixture) turn(r turnRow) uuid.UUID {
	id := uuid.New()
	var finished *time.Time
	if r.took > 0 {
		v := r.at.Add(r.took)
		finished = &v
	}
	if r.status == "" {
		r.status = models.TurnCompleted
	}
	if r.model == "" {
		r.model = "llama"
	}
	f.exec(`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, prompt_tokens, completion_tokens,
	        started_at, finished_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9)`,
		id, r.session, r.user.UserID, "wf-"+id.String(), r.status, r.model, r.prompt, r.completion, r.at, finished)
	return id
}

func (f analyticsFixture) toolRun(turn, session uuid.UUID, user models.Caller, tool, status string, at time.Time, ms *int) {
	f.exec(`INSERT INTO tool_runs (id, turn_id, session_id, user_id, step, call_id, server_name, tool_name, status, duration_ms, created_at)
	        VALUES ($1, $2, $3, $4, 1, $5, 'datetime', $6, $7, $8, $9)`,
		uuid.New(), turn, session, user.UserID, uuid.NewString(), tool, status, ms, at)
}

func (f analyticsFixture) ingestion(owner models.Caller, group *uuid.UUID, source, status, code string, at time.Time, took time.Duration, attempts int) {
	doc, run := uuid.New(), uuid.New()
	f.exec(`INSERT INTO documents (id, owner_id, group_id, title, source_kind, size_bytes, status, created_at)
	        VALUES ($1, $2, $3, 'doc', $4, 1000, 'ready', $5)`, doc, owner.UserID, group, source, at)
	f.exec(`INSERT INTO ingestion_runs (id, document_id, owner_id, group_id, workflow_id, status, error_code, chunks_done,
	        attempts, started_at, finished_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 10, $8, $9, $10, $9)`,
		run, doc, owner.UserID, group, "ingest/"+run.String(), status, code, attempts, at, at.Add(took))
}

func ms(v int) *int { return &v }

var day0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// Rows exactly at a bucket's start belong to that bucket, the first and the last instant of the
// window count, the instants just outside do not, and empty buckets come as zeros.
func TestAnalyticsBucketEdges(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	ann := f.user("ann")
	sid := f.session(ann, nil, day0.Add(-time.Hour))
	f.session(ann, nil, day0.Add(24*time.Hour)) // new on day 2, exactly at its start
	end := day0.Add(4 * 24 * time.Hour)
	for _, r := range []turnRow{
		{at: day0.Add(-time.Microsecond), prompt: 1000},                  // before the window
		{at: day0, prompt: 1, completion: 2},                             // the window's first instant: day 1
		{at: day0.Add(24*time.Hour - time.Microsecond), prompt: 10},      // day 1's last instant
		{at: day0.Add(24 * time.Hour), prompt: 100, model: "qwen"},       // exactly day 2's start
		{at: end.Add(-time.Microsecond), prompt: 1000, completion: 1000}, // the window's last instant: day 4
		{at: end, prompt: 5000},                                          // after the window
	} {
		r.session, r.user = sid, ann
		tid := f.turn(r)
		f.toolRun(tid, sid, ann, "time_now", models.ToolSucceeded, r.at, ms(10))
	}
	q := store.AnalyticsQuery{Start: day0, End: end, Interval: 24 * time.Hour}

	tok, err := st.TokensTimeline(ctx, ann, q)
	require.NoError(t, err)
	require.Equal(t, []store.TokenBucket{
		{Start: day0, Turns: 2, PromptTokens: 11, CompletionTokens: 2, TotalTokens: 13},
		{Start: day0.Add(24 * time.Hour), Turns: 1, PromptTokens: 100, TotalTokens: 100},
		{Start: day0.Add(48 * time.Hour)},
		{Start: day0.Add(72 * time.Hour), Turns: 1, PromptTokens: 1000, CompletionTokens: 1000, TotalTokens: 2000},
	}, tok.Buckets)
	require.Equal(t, []store.ModelTokens{
		{Model: "llama", Turns: 3, PromptTokens: 1011, CompletionTokens: 1002, TotalTokens: 2013},
		{Model: "qwen", Turns: 1, PromptTokens: 100, TotalTokens: 100},
	}, tok.Models)

	tools, err := st.ToolTimeline(ctx, ann, q)
	require.NoError(t, err)
	runs := []int64{}
	for _, b := range tools.Buckets {
		runs = append(runs, b.Runs)
	}
	require.Equal(t, []int64{2, 1, 0, 1}, runs)
	require.Nil(t, tools.Buckets[2].AvgDurationMS, "an empty bucket has no average")
	require.Equal(t, 10.0, *tools.Buckets[0].AvgDurationMS)

	act, err := st.SessionActivity(ctx, ann, q)
	require.NoError(t, err)
	require.Equal(t, int64(4), act.Turns)
	require.Equal(t, int64(1), act.ActiveSessions)
	require.Equal(t, int64(1), act.NewSessions, "the session made before the window is not new")
	require.Equal(t, []store.SessionBucket{
		{Start: day0, Turns: 2, ActiveSessions: 1},
		{Start: day0.Add(24 * time.Hour), Turns: 1, ActiveSessions: 1, NewSessions: 1},
		{Start: day0.Add(48 * time.Hour)},
		{Start: day0.Add(72 * time.Hour), Turns: 1, ActiveSessions: 1},
	}, act.Buckets)

	// One day in hours (days=1, interval=hour): a turn exactly at 05:00 is in the 05:00 bucket.
	f.turn(turnRow{session: sid, user: ann, at: day0.Add(5 * time.Hour), prompt: 7})
	hourly, err := st.TokensTimeline(ctx, ann, store.AnalyticsQuery{Start: day0, End: day0.Add(24 * time.Hour), Interval: time.Hour})
	require.NoError(t, err)
	require.Len(t, hourly.Buckets, 24)
	for i, b := range hourly.Buckets {
		require.Equal(t, day0.Add(time.Duration(i)*time.Hour), b.Start)
		switch i {
		case 0:
			require.Equal(t, int64(1), b.PromptTokens)
		case 5:
			require.Equal(t, int64(7), b.PromptTokens)
		case 23:
			require.Equal(t, int64(10), b.PromptTokens)
		default:
			require.Zero(t, b.Turns, "hour %d", i)
		}
	}
}

// The caller's own rows by default; a group's rows for its admins only; another tenant's rows
// never, whatever is asked.
func TestAnalyticsScopes(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	admin, member, outsider := f.user("boss"), f.user("worker"), f.user("stranger")
	gid := f.group("team", &admin, &member)
	other := f.group("others", &outsider)

	at := day0.Add(time.Hour)
	own := f.session(admin, nil, at)
	shared := f.session(member, &gid, at)
	foreign := f.session(outsider, &other, at)
	private := f.session(outsider, nil, at)
	memberOwn := f.session(member, nil, at)
	for _, r := range []turnRow{
		{session: own, user: admin, prompt: 1},
		{session: shared, user: member, prompt: 10},
		{session: shared, user: admin, prompt: 100},
		{session: foreign, user: outsider, prompt: 1000},
		{session: private, user: outsider, prompt: 10000},
		{session: memberOwn, user: member, prompt: 100000},
	} {
		r.at = at
		tid := f.turn(r)
		f.toolRun(tid, r.session, r.user, "tool", models.ToolSucceeded, at, ms(1))
	}
	f.ingestion(admin, nil, "text", models.RunCompleted, "", at, time.Second, 1)
	f.ingestion(member, &gid, "url", models.RunCompleted, "", at, time.Second, 1)
	f.ingestion(outsider, &other, "upload", models.RunFailed, "BAD_DOCUMENT", at, time.Second, 1)
	q := store.AnalyticsQuery{Start: day0, End: day0.Add(24 * time.Hour), Interval: 24 * time.Hour}
	group := func(id uuid.UUID) store.AnalyticsQuery { q := q; q.GroupID = &id; return q }

	type want struct {
		prompt, turns, sessions, toolRuns, ingestion int64
	}
	for _, tc := range []struct {
		name   string
		caller models.Caller
		q      store.AnalyticsQuery
		want   want
	}{
		{"admin's own: their turns in any session", admin, q, want{101, 2, 1, 2, 1}},
		{"member's own", member, q, want{100010, 2, 2, 2, 1}},
		{"outsider's own", outsider, q, want{11000, 2, 2, 2, 1}},
		{"group for its admin: everyone's turns in its sessions", admin, group(gid), want{110, 2, 1, 2, 1}},
		{"the other group for its admin", outsider, group(other), want{1000, 1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := st.AnalyticsOverview(ctx, tc.caller, tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want, want{o.Tokens.Prompt, o.Turns.Total, o.Sessions.New, o.ToolRuns.Total, o.Ingestion.Runs})
			tl, err := st.TokensTimeline(ctx, tc.caller, tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want.prompt, tl.Buckets[0].PromptTokens)
			tp, err := st.ToolPerformance(ctx, tc.caller, tc.q)
			require.NoError(t, err)
			require.Len(t, tp.Tools, 1)
			require.Equal(t, tc.want.toolRuns, tp.Tools[0].Runs)
			is, err := st.IngestionStats(ctx, tc.caller, tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want.ingestion, is.Runs)
			sa, err := st.SessionActivity(ctx, tc.caller, tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want.turns, sa.Turns)
		})
	}

	for _, tc := range []struct {
		name   string
		caller models.Caller
		q      store.AnalyticsQuery
		kind   error
		code   string
	}{
		{"a member who is not an admin", member, group(gid), models.ErrForbidden, "GROUP_ADMIN_REQUIRED"},
		{"an admin of another group", outsider, group(gid), models.ErrNotFound, "GROUP_NOT_FOUND"},
		{"a group that does not exist", admin, group(uuid.New()), models.ErrNotFound, "GROUP_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := map[string]func() error{
				"overview":         func() error { _, err := st.AnalyticsOverview(ctx, tc.caller, tc.q); return err },
				"tokens-timeline":  func() error { _, err := st.TokensTimeline(ctx, tc.caller, tc.q); return err },
				"tool-performance": func() error { _, err := st.ToolPerformance(ctx, tc.caller, tc.q); return err },
				"tool-timeline":    func() error { _, err := st.ToolTimeline(ctx, tc.caller, tc.q); return err },
				"ingestion-stats":  func() error { _, err := st.IngestionStats(ctx, tc.caller, tc.q); return err },
				"session-activity": func() error { _, err := st.SessionActivity(ctx, tc.caller, tc.q); return err },
			}
			for name, read := range reads {
				err := read()
				require.ErrorIs(t, err, tc.kind, name)
				var de *models.Error
				require.ErrorAs(t, err, &de)
				require.Equal(t, tc.code, de.Code, name)
			}
		})
	}
}

// Counts by status, durations and their percentiles, per tool, per source and per failure code.
func TestAnalyticsStatistics(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	eve := f.user("eve")
	at := day0.Add(2 * time.Hour)
	sid := f.session(eve, nil, at)
	statuses := []struct {
		status string
		took   time.Duration
	}{
		{models.TurnCompleted, time.Second}, {models.TurnCompleted, 3 * time.Second}, {models.TurnFailed, time.Second},
		{models.TurnCancelled, time.Second}, {models.TurnRunning, 0},
	}
	var turns []uuid.UUID
	for _, s := range statuses {
		turns = append(turns, f.turn(turnRow{session: sid, user: eve, at: at, status: s.status, took: s.took, prompt: 2, completion: 3}))
	}
	// time_now: 10 calls of 10..100 ms, 8 succeeded, 1 failed, 1 timed out; fetch_url: denied,
	// cancelled, running (no duration).
	for i := 1; i <= 10; i++ {
		status := models.ToolSucceeded
		switch i {
		case 9:
			status = models.ToolFailed
		case 10:
			status = models.ToolTimedOut
		}
		f.toolRun(turns[0], sid, eve, "time_now", status, at, ms(i*10))
	}
	f.toolRun(turns[1], sid, eve, "fetch_url", models.ToolDenied, at, ms(0))
	f.toolRun(turns[1], sid, eve, "fetch_url", models.ToolCancelled, at, ms(5))
	f.toolRun(turns[4], sid, eve, "fetch_url", models.ToolRunning, at, nil)
	f.ingestion(eve, nil, "upload", models.RunCompleted, "", at, 2*time.Second, 1)
	f.ingestion(eve, nil, "upload", models.RunCompleted, "", at, 4*time.Second, 3)
	f.ingestion(eve, nil, "url", models.RunFailed, "FETCH_FAILED", at, time.Second, 4)
	f.ingestion(eve, nil, "url", models.RunFailed, "FETCH_FAILED", at, time.Second, 1)
	f.ingestion(eve, nil, "text", models.RunFailed, "BAD_DOCUMENT", at, time.Second, 1)
	f.ingestion(eve, nil, "text", models.RunRunning, "", at, 0, 1)
	q := store.AnalyticsQuery{Start: day0, End: day0.Add(24 * time.Hour)}

	o, err := st.AnalyticsOverview(ctx, eve, q)
	require.NoError(t, err)
	require.Equal(t, store.TurnCounts{Total: 5, Completed: 2, Failed: 1, Cancelled: 1, Active: 1, AvgDurationMS: ptr(2000.0)}, o.Turns)
	require.Equal(t, store.TokenCounts{Prompt: 10, Completion: 15, Total: 25}, o.Tokens)
	require.Equal(t, store.SessionCounts{Active: 1, New: 1}, o.Sessions)
	require.Equal(t, store.ToolRunCounts{Total: 13, Succeeded: 8, Failed: 2, SuccessRate: ptr(0.6667)}, o.ToolRuns)
	require.Equal(t, store.IngestionCounts{Runs: 6, Completed: 2, Failed: 3}, o.Ingestion)

	tp, err := st.ToolPerformance(ctx, eve, q)
	require.NoError(t, err)
	require.Equal(t, []store.ToolStats{
		{ToolName: "time_now", ServerName: "datetime", Runs: 10, Succeeded: 8, Failed: 1, TimedOut: 1, SuccessRate: ptr(0.8),
			AvgDurationMS: ptr(55.0), P50DurationMS: ptr(55.0), P95DurationMS: ptr(95.5), MaxDurationMS: ptr(100.0)},
		{ToolName: "fetch_url", ServerName: "datetime", Runs: 3, Denied: 1, Cancelled: 1, Running: 1, SuccessRate: ptr(0.0),
			AvgDurationMS: ptr(2.5), P50DurationMS: ptr(2.5), P95DurationMS: ptr(4.8), MaxDurationMS: ptr(5.0)},
	}, tp.Tools)

	is, err := st.IngestionStats(ctx, eve, q)
	require.NoError(t, err)
	require.Equal(t, &store.IngestionStats{Runs: 6, Completed: 2, Failed: 3, Active: 1, Retried: 2, Chunks: 20, Bytes: 2000,
		AvgDurationMS: ptr(3000.0), P95DurationMS: ptr(3900.0),
		BySource: []store.IngestionSource{{Source: "text", Runs: 2, Failed: 1}, {Source: "upload", Runs: 2, Completed: 2}, {Source: "url", Runs: 2, Failed: 2}},
		Errors:   []store.IngestionError{{Code: "FETCH_FAILED", Runs: 2}, {Code: "BAD_DOCUMENT", Runs: 1}},
	}, is)

	// An empty window is all zeros and empty lists, never nulls where a number belongs.
	empty := store.AnalyticsQuery{Start: day0.Add(-48 * time.Hour), End: day0.Add(-24 * time.Hour), Interval: time.Hour}
	o, err = st.AnalyticsOverview(ctx, eve, empty)
	require.NoError(t, err)
	require.Equal(t, &store.Overview{}, o)
	tp, err = st.ToolPerformance(ctx, eve, empty)
	require.NoError(t, err)
	require.Equal(t, []store.ToolStats{}, tp.Tools)
	is, err = st.IngestionStats(ctx, eve, empty)
	require.NoError(t, err)
	require.Equal(t, &store.IngestionStats{BySource: []store.IngestionSource{}, Errors: []store.IngestionError{}}, is)
	tl, err := st.ToolTimeline(ctx, eve, empty)
	require.NoError(t, err)
	require.Len(t, tl.Buckets, 24)

	plans, err := st.ExplainAnalytics(ctx, eve, store.AnalyticsQuery{Start: day0, End: day0.Add(24 * time.Hour), Interval: time.Hour})
	require.NoError(t, err)
	require.Len(t, plans, 8)
	for _, p := range plans {
		require.Contains(t, p.Plan, "Execution Time", p.Name)
		require.Positive(t, p.ExecutionMS, p.Name)
	}
}
