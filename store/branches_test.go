package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

// tree is a session whose turns the test drives by hand, as the API and the worker would.
type tree struct {
	t       *testing.T
	st      *store.Store
	caller  models.Caller
	session uuid.UUID
}

func newTree(t *testing.T, st *store.Store) *tree {
	ctx := context.Background()
	u := &models.User{Username: "b-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateUser(ctx, u))
	c := models.Caller{UserID: u.ID}
	cs := &models.ChatSession{Model: "m"}
	require.NoError(t, st.CreateSession(ctx, c, cs))
	return &tree{t: t, st: st, caller: c, session: cs.ID}
}

// start starts a turn where b says: with a user message (its id returned) unless content is nil.
func (tr *tree) start(content []byte, b store.Branch) (turn, msg uuid.UUID) {
	tr.t.Helper()
	turn = uuid.New()
	_, _, _, err := tr.st.StartTurnOn(context.Background(), tr.caller, tr.session,
		&models.Turn{ID: turn, WorkflowID: turn.String(), Status: models.TurnRunning, StartedAt: time.Now()}, content, nil, b)
	require.NoError(tr.t, err)
	return turn, models.MessageID(turn, models.RoleUser, 0, "")
}

// write stores a message of a turn the way the worker does.
func (tr *tree) write(turn uuid.UUID, role string, step int, callID string) uuid.UUID {
	tr.t.Helper()
	id := models.MessageID(turn, role, step, callID)
	m := &models.Message{ID: id, SessionID: tr.session, TurnID: &turn, Step: step, Role: role, ToolCallID: callID,
		Content: []byte(role + callID), Status: models.MessageComplete}
	require.NoError(tr.t, tr.st.PutMessageWithEvents(context.Background(), m, []models.Event{ev(fmt.Sprintf("m/%s/%d/%s", role, step, callID))}))
	return id
}

// answer stores the final answer of a turn and finishes it.
func (tr *tree) answer(turn uuid.UUID) uuid.UUID {
	tr.t.Helper()
	id := tr.write(turn, models.RoleAssistant, 1, "")
	_, err := tr.st.FinishTurn(context.Background(), turn, models.TurnOutcome{Status: models.TurnCompleted}, time.Now(), []models.Event{ev("done")})
	require.NoError(tr.t, err)
	return id
}

// history is what the model is sent for a turn: the ids of its conversation.
func (tr *tree) history(turn uuid.UUID) []uuid.UUID {
	tr.t.Helper()
	_, msgs, err := tr.st.Conversation(context.Background(), turn, 100)
	require.NoError(tr.t, err)
	ids := make([]uuid.UUID, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
	}
	return ids
}

func (tr *tree) active() []uuid.UUID {
	tr.t.Helper()
	ids, err := tr.st.ActiveBranch(context.Background(), tr.session)
	require.NoError(tr.t, err)
	return ids
}

func (tr *tree) parent(id uuid.UUID) *uuid.UUID {
	tr.t.Helper()
	m, err := tr.st.MessageByID(context.Background(), id)
	require.NoError(tr.t, err)
	return m.ParentID
}

// A regenerated turn answers the same user message again: its answer is a sibling of the first,
// the model sees neither answer while regenerating, and the next turn continues the active branch
// only; switching the branch changes what the next turn sees; an edit starts a branch of its own.
func TestBranchesRegenerateSwitchEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := newTree(t, open(t, time.Second, &testenv.Buffer{}))

	t1, u1 := tr.start([]byte("q1"), store.Branch{})
	require.Nil(t, tr.parent(u1), "the first message starts the tree")
	_, _, _, err := tr.st.StartTurnOn(ctx, tr.caller, tr.session, &models.Turn{ID: uuid.New(), WorkflowID: uuid.NewString(),
		Status: models.TurnRunning, StartedAt: time.Now()}, nil, nil, store.Branch{At: true, Anchor: &u1, Active: &u1})
	require.ErrorIs(t, err, store.ErrTurnInProgress, "no regenerate while a turn runs")
	a1 := tr.answer(t1)
	require.Equal(t, &u1, tr.parent(a1))

	t2, _ := tr.start(nil, store.Branch{At: true, Anchor: &u1, Active: &u1})
	require.Equal(t, []uuid.UUID{u1}, tr.history(t2), "the regenerated turn never sees the answer it replaces")
	a2 := tr.answer(t2)
	require.Equal(t, &u1, tr.parent(a2), "two assistant siblings")
	require.Equal(t, []uuid.UUID{u1, a2}, tr.active(), "the new answer is the active branch")

	t3, u3 := tr.start([]byte("q2"), store.Branch{})
	require.Equal(t, &a2, tr.parent(u3))
	require.Equal(t, []uuid.UUID{u1, a2, u3}, tr.history(t3), "the next turn sees the chosen answer only")
	a3 := tr.answer(t3)

	// Back to the first answer: the next message continues after it.
	require.NoError(t, tr.st.SetActiveMessage(ctx, tr.caller, tr.session, a1))
	require.Equal(t, []uuid.UUID{u1, a1}, tr.active())
	t4, u4 := tr.start([]byte("q2 again"), store.Branch{})
	require.Equal(t, []uuid.UUID{u1, a1, u4}, tr.history(t4))
	require.ErrorIs(t, tr.st.SetActiveMessage(ctx, tr.caller, tr.session, a3), store.ErrTurnInProgress, "no switch while a turn runs")
	a4 := tr.answer(t4)
	require.Equal(t, []uuid.UUID{u1, a1, u4, a4}, tr.active())

	// Choosing a message in the middle continues down its newest replies.
	require.NoError(t, tr.st.SetActiveMessage(ctx, tr.caller, tr.session, a2))
	require.Equal(t, []uuid.UUID{u1, a2, u3, a3}, tr.active())

	// Editing the third message (u3): a sibling of it after a2, without u3 or a3.
	t5, u5 := tr.start([]byte("q2 edited"), store.Branch{At: true, Anchor: tr.parent(u3)})
	require.Equal(t, []uuid.UUID{u1, a2, u5}, tr.history(t5))
	a5 := tr.answer(t5)
	require.Equal(t, []uuid.UUID{u1, a2, u5, a5}, tr.active())

	// Editing the first message: a new first message, nothing before it.
	t6, u6 := tr.start([]byte("q1 edited"), store.Branch{At: true, Anchor: nil})
	require.Nil(t, tr.parent(u6))
	require.Equal(t, []uuid.UUID{u6}, tr.history(t6))
	tr.answer(t6)

	// Another tenant's or an unknown message cannot be chosen.
	require.ErrorIs(t, tr.st.SetActiveMessage(ctx, tr.caller, tr.session, uuid.New()), models.ErrNotFound)
	other := newTree(t, tr.st)
	require.ErrorIs(t, other.st.SetActiveMessage(ctx, other.caller, tr.session, a1), models.ErrNotFound)

	// Every branch stays stored: the session's messages hold them all.
	all, err := tr.st.Messages(ctx, tr.session, 100, false)
	require.NoError(t, err)
	require.Len(t, all, 11)
}

