package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/youworker/youworker/models"
)

// Budgets: caps per user and per group, checked against the budget_charges ledger (migration
// 00015). Model calls reserve before they run (ReserveBudget) and settle after (CommitBudget),
// both keyed by (turn, step); the budgets' rows are locked while a reservation is decided, so
// concurrent turns of one tenant take their reservations one after the other.

// BudgetCharge asks for a reservation before a model call.
type BudgetCharge struct {
	TurnID  uuid.UUID
	Step    int
	UserID  uuid.UUID
	GroupID *uuid.UUID
	// Want is what the call may spend at most (its estimated prompt and the output it may
	// generate); Min is the least it needs (the estimated prompt and one token). A reservation is
	// Want, or what is left when that is less but still at least Min.
	Want, Min int64
	At        time.Time
}

// Reservation is what a model call may spend. Budgeted is false when no budget applies (nothing
// was written); otherwise Tokens is reserved and Capped says it is less than was wanted.
type Reservation struct {
	Budgeted bool
	Tokens   int64
	Capped   bool
}

// budgetExceeded is the error of a budget that cannot pay: 429 at POST, the turn's failure code
// inside a turn.
func budgetExceeded(b models.Budget, what string) *models.Error {
	whose := "your"
	if b.GroupID != nil {
		whose = "the group's"
	}
	return models.Errorf(models.ErrRateLimited, models.CodeBudgetExceeded, "%s %s budget is spent", whose, what)
}

// IsBudgetExceeded reports whether err is a spent budget.
func IsBudgetExceeded(err error) bool {
	var e *models.Error
	return errors.As(err, &e) && e.Code == models.CodeBudgetExceeded
}

// budgetWindows returns the start of at's UTC day and month.
func budgetWindows(at time.Time) (day, month time.Time) {
	at = at.UTC()
	return time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC), time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// budgetUsage sums the charges of one scope (col is user_id or group_id) in at's day and month.
func (s *Store) budgetUsage(ctx context.Context, col string, id uuid.UUID, at time.Time) (day, month models.Usage, err error) {
	d, m := budgetWindows(at)
	var row struct{ DayTokens, DayTurns, MonthTokens, MonthTurns int64 }
	err = s.q(ctx).Raw(`
SELECT coalesce(sum(coalesce(used_tokens, reserved_tokens)) FILTER (WHERE charged_at >= @day AND charged_at < @next_day), 0) AS day_tokens,
       count(*) FILTER (WHERE step <= 1 AND charged_at >= @day AND charged_at < @next_day) AS day_turns,
       coalesce(sum(coalesce(used_tokens, reserved_tokens)), 0) AS month_tokens,
       count(*) FILTER (WHERE step <= 1) AS month_turns
FROM budget_charges WHERE `+col+` = @id AND charged_at >= @month AND charged_at < @next_month`,
		map[string]any{"id": id, "day": d, "next_day": d.AddDate(0, 0, 1), "month": m, "next_month": m.AddDate(0, 1, 0)}).Scan(&row).Error
	return models.Usage{Tokens: row.DayTokens, Turns: row.DayTurns}, models.Usage{Tokens: row.MonthTokens, Turns: row.MonthTurns}, translate(err)
}

// status computes what b has spent and has left at at.
func (s *Store) status(ctx context.Context, b models.Budget, at time.Time) (*models.BudgetStatus, error) {
	col, id := "user_id", b.UserID
	if b.GroupID != nil {
		col, id = "group_id", b.GroupID
	}
	day, month, err := s.budgetUsage(ctx, col, *id, at)
	if err != nil {
		return nil, err
	}
	d, m := budgetWindows(at)
	st := &models.BudgetStatus{Budget: b, Day: day, Month: month, DayResetsAt: d.AddDate(0, 0, 1), MonthResetsAt: m.AddDate(0, 1, 0)}
	st.Remaining.Tokens = rest(rest(nil, b.DailyTokens, day.Tokens), b.MonthlyTokens, month.Tokens)
	st.Remaining.Turns = rest(rest(nil, b.DailyTurns, day.Turns), b.MonthlyTurns, month.Turns)
	return st, nil
}

// rest is the smaller of left and what cap leaves after used (never negative); left when cap is nil.
func rest(left, cap *int64, used int64) *int64 {
	if cap == nil {
		return left
	}
	r := max(*cap-used, 0)
	if left != nil && *left < r {
		return left
	}
	return &r
}

