package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func i64(v int64) *int64 { return &v }

// budgetAt is a time in the middle of a month, so that day and month windows differ.
var budgetAt = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func charge(user uuid.UUID, group *uuid.UUID, turn uuid.UUID, step int, want, min int64, at time.Time) store.BudgetCharge {
	return store.BudgetCharge{TurnID: turn, Step: step, UserID: user, GroupID: group, Want: want, Min: min, At: at}
}

func TestReserveBudgetChargesEachStepOnce(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	u := f.user("once")
	_, err := st.SetBudget(ctx, &models.Budget{UserID: &u.UserID, MonthlyTokens: i64(1000)}, budgetAt)
	require.NoError(t, err)

	turn := uuid.New()
	for range 3 { // the first attempt, a retry, a replacement worker
		r, err := st.ReserveBudget(ctx, charge(u.UserID, nil, turn, 1, 300, 50, budgetAt))
		require.NoError(t, err)
		require.Equal(t, store.Reservation{Budgeted: true, Tokens: 300}, r)
	}
	b, err := st.Budget(ctx, &u.UserID, nil, budgetAt)
	require.NoError(t, err)
	require.Equal(t, models.Usage{Tokens: 300, Turns: 1}, b.Month, "a running call counts its reservation, once")
	require.Equal(t, int64(700), *b.Remaining.Tokens)

	require.NoError(t, st.CommitBudget(ctx, turn, 1, 120))
	require.NoError(t, st.CommitBudget(ctx, turn, 1, 130)) // a retry that ran the model again
	b, err = st.Budget(ctx, &u.UserID, nil, budgetAt)
	require.NoError(t, err)
	require.Equal(t, models.Usage{Tokens: 130, Turns: 1}, b.Month, "settling replaces the reservation, it does not add")

	// Step 2 of the same turn is charged, but is not another turn.
	_, err = st.ReserveBudget(ctx, charge(u.UserID, nil, turn, 2, 100, 10, budgetAt))
	require.NoError(t, err)
	b, err = st.Budget(ctx, &u.UserID, nil, budgetAt)
	require.NoError(t, err)
	require.Equal(t, models.Usage{Tokens: 230, Turns: 1}, b.Month)
}

func TestReserveBudgetCapsThenRefuses(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	u := f.user("caps")
	_, err := st.SetBudget(ctx, &models.Budget{UserID: &u.UserID, DailyTokens: i64(500)}, budgetAt)
	require.NoError(t, err)

	a, b, c := uuid.New(), uuid.New(), uuid.New()
	r, err := st.ReserveBudget(ctx, charge(u.UserID, nil, a, 1, 300, 50, budgetAt))
	require.NoError(t, err)
	require.Equal(t, store.Reservation{Budgeted: true, Tokens: 300}, r)
	r, err = st.ReserveBudget(ctx, charge(u.UserID, nil, b, 1, 300, 50, budgetAt))
	require.NoError(t, err)
	require.Equal(t, store.Reservation{Budgeted: true, Tokens: 200, Capped: true}, r, "what is left, less than wanted")
	_, err = st.ReserveBudget(ctx, charge(u.UserID, nil, c, 1, 300, 50, budgetAt))
	require.True(t, store.IsBudgetExceeded(err), "nothing left for the prompt: %v", err)
	require.ErrorIs(t, err, models.ErrRateLimited)
	require.EqualError(t, st.CheckBudget(ctx, u.UserID, uuid.New(), budgetAt), "BUDGET_EXCEEDED: your token budget is spent")

	// A call that spent less than it reserved gives the rest back.
	require.NoError(t, st.CommitBudget(ctx, a, 1, 100))
	r, err = st.ReserveBudget(ctx, charge(u.UserID, nil, c, 1, 300, 50, budgetAt))
	require.NoError(t, err)
	require.Equal(t, store.Reservation{Budgeted: true, Tokens: 200, Capped: true}, r)

	// The next day starts afresh; a user without a budget is not charged at all.
	r, err = st.ReserveBudget(ctx, charge(u.UserID, nil, uuid.New(), 1, 300, 50, budgetAt.AddDate(0, 0, 1)))
	require.NoError(t, err)
	require.Equal(t, int64(300), r.Tokens)
	free := f.user("free")
	r, err = st.ReserveBudget(ctx, charge(free.UserID, nil, uuid.New(), 1, 300, 50, budgetAt))
	require.NoError(t, err)
	require.Equal(t, store.Reservation{}, r)
	var rows int
	require.NoError(t, st.SQL().QueryRow(`SELECT count(*) FROM budget_charges WHERE user_id = $1`, free.UserID).Scan(&rows))
	require.Zero(t, rows)
}

