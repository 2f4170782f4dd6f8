package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/analytics"
	"github.com/youworker/youworker/models"
)

// analyticsService is what the analytics handlers need of analytics.Service (a fake in the
// handlers' tests).
type analyticsService interface {
	Overview(context.Context, models.Caller, analytics.Request) (*analytics.Overview, error)
	TokensTimeline(context.Context, models.Caller, analytics.Request) (*analytics.TokensTimeline, error)
	ToolPerformance(context.Context, models.Caller, analytics.Request) (*analytics.ToolPerformance, error)
	ToolTimeline(context.Context, models.Caller, analytics.Request) (*analytics.ToolTimeline, error)
	IngestionStats(context.Context, models.Caller, analytics.Request) (*analytics.IngestionStats, error)
	SessionActivity(context.Context, models.Caller, analytics.Request) (*analytics.SessionActivity, error)
}

// analyticsRequest reads ?days= (default 30), ?group_id= and, for timelines, ?interval=.
func analyticsRequest(c *gin.Context, timeline bool) (analytics.Request, error) {
	r := analytics.Request{Days: analytics.DefaultDays}
	if v, ok := c.GetQuery("days"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return r, models.Invalid("days", "days must be a whole number of days, got %q", v)
		}
		r.Days = n
	}
	if timeline {
		r.Interval = analytics.Interval(c.Query("interval"))
		if _, ok := c.GetQuery("interval"); ok && r.Interval == "" {
			return r, models.Invalid("interval", "interval must be hour or day")
		}
	}
	if v, ok := c.GetQuery("group_id"); ok {
		id, err := uuid.Parse(v)
		if err != nil {
			return r, models.Invalid("group_id", "group_id must be a UUID")
		}
		r.GroupID = &id
	}
	return r, nil
}

// analyticsHandler binds an analytics request, reads it with read and renders the answer.
func analyticsHandler[T any](s *Server, timeline bool, read func(analyticsService, context.Context, models.Caller, analytics.Request) (*T, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		r, err := analyticsRequest(c, timeline)
		if err != nil {
			s.fail(c, err)
			return
		}
		out, err := read(s.analytics, c.Request.Context(), callerOf(c), r)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

// overviewJSON is the overview with the budgets that apply: the caller's own and their groups'
// (BudgetsOf), or with ?group_id= the group's.
type overviewJSON struct {
	*analytics.Overview
	Budgets []models.BudgetStatus `json:"budgets"`
}

// overview reads the overview with a and adds the budgets.
func (s *Server) overview(a analyticsService, ctx context.Context, c models.Caller, r analytics.Request) (*overviewJSON, error) {
	o, err := a.Overview(ctx, c, r)
	if err != nil {
		return nil, err // the group's budget is read only once the caller may see its analytics
	}
	budgets, err := s.overviewBudgets(ctx, c, r.GroupID)
	if err != nil {
		return nil, err
	}
	return &overviewJSON{Overview: o, Budgets: budgets}, nil
}

// overviewBudgets are the budgets the analytics overview shows: those that apply to the caller's
// turns, or with a group the group's (none: an empty list).
func (s *Server) overviewBudgets(ctx context.Context, caller models.Caller, group *uuid.UUID) ([]models.BudgetStatus, error) {
	if group == nil {
		return s.store.BudgetsOf(ctx, caller.UserID, s.now())
	}
	st, err := s.store.Budget(ctx, nil, group, s.now())
	switch {
	case errors.Is(err, models.ErrNotFound):
		return []models.BudgetStatus{}, nil
	case err != nil:
		return nil, err
	}
	return []models.BudgetStatus{*st}, nil
}

// analyticsRoutes mounts the six analytics routes: the caller's own data, or with ?group_id= a
// group's for its admins.
func (s *Server) analyticsRoutes(g *gin.RouterGroup) {
	g.GET("/overview", analyticsHandler(s, false, s.overview))
	g.GET("/tokens-timeline", analyticsHandler(s, true, analyticsService.TokensTimeline))
	g.GET("/tool-performance", analyticsHandler(s, false, analyticsService.ToolPerformance))
	g.GET("/tool-timeline", analyticsHandler(s, true, analyticsService.ToolTimeline))
	g.GET("/ingestion-stats", analyticsHandler(s, false, analyticsService.IngestionStats))
	g.GET("/session-activity", analyticsHandler(s, true, analyticsService.SessionActivity))
}