// applicable returns the budgets that apply to a turn of user in a session of group (nil: a
// personal session), with lock their rows locked for update (in a transaction).
func (s *Store) applicable(ctx context.Context, user uuid.UUID, group *uuid.UUID, lock bool) ([]models.Budget, error) {
	q := s.q(ctx).Where("user_id = ?", user)
	if group != nil {
		q = q.Or("group_id = ?", *group)
	}
	if lock {
		// Users' rows first, then the group's: every reservation locks in this order, so two turns
		// of one group never wait on each other in a cycle.
		q = q.Clauses(clause.Locking{Strength: "UPDATE"}).Order("user_id NULLS LAST")
	}
	var out []models.Budget
	return out, translate(q.Find(&out).Error)
}

// ReserveBudget reserves what a model call may spend, or fails with BUDGET_EXCEEDED (a
// *models.Error, IsBudgetExceeded) when a budget of the turn's user or group cannot pay Min, or,
// for the turn's first call, has no turn left. A call that reserved already (a retry, a
// replacement worker) gets its reservation back: nothing is charged twice.
func (s *Store) ReserveBudget(ctx context.Context, c BudgetCharge) (Reservation, error) {
	var res Reservation
	err := s.InTx(ctx, func(tx *Store) error {
		budgets, err := tx.applicable(ctx, c.UserID, c.GroupID, true)
		if err != nil || len(budgets) == 0 {
			return err
		}
		res.Budgeted = true
		var prior []struct{ ReservedTokens int64 }
		if err := tx.q(ctx).Raw(`SELECT reserved_tokens FROM budget_charges WHERE turn_id = ? AND step = ?`, c.TurnID, c.Step).Scan(&prior).Error; err != nil {
			return translate(err)
		}
		if len(prior) > 0 {
			res.Tokens, res.Capped = prior[0].ReservedTokens, prior[0].ReservedTokens < c.Want
			return nil
		}
		left := c.Want
		for _, b := range budgets {
			st, err := tx.status(ctx, b, c.At)
			if err != nil {
				return err
			}
			if c.Step <= 1 && st.Remaining.Turns != nil && *st.Remaining.Turns <= 0 {
				return budgetExceeded(b, "turn")
			}
			if t := st.Remaining.Tokens; t != nil {
				if *t < c.Min {
					return budgetExceeded(b, "token")
				}
				left = min(left, *t)
			}
		}
		res.Tokens, res.Capped = left, left < c.Want
		return translate(tx.q(ctx).Exec(`INSERT INTO budget_charges (turn_id, step, user_id, group_id, reserved_tokens, charged_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.TurnID, c.Step, c.UserID, c.GroupID, left, c.At).Error)
	})
	return res, err
}

// CommitBudget settles a model call's reservation with what it spent. Settling again (a retried
// call that ran the model again) replaces the amount: a step is charged once.
func (s *Store) CommitBudget(ctx context.Context, turnID uuid.UUID, step int, used int64) error {
	return translate(s.q(ctx).Exec(`UPDATE budget_charges SET used_tokens = ?, committed_at = now() WHERE turn_id = ? AND step = ?`,
		used, turnID, step).Error)
}

// CheckBudget refuses a new turn of user in session (429 BUDGET_EXCEEDED) when a budget of the
// user or of the session's group has no token or no turn left. It takes no reservation: two
// posts may both pass, and the turn that then cannot reserve fails with BUDGET_EXCEEDED.
func (s *Store) CheckBudget(ctx context.Context, user, sessionID uuid.UUID, at time.Time) error {
	var budgets []models.Budget
	err := s.q(ctx).Raw(`SELECT * FROM budgets WHERE user_id = ?
		OR group_id = (SELECT group_id FROM chat_sessions WHERE id = ?)`, user, sessionID).Scan(&budgets).Error
	if err != nil {
		return translate(err)
	}
	for _, b := range budgets {
		st, err := s.status(ctx, b, at)
		if err != nil {
			return err
		}
		if t := st.Remaining.Turns; t != nil && *t <= 0 {
			return budgetExceeded(b, "turn")
		}
		if t := st.Remaining.Tokens; t != nil && *t <= 0 {
			return budgetExceeded(b, "token")
		}
	}
	return nil
}

// SetBudget creates or replaces the budget of b's user or group. A new budget starts with the
// usage of turns that finished in the current month before it existed (step 0 charges), so that
// setting a budget at noon counts the morning.
func (s *Store) SetBudget(ctx context.Context, b *models.Budget, at time.Time) (*models.BudgetStatus, error) {
	if (b.UserID == nil) == (b.GroupID == nil) {
		return nil, errors.New("store: a budget is a user's or a group's")
	}
	col, id := "group_id", b.GroupID
	if b.UserID != nil {
		col, id = "user_id", b.UserID
	}
	var st *models.BudgetStatus
	err := s.InTx(ctx, func(tx *Store) error {
		res := tx.q(ctx).Exec(`INSERT INTO budgets (user_id, group_id, daily_tokens, monthly_tokens, daily_turns, monthly_turns, updated_by)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (`+col+`) DO NOTHING`,
			b.UserID, b.GroupID, b.DailyTokens, b.MonthlyTokens, b.DailyTurns, b.MonthlyTurns, b.UpdatedBy)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			if err := tx.q(ctx).Exec(`UPDATE budgets SET daily_tokens = ?, monthly_tokens = ?, daily_turns = ?, monthly_turns = ?, updated_by = ?
				WHERE `+col+` = ?`, b.DailyTokens, b.MonthlyTokens, b.DailyTurns, b.MonthlyTurns, b.UpdatedBy, *id).Error; err != nil {
				return translate(err)
			}
		} else if err := tx.backfill(ctx, col, *id, at); err != nil {
			return err
		}
		var saved models.Budget
		if err := tx.q(ctx).Where(col+" = ?", *id).Take(&saved).Error; err != nil {
			return translate(err)
		}
		var err error
		st, err = tx.status(ctx, saved, at)
		return err
	})
	return st, err
}

// backfill charges the finished turns of the scope's current month that have no charge yet, at
// their totals (step 0), charged when they started.
func (s *Store) backfill(ctx context.Context, col string, id uuid.UUID, at time.Time) error {
	_, month := budgetWindows(at)
	scope := "t.user_id = @id"
	if col == "group_id" {
		scope = "s.group_id = @id"
	}
	return translate(s.q(ctx).Exec(`
INSERT INTO budget_charges (turn_id, step, user_id, group_id, reserved_tokens, used_tokens, charged_at, committed_at)
SELECT t.id, 0, t.user_id, s.group_id, t.prompt_tokens + t.completion_tokens, t.prompt_tokens + t.completion_tokens, t.started_at, now()
FROM turns t JOIN chat_sessions s ON s.id = t.session_id
WHERE `+scope+` AND t.started_at >= @month AND t.status NOT IN (@running, @waiting)
  AND NOT EXISTS (SELECT 1 FROM budget_charges c WHERE c.turn_id = t.id)`,
		map[string]any{"id": id, "month": month, "running": models.TurnRunning, "waiting": models.TurnWaitingApproval}).Error)
}

// DeleteBudget removes the budget of a user or a group (its charges stay: a budget set again
// finds them).
func (s *Store) DeleteBudget(ctx context.Context, userID, groupID *uuid.UUID) error {
	q := s.q(ctx)
	if userID != nil {
		q = q.Where("user_id = ?", *userID)
	} else {
		q = q.Where("group_id = ?", groupID)
	}
	res := q.Delete(&models.Budget{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return models.NotFound("BUDGET", "budget")
	}
	return nil
}

// Budget returns the budget of a user or a group with its usage at at (404 BUDGET_NOT_FOUND when
// there is none).
func (s *Store) Budget(ctx context.Context, userID, groupID *uuid.UUID, at time.Time) (*models.BudgetStatus, error) {
	q := s.q(ctx)
	if userID != nil {
		q = q.Where("user_id = ?", *userID)
	} else {
		q = q.Where("group_id = ?", groupID)
	}
	var b models.Budget
	if err := q.Take(&b).Error; err != nil {
		return nil, notFound(translate(err), "BUDGET", "budget")
	}
	return s.status(ctx, b, at)
}

// BudgetsOf returns the budgets that apply to user's turns: the user's own and those of the groups
// the user belongs to, with their usage at at.
func (s *Store) BudgetsOf(ctx context.Context, user uuid.UUID, at time.Time) ([]models.BudgetStatus, error) {
	var budgets []models.Budget
	err := s.q(ctx).Where("user_id = ? OR group_id IN (SELECT group_id FROM group_memberships WHERE user_id = ?)", user, user).
		Order("user_id NULLS LAST, group_id").Find(&budgets).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]models.BudgetStatus, 0, len(budgets))
	for _, b := range budgets {
		st, err := s.status(ctx, b, at)
		if err != nil {
			return nil, fmt.Errorf("budget usage: %w", err)
		}
		out = append(out, *st)
	}
	return out, nil
}