func TestTurnBudgetCountsTurnsNotSteps(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	u := f.user("turns")
	_, err := st.SetBudget(ctx, &models.Budget{UserID: &u.UserID, DailyTurns: i64(2), MonthlyTurns: i64(3)}, budgetAt)
	require.NoError(t, err)

	first, second := uuid.New(), uuid.New()
	for _, c := range []store.BudgetCharge{
		charge(u.UserID, nil, first, 1, 10, 1, budgetAt), charge(u.UserID, nil, first, 2, 10, 1, budgetAt),
		charge(u.UserID, nil, second, 1, 10, 1, budgetAt), charge(u.UserID, nil, second, 2, 10, 1, budgetAt),
	} {
		_, err := st.ReserveBudget(ctx, c)
		require.NoError(t, err, "step %d", c.Step)
	}
	_, err = st.ReserveBudget(ctx, charge(u.UserID, nil, uuid.New(), 1, 10, 1, budgetAt))
	require.EqualError(t, err, "BUDGET_EXCEEDED: your turn budget is spent")
	// Tomorrow the daily cap allows a turn, but the month has one left only.
	tomorrow := budgetAt.AddDate(0, 0, 1)
	require.NoError(t, st.CheckBudget(ctx, u.UserID, uuid.New(), tomorrow))
	_, err = st.ReserveBudget(ctx, charge(u.UserID, nil, uuid.New(), 1, 10, 1, tomorrow))
	require.NoError(t, err)
	require.Error(t, st.CheckBudget(ctx, u.UserID, uuid.New(), tomorrow))
	b, err := st.Budget(ctx, &u.UserID, nil, tomorrow)
	require.NoError(t, err)
	require.Equal(t, models.Usage{Tokens: 10, Turns: 1}, b.Day)
	require.Equal(t, models.Usage{Tokens: 50, Turns: 3}, b.Month)
	require.Equal(t, int64(0), *b.Remaining.Turns)
	require.Nil(t, b.Remaining.Tokens, "no token cap")
	require.Equal(t, time.Date(2026, 6, 17, 0, 0, 0, 0, time.UTC), b.DayResetsAt)
	require.Equal(t, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), b.MonthResetsAt)
	// Next month starts afresh.
	require.NoError(t, st.CheckBudget(ctx, u.UserID, uuid.New(), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)))
}

// Concurrent turns of one group take their reservations one after the other: together they never
// reserve more than the group has.
func TestConcurrentReservationsNeverOverspend(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	admin := f.user("g-admin")
	members := []models.Caller{f.user("g-1"), f.user("g-2"), f.user("g-3")}
	g := f.group("spenders", &admin, &members[0], &members[1], &members[2])
	_, err := st.SetBudget(ctx, &models.Budget{GroupID: &g, DailyTokens: i64(1000)}, budgetAt)
	require.NoError(t, err)
	// One member has a budget of their own too: both are locked, in the same order every time.
	_, err = st.SetBudget(ctx, &models.Budget{UserID: &members[0].UserID, DailyTokens: i64(600)}, budgetAt)
	require.NoError(t, err)

	var mu sync.Mutex
	var granted, refused int64
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			r, err := st.ReserveBudget(ctx, charge(members[i%3].UserID, &g, uuid.New(), 1, 150, 100, budgetAt))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				require.True(t, store.IsBudgetExceeded(err), "%v", err)
				refused++
				return
			}
			granted += r.Tokens
		})
	}
	wg.Wait()
	require.LessOrEqual(t, granted, int64(1000))
	require.Greater(t, granted, int64(900), "the group's budget was used until less than a prompt was left")
	require.Positive(t, refused)
	b, err := st.Budget(ctx, nil, &g, budgetAt)
	require.NoError(t, err)
	require.Equal(t, granted, b.Day.Tokens)
	mine, err := st.Budget(ctx, &members[0].UserID, nil, budgetAt)
	require.NoError(t, err)
	require.LessOrEqual(t, mine.Day.Tokens, int64(600))
}

