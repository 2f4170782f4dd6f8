// Package analytics answers the analytics routes: it turns a request's days, interval and group
// into a window of whole UTC buckets within the configured bounds, and reads the aggregates of
// that window from the store (store/analytics.go), whose scope rules decide whose rows they are.
package analytics

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// Interval is the width of a timeline's buckets.
type Interval string

// The intervals of timelines.
const (
	Hour Interval = "hour"
	Day  Interval = "day"
)

func (i Interval) duration() time.Duration {
	if i == Hour {
		return time.Hour
	}
	return 24 * time.Hour
}

// DefaultDays is the window when a request names none.
const DefaultDays = 30

// Limits bound what a request may ask for (ANALYTICS_MAX_DAYS, ANALYTICS_MAX_BUCKETS).
type Limits struct {
	MaxDays    int
	MaxBuckets int
}

// Request is what an analytics route was asked: the last Days UTC days, today included; the
// bucket width of a timeline (empty = day); a group instead of the caller's own data.
type Request struct {
	Days     int
	Interval Interval
	GroupID  *uuid.UUID
}

// Window is the span an answer covers: rows created in [Start, End). A timeline's buckets start
// at Start, one Interval apart, the last one holding now; other answers end at the end of today.
type Window struct {
	Days     int       `json:"days"`
	Interval Interval  `json:"interval,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
}

// Window checks r against the limits and returns its window at now. Errors name the field.
func (l Limits) Window(now time.Time, r Request, timeline bool) (Window, error) {
	if r.Days < 1 || r.Days > l.MaxDays {
		return Window{}, models.Invalid("days", "days must be an integer between 1 and %d", l.MaxDays)
	}
	now = now.UTC()
	today := now.Truncate(24 * time.Hour)
	w := Window{Days: r.Days, Start: today.Add(-time.Duration(r.Days-1) * 24 * time.Hour), End: today.Add(24 * time.Hour)}
	if !timeline {
		return w, nil
	}
	w.Interval = r.Interval
	if w.Interval == "" {
		w.Interval = Day
	}
	if w.Interval != Hour && w.Interval != Day {
		return Window{}, models.Invalid("interval", "interval must be hour or day")
	}
	if n := r.Days * int(24*time.Hour/w.Interval.duration()); n > l.MaxBuckets {
		return Window{}, models.Invalid("interval", "interval=%s over %d days makes %d buckets; at most %d are allowed: ask for interval=day or fewer days",
			w.Interval, r.Days, n, l.MaxBuckets)
	}
	w.End = now.Truncate(w.Interval.duration()).Add(w.Interval.duration())
	return w, nil
}

// Service reads analytics for callers.
type Service struct {
	Store  *store.Store
	Limits Limits
	Now    func() time.Time
}

// The answers: the window, the group asked for (null for the caller's own data) and the figures.
type (
	// Overview answers GET /v1/analytics/overview.
	Overview struct {
		Window  Window     `json:"window"`
		GroupID *uuid.UUID `json:"group_id"`
		store.Overview
	}
	// TokensTimeline answers GET /v1/analytics/tokens-timeline.
	TokensTimeline struct {
		Window  Window     `json:"window"`
		GroupID *uuid.UUID `json:"group_id"`
		store.TokensTimeline
	}
	// ToolPerformance answers GET /v1/analytics/tool-performance.
	ToolPerformance struct {
		Window  Window     `json:"window"`
		GroupID *uuid.UUID `json:"group_id"`
		store.ToolPerformance
	}
	// ToolTimeline answers GET /v1/analytics/tool-timeline.
	ToolTimeline struct {
		Window  Window     `json:"window"`
		GroupID *uuid.UUID `json:"group_id"`
		store.ToolTimeline
	}
	// IngestionStats answers GET /v1/analytics/ingestion-stats.
	IngestionStats struct {
		Window  Window     `json:"window"`
		GroupID *uuid.UUID `json:"group_id"`
		store.IngestionStats
	}
	// SessionActivity answers GET /v1/analytics/session-activity.
	SessionActivity struct {
		Window  Window     `json:"window"`
		GroupID *uuid.UUID `json:"group_id"`
		store.SessionActivity
	}
)

// read checks r, resolves its window and reads it with f.
func read[T any](ctx context.Context, s *Service, c models.Caller, r Request, timeline bool,
	f func(context.Context, models.Caller, store.AnalyticsQuery) (*T, error)) (Window, *T, error) {
	w, err := s.Limits.Window(s.Now(), r, timeline)
	if err != nil {
		return Window{}, nil, err
	}
	q := store.AnalyticsQuery{GroupID: r.GroupID, Start: w.Start, End: w.End}
	if timeline {
		q.Interval = w.Interval.duration()
	}
	v, err := f(ctx, c, q)
	return w, v, err
}

// Overview sums up the window: turns by status, tokens, sessions, tool calls, ingestion runs.
func (s *Service) Overview(ctx context.Context, c models.Caller, r Request) (*Overview, error) {
	w, v, err := read(ctx, s, c, r, false, s.Store.AnalyticsOverview)
	if err != nil {
		return nil, err
	}
	return &Overview{Window: w, GroupID: r.GroupID, Overview: *v}, nil
}

// TokensTimeline is token usage per bucket, and per model over the window.
func (s *Service) TokensTimeline(ctx context.Context, c models.Caller, r Request) (*TokensTimeline, error) {
	w, v, err := read(ctx, s, c, r, true, s.Store.TokensTimeline)
	if err != nil {
		return nil, err
	}
	return &TokensTimeline{Window: w, GroupID: r.GroupID, TokensTimeline: *v}, nil
}

// ToolPerformance is per-tool counts and durations over the window.
func (s *Service) ToolPerformance(ctx context.Context, c models.Caller, r Request) (*ToolPerformance, error) {
	w, v, err := read(ctx, s, c, r, false, s.Store.ToolPerformance)
	if err != nil {
		return nil, err
	}
	return &ToolPerformance{Window: w, GroupID: r.GroupID, ToolPerformance: *v}, nil
}

// ToolTimeline is tool calls per bucket.
func (s *Service) ToolTimeline(ctx context.Context, c models.Caller, r Request) (*ToolTimeline, error) {
	w, v, err := read(ctx, s, c, r, true, s.Store.ToolTimeline)
	if err != nil {
		return nil, err
	}
	return &ToolTimeline{Window: w, GroupID: r.GroupID, ToolTimeline: *v}, nil
}

// IngestionStats sums up the ingestion runs of the window.
func (s *Service) IngestionStats(ctx context.Context, c models.Caller, r Request) (*IngestionStats, error) {
	w, v, err := read(ctx, s, c, r, false, s.Store.IngestionStats)
	if err != nil {
		return nil, err
	}
	return &IngestionStats{Window: w, GroupID: r.GroupID, IngestionStats: *v}, nil
}

// SessionActivity is sessions used and started, over the window and per bucket.
func (s *Service) SessionActivity(ctx context.Context, c models.Caller, r Request) (*SessionActivity, error) {
	w, v, err := read(ctx, s, c, r, true, s.Store.SessionActivity)
	if err != nil {
		return nil, err
	}
	return &SessionActivity{Window: w, GroupID: r.GroupID, SessionActivity: *v}, nil
}
