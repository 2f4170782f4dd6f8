package models

import (
	"time"

	"github.com/google/uuid"
)

// CodeBudgetExceeded is the error code of a turn refused (429 at POST) or ended (turn.failed)
// because a budget of its user or group is spent.
const CodeBudgetExceeded = "BUDGET_EXCEEDED"

// Budget caps the tokens (prompt + completion) and the turns of one user or one group (exactly
// one of UserID, GroupID is set) per UTC day and per UTC month. A nil cap is no cap.
type Budget struct {
	UserID        *uuid.UUID `gorm:"type:uuid" json:"user_id,omitempty"`
	GroupID       *uuid.UUID `gorm:"type:uuid" json:"group_id,omitempty"`
	DailyTokens   *int64     `json:"daily_tokens"`
	MonthlyTokens *int64     `json:"monthly_tokens"`
	DailyTurns    *int64     `json:"daily_turns"`
	MonthlyTurns  *int64     `json:"monthly_turns"`
	UpdatedBy     *uuid.UUID `gorm:"type:uuid" json:"-"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Usage is what a window of a budget's scope has spent: tokens charged (reserved tokens of model
// calls still running count in full) and turns started.
type Usage struct {
	Tokens int64 `json:"tokens"`
	Turns  int64 `json:"turns"`
}

// BudgetStatus is a budget with what its windows have spent and have left (nil: no cap), and when
// each window starts again.
type BudgetStatus struct {
	Budget
	Day           Usage     `json:"day"`
	Month         Usage     `json:"month"`
	Remaining     Remaining `json:"remaining"`
	DayResetsAt   time.Time `json:"day_resets_at"`
	MonthResetsAt time.Time `json:"month_resets_at"`
}

// Remaining is what a budget has left now: the smaller of its daily and monthly rests, nil where
// neither window caps the measure. Never negative.
type Remaining struct {
	Tokens *int64 `json:"tokens"`
	Turns  *int64 `json:"turns"`
}

// Exhausted reports whether nothing is left of the budget: no token, or no turn to start.
func (r Remaining) Exhausted() bool {
	return (r.Tokens != nil && *r.Tokens <= 0) || (r.Turns != nil && *r.Turns <= 0)
}