// Tool results written at once (parallel tool calls) still make one chain, so the turn after
// sees every one of them.
func TestBranchesParallelToolResultsChain(t *testing.T) {
	t.Parallel()
	tr := newTree(t, open(t, time.Second, &testenv.Buffer{}))
	t1, u1 := tr.start([]byte("q"), store.Branch{})
	calls := tr.write(t1, models.RoleAssistant, 1, "")
	const n = 6
	var wg sync.WaitGroup
	results := make([]uuid.UUID, n)
	for i := range n {
		wg.Go(func() { results[i] = tr.write(t1, models.RoleTool, 1, fmt.Sprintf("1-%d", i)) })
	}
	wg.Wait()
	a1 := tr.write(t1, models.RoleAssistant, 2, "")
	_, err := tr.st.FinishTurn(context.Background(), t1, models.TurnOutcome{Status: models.TurnCompleted}, time.Now(), []models.Event{ev("done")})
	require.NoError(t, err)

	t2, u2 := tr.start([]byte("next"), store.Branch{})
	h := tr.history(t2)
	require.Len(t, h, n+4, "every tool result is on the branch")
	require.Equal(t, []uuid.UUID{u1, calls}, h[:2])
	require.ElementsMatch(t, results, h[2:2+n])
	require.Equal(t, []uuid.UUID{a1, u2}, h[2+n:])

	// The limit keeps the latest messages of the branch.
	for _, limit := range []int{1, 3, n + 3} {
		_, msgs, err := tr.st.Conversation(context.Background(), t2, limit)
		require.NoError(t, err)
		got := make([]uuid.UUID, len(msgs))
		for i := range msgs {
			got[i] = msgs[i].ID
		}
		require.Len(t, got, limit)
		require.ElementsMatch(t, h[len(h)-limit:], got, "limit %d", limit)
		require.Equal(t, u2, got[len(got)-1])
	}
}

// Deleting a member's account takes their turns in others' group sessions with it; the owner's
// messages after them stay, following what the member's messages followed, and the owner's next
// turn still sees the rest of the branch.
func TestBranchesStayWholeWhenAMemberIsDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t, time.Second, &testenv.Buffer{})
	tr := newTree(t, st)
	g := &models.Group{Name: "g-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateGroup(ctx, tr.caller, g))
	tr.caller.Groups = map[uuid.UUID]models.Role{g.ID: models.RoleAdmin}
	cs := &models.ChatSession{Model: "m", GroupID: &g.ID}
	require.NoError(t, st.CreateSession(ctx, tr.caller, cs))
	tr.session = cs.ID
	member := &models.User{Username: "m-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateUser(ctx, member))
	require.NoError(t, st.AddMember(ctx, tr.caller, g.ID, member.ID, models.RoleMember))
	owner := tr.caller
	asMember := models.Caller{UserID: member.ID, Groups: map[uuid.UUID]models.Role{g.ID: models.RoleMember}}

	t1, u1 := tr.start([]byte("owner asks"), store.Branch{})
	a1 := tr.answer(t1)
	tr.caller = asMember
	t2, _ := tr.start([]byte("member asks"), store.Branch{})
	tr.answer(t2)
	t3, _ := tr.start([]byte("member again"), store.Branch{})
	tr.answer(t3)
	tr.caller = owner
	t4, u4 := tr.start([]byte("owner again"), store.Branch{})
	a4 := tr.answer(t4)

	require.NoError(t, st.DeleteAccount(ctx, member.ID))
	all, err := st.Messages(ctx, cs.ID, 100, false)
	require.NoError(t, err)
	require.Len(t, all, 4, "the member's four messages went, the owner's stayed")
	require.Equal(t, &a1, tr.parent(u4), "the owner's message follows what the member's followed")
	require.Equal(t, []uuid.UUID{u1, a1, u4, a4}, tr.active())
	t5, u5 := tr.start([]byte("owner last"), store.Branch{})
	require.Equal(t, []uuid.UUID{u1, a1, u4, a4, u5}, tr.history(t5))
}
