package analytics_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/analytics"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var limits = analytics.Limits{MaxDays: 365, MaxBuckets: 1000}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The window is the last `days` UTC days, today included; a timeline's last bucket is the one
// holding now, so no bucket lies in the future.
func TestWindow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		now        string
		r          analytics.Request
		timeline   bool
		start, end string
		buckets    int
	}{
		{"one day, totals", "2025-03-10T10:30:00Z", analytics.Request{Days: 1}, false, "2025-03-10T00:00:00Z", "2025-03-11T00:00:00Z", 0},
		{"one day by day", "2025-03-10T10:30:00Z", analytics.Request{Days: 1}, true, "2025-03-10T00:00:00Z", "2025-03-11T00:00:00Z", 1},
		{"one day by hour: up to the current hour", "2025-03-10T10:30:00Z", analytics.Request{Days: 1, Interval: analytics.Hour}, true,
			"2025-03-10T00:00:00Z", "2025-03-10T11:00:00Z", 11},
		{"exactly at midnight by hour", "2025-03-10T00:00:00Z", analytics.Request{Days: 1, Interval: analytics.Hour}, true,
			"2025-03-10T00:00:00Z", "2025-03-10T01:00:00Z", 1},
		{"last instant of a day", "2025-03-10T23:59:59.999999Z", analytics.Request{Days: 2, Interval: analytics.Hour}, true,
			"2025-03-09T00:00:00Z", "2025-03-11T00:00:00Z", 48},
		{"thirty days by day", "2025-03-10T10:30:00Z", analytics.Request{Days: 30, Interval: analytics.Day}, true,
			"2025-02-09T00:00:00Z", "2025-03-11T00:00:00Z", 30},
		{"a local clock is read in UTC", "2025-03-10T01:30:00+02:00", analytics.Request{Days: 1}, true,
			"2025-03-09T00:00:00Z", "2025-03-10T00:00:00Z", 1},
		{"the longest hourly window", "2025-03-10T23:30:00Z", analytics.Request{Days: 41, Interval: analytics.Hour}, true,
			"2025-01-29T00:00:00Z", "2025-03-11T00:00:00Z", 984},
		{"the longest window", "2025-03-10T10:30:00Z", analytics.Request{Days: 365}, true, "2024-03-11T00:00:00Z", "2025-03-11T00:00:00Z", 365},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := limits.Window(at(tc.now), tc.r, tc.timeline)
			require.NoError(t, err)
			require.Equal(t, at(tc.start), w.Start)
			require.Equal(t, at(tc.end), w.End)
			require.Equal(t, time.UTC, w.Start.Location())
			if tc.timeline {
				width := time.Hour
				if w.Interval == analytics.Day {
					width = 24 * time.Hour
				}
				require.Equal(t, tc.buckets, int(w.End.Sub(w.Start)/width))
			} else {
				require.Empty(t, w.Interval)
			}
		})
	}
}

func TestWindowRefusesWhatIsOutOfBounds(t *testing.T) {
	t.Parallel()
	now := at("2025-03-10T10:30:00Z")
	cases := []struct {
		name     string
		r        analytics.Request
		timeline bool
		field    string
	}{
		{"no days", analytics.Request{Days: 0}, false, "days"},
		{"negative days", analytics.Request{Days: -3}, true, "days"},
		{"more than the maximum", analytics.Request{Days: 366}, false, "days"},
		{"an unknown interval", analytics.Request{Days: 3, Interval: "week"}, true, "interval"},
		{"too many hourly buckets", analytics.Request{Days: 42, Interval: analytics.Hour}, true, "interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := limits.Window(now, tc.r, tc.timeline)
			require.ErrorIs(t, err, models.ErrInvalid)
			var de *models.Error
			require.True(t, errors.As(err, &de))
			require.Equal(t, tc.field, de.Details["field"])
		})
	}
}

// The service reads the window it computed: a turn an hour ago lands in the second-to-last hourly
// bucket, and the answer carries the window and the group asked for.
func TestServiceReadsItsWindow(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 2, MaxOverflow: 2, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	u := &models.User{Username: "ana"}
	require.NoError(t, st.CreateUser(ctx, u))
	c := models.Caller{UserID: u.ID, Groups: map[uuid.UUID]models.Role{}}
	now := at("2025-03-10T10:30:00Z")
	sid, tid := uuid.New(), uuid.New()
	_, err = st.SQL().Exec(`INSERT INTO chat_sessions (id, owner_id, model, created_at) VALUES ($1, $2, 'm', $3)`, sid, u.ID, now.Add(-time.Hour))
	require.NoError(t, err)
	_, err = st.SQL().Exec(`INSERT INTO turns (id, session_id, user_id, workflow_id, model, prompt_tokens, created_at)
		VALUES ($1, $2, $3, 'wf', 'm', 42, $4)`, tid, sid, u.ID, now.Add(-time.Hour))
	require.NoError(t, err)
	svc := &analytics.Service{Store: st, Limits: limits, Now: func() time.Time { return now }}

	tl, err := svc.TokensTimeline(ctx, c, analytics.Request{Days: 2, Interval: analytics.Hour})
	require.NoError(t, err)
	require.Equal(t, analytics.Window{Days: 2, Interval: analytics.Hour, Start: at("2025-03-09T00:00:00Z"), End: at("2025-03-10T11:00:00Z")}, tl.Window)
	require.Len(t, tl.Buckets, 35)
	require.Equal(t, at("2025-03-10T09:00:00Z"), tl.Buckets[33].Start)
	require.Equal(t, int64(42), tl.Buckets[33].PromptTokens)
	require.Nil(t, tl.GroupID)

	o, err := svc.Overview(ctx, c, analytics.Request{Days: 1})
	require.NoError(t, err)
	require.Equal(t, int64(42), o.Tokens.Prompt)
	require.Equal(t, int64(1), o.Sessions.New)

	_, err = svc.SessionActivity(ctx, c, analytics.Request{Days: 1, Interval: "minute"})
	require.ErrorIs(t, err, models.ErrInvalid)
	g := uuid.New()
	_, err = svc.ToolPerformance(ctx, c, analytics.Request{Days: 1, GroupID: &g})
	require.ErrorIs(t, err, models.ErrNotFound, "a group the caller is not in")
}