// A budget created mid-month starts with the month's finished turns; a group's budget counts the
// turns of the group's sessions only, whoever sent them.
func TestNewBudgetCountsTheMonthSoFar(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	admin, member := f.user("bf-admin"), f.user("bf-member")
	g := f.group("backfilled", &admin, &member)
	personal := f.session(member, nil, budgetAt.AddDate(0, -2, 0))
	shared := f.session(admin, &g, budgetAt.AddDate(0, -2, 0))
	f.turn(turnRow{session: personal, user: member, at: budgetAt.Add(-2 * time.Hour), prompt: 10, completion: 5, took: time.Second})
	f.turn(turnRow{session: shared, user: member, at: budgetAt.Add(-time.Hour), prompt: 100, completion: 50, took: time.Second})
	f.turn(turnRow{session: shared, user: admin, at: budgetAt.AddDate(0, 0, -3), prompt: 1000, completion: 500, took: time.Second})
	f.turn(turnRow{session: shared, user: admin, at: budgetAt.AddDate(0, -1, 0), prompt: 7, completion: 7, took: time.Second})                            // last month
	f.turn(turnRow{session: shared, user: admin, at: budgetAt.Add(-time.Minute), status: models.TurnRunning, prompt: 9})                                  // charged by its own calls
	f.turn(turnRow{session: f.session(admin, &g, budgetAt), user: admin, at: budgetAt.Add(-time.Minute), status: models.TurnWaitingApproval, prompt: 11}) // so is this one

	gs, err := st.SetBudget(ctx, &models.Budget{GroupID: &g, DailyTokens: i64(10000), MonthlyTurns: i64(10)}, budgetAt)
	require.NoError(t, err)
	require.Equal(t, models.Usage{Tokens: 150, Turns: 1}, gs.Day)
	require.Equal(t, models.Usage{Tokens: 1650, Turns: 2}, gs.Month)
	require.Equal(t, int64(8), *gs.Remaining.Turns)

	us, err := st.SetBudget(ctx, &models.Budget{UserID: &member.UserID, DailyTokens: i64(10000)}, budgetAt)
	require.NoError(t, err)
	require.Equal(t, models.Usage{Tokens: 165, Turns: 2}, us.Day, "the member's turns of the group were charged once, with the group's budget")

	// Changing a budget keeps its usage; the member sees both budgets.
	gs, err = st.SetBudget(ctx, &models.Budget{GroupID: &g, DailyTokens: i64(100)}, budgetAt)
	require.NoError(t, err)
	require.Equal(t, int64(0), *gs.Remaining.Tokens)
	require.Nil(t, gs.MonthlyTurns)
	all, err := st.BudgetsOf(ctx, member.UserID, budgetAt)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, member.UserID, *all[0].UserID)
	require.Equal(t, g, *all[1].GroupID)
	require.EqualError(t, st.CheckBudget(ctx, member.UserID, shared, budgetAt), "BUDGET_EXCEEDED: the group's token budget is spent")
	require.NoError(t, st.CheckBudget(ctx, member.UserID, personal, budgetAt), "the group's budget does not cover personal sessions")

	require.NoError(t, st.DeleteBudget(ctx, nil, &g))
	require.ErrorIs(t, st.DeleteBudget(ctx, nil, &g), models.ErrNotFound)
	_, err = st.Budget(ctx, nil, &g, budgetAt)
	require.ErrorIs(t, err, models.ErrNotFound)
	require.NoError(t, st.CheckBudget(ctx, member.UserID, shared, budgetAt))
}

// StartTurnUnlessBudgeted stores the turn of a caller no budget applies to in its one statement,
// and stores nothing (ErrBudgetsApply) when a budget of the caller or of the session's group
// exists; StartTurnOn, for a caller who checked, stores it.
func TestStartTurnUnlessBudgeted(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	f := analyticsFixture{t, st}
	ctx := context.Background()
	free, capped, member := f.user("free"), f.user("capped"), f.user("member")
	g := f.group("budgeted", &member)
	_, err := st.SetBudget(ctx, &models.Budget{UserID: &capped.UserID, DailyTurns: i64(5)}, budgetAt)
	require.NoError(t, err)
	_, err = st.SetBudget(ctx, &models.Budget{GroupID: &g, DailyTurns: i64(5)}, budgetAt)
	require.NoError(t, err)
	newTurn := func() *models.Turn {
		id := uuid.New()
		return &models.Turn{ID: id, WorkflowID: id.String(), Status: models.TurnRunning, StartedAt: budgetAt}
	}

	s := f.session(free, nil, budgetAt)
	got, _, created, err := st.StartTurnUnlessBudgeted(ctx, free, s, newTurn(), []byte("x"), nil, store.Branch{})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, models.TurnRunning, got.Status)

	for _, c := range []struct {
		who     models.Caller
		session uuid.UUID
	}{{capped, f.session(capped, nil, budgetAt)}, {member, f.session(member, &g, budgetAt)}} {
		turn := newTurn()
		_, _, _, err := st.StartTurnUnlessBudgeted(ctx, c.who, c.session, turn, []byte("x"), nil, store.Branch{})
		require.ErrorIs(t, err, store.ErrBudgetsApply)
		_, err = st.Turn(ctx, turn.ID)
		require.ErrorIs(t, err, models.ErrNotFound, "nothing stored")
		msgs, err := st.TurnMessages(ctx, turn.ID)
		require.NoError(t, err)
		require.Empty(t, msgs)
		_, _, created, err := st.StartTurnOn(ctx, c.who, c.session, turn, []byte("x"), nil, store.Branch{})
		require.NoError(t, err)
		require.True(t, created, "stored once the caller checked")
	}
	// A session the caller cannot see is not found, budget or not.
	_, _, _, err = st.StartTurnUnlessBudgeted(ctx, capped, s, newTurn(), []byte("x"), nil, store.Branch{})
	require.ErrorIs(t, err, models.ErrNotFound)
}
