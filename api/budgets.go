package api

import (
	"context"
	"errors"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/models"
)

// Budgets (store/budgets.go): platform administrators cap the tokens and turns of each user and
// each group per UTC day and month; users read the budgets that apply to their turns, members
// their group's. A group admin may not set their own group's budget: that would defeat it.

// budgetRequest is the body of PUT …/budget(s): every cap, null or absent for no cap. It replaces
// the whole budget.
type budgetRequest struct {
	DailyTokens   *int64 `json:"daily_tokens"`
	MonthlyTokens *int64 `json:"monthly_tokens"`
	DailyTurns    *int64 `json:"daily_turns"`
	MonthlyTurns  *int64 `json:"monthly_turns"`
}

// budgetFields are the caps of a budget as the API names them, in the order they are checked.
var budgetFields = []string{"daily_tokens", "monthly_tokens", "daily_turns", "monthly_turns"}

// budget checks the caps (non-negative; turns fit the column, a Postgres integer) and returns
// them as a budget of nobody yet.
func (r budgetRequest) budget() (*models.Budget, error) {
	caps := []*int64{r.DailyTokens, r.MonthlyTokens, r.DailyTurns, r.MonthlyTurns}
	set := false
	for i, v := range caps {
		if v == nil {
			continue
		}
		set = true
		field := budgetFields[i]
		if *v < 0 {
			return nil, models.Invalid(field, "%s must be a non-negative integer, or null for no cap", field)
		}
		if i >= 2 && *v > math.MaxInt32 {
			return nil, models.Invalid(field, "%s must be at most %d", field, math.MaxInt32)
		}
	}
	if !set {
		return nil, models.Errorf(models.ErrInvalid, "VALIDATION_ERROR",
			"set at least one of daily_tokens, monthly_tokens, daily_turns and monthly_turns (null is no cap; DELETE removes a budget)").
			WithDetails(map[string]any{"fields": budgetFields})
	}
	return &models.Budget{DailyTokens: r.DailyTokens, MonthlyTokens: r.MonthlyTokens, DailyTurns: r.DailyTurns, MonthlyTurns: r.MonthlyTurns}, nil
}

// auditCaps are a budget's caps as its audit entry records them.
func auditCaps(b *models.Budget) map[string]any {
	return map[string]any{"daily_tokens": b.DailyTokens, "monthly_tokens": b.MonthlyTokens,
		"daily_turns": b.DailyTurns, "monthly_turns": b.MonthlyTurns}
}

// requireBudgetAdmin lets platform administrators (is_admin) through; other callers get a 403,
// group admins included.
func (s *Server) requireBudgetAdmin(c *gin.Context) {
	if !callerOf(c).IsAdmin {
		s.fail(c, models.Errorf(models.ErrForbidden, "FORBIDDEN", "only platform administrators may set or remove budgets"))
		return
	}
	c.Next()
}

// myBudgets answers the budgets that apply to the caller's turns: their own and their groups'.
func (s *Server) myBudgets(c *gin.Context) {
	list, err := s.store.BudgetsOf(c.Request.Context(), callerOf(c).UserID, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"budgets": list})
}

// getUserBudget answers a user's budget to platform administrators and to the user; anyone else
// finds none, as if there were none.
func (s *Server) getUserBudget(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "user_id", "USER", "user")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !caller.IsAdmin && id != caller.UserID {
		s.fail(c, models.NotFound("BUDGET", "budget"))
		return
	}
	st, err := s.store.Budget(c.Request.Context(), &id, nil, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Server) setUserBudget(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	id, err := pathID(c, "user_id", "USER", "user")
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := bindBudget(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, err := s.store.UserByID(ctx, id); err != nil {
		s.fail(c, err)
		return
	}
	b.UserID, b.UpdatedBy = &id, &caller.UserID
	st, err := s.setBudget(ctx, b, "USER", "user")
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "budget.set", "user", id.String(), auditCaps(b))
	c.JSON(http.StatusOK, st)
}

func (s *Server) deleteUserBudget(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "user_id", "USER", "user")
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.DeleteBudget(c.Request.Context(), &id, nil); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "budget.delete", "user", id.String(), nil)
	c.Status(http.StatusNoContent)
}

// getGroupBudget answers a group's budget to its members and to platform administrators; anyone
// else finds no group, as on the other group routes.
func (s *Server) getGroupBudget(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !caller.IsAdmin {
		if _, err := s.store.Group(ctx, caller, id); err != nil {
			s.fail(c, err)
			return
		}
	}
	st, err := s.store.Budget(ctx, nil, &id, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Server) setGroupBudget(c *gin.Context) {
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := bindBudget(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	caller := callerOf(c)
	b.GroupID, b.UpdatedBy = &id, &caller.UserID
	st, err := s.setBudget(c.Request.Context(), b, "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, id, "budget.set", "group", id.String(), auditCaps(b))
	c.JSON(http.StatusOK, st)
}

func (s *Server) deleteGroupBudget(c *gin.Context) {
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.DeleteBudget(c.Request.Context(), nil, &id); err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, id, "budget.delete", "group", id.String(), nil)
	c.Status(http.StatusNoContent)
}

func bindBudget(c *gin.Context) (*models.Budget, error) {
	var req budgetRequest
	if err := bindJSON(c, &req); err != nil {
		return nil, err
	}
	return req.budget()
}

// setBudget stores b at the request's time; a user or group that does not exist (the foreign
// key) is code's not-found.
func (s *Server) setBudget(ctx context.Context, b *models.Budget, code, what string) (*models.BudgetStatus, error) {
	st, err := s.store.SetBudget(ctx, b, s.now())
	if errors.Is(err, models.ErrNotFound) {
		return nil, models.NotFound(code, what).Wrap(err)
	}
	return st, err
}
