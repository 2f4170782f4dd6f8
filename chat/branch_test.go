package chat_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/workflows"
)

// service is a chat.Service whose turns start on a task queue no worker polls (their workflows
// are terminated when the test ends).
func (f *fixture) service(t *testing.T) *chat.Service {
	return &chat.Service{Store: f.st, Box: f.box, Temporal: f.tc, Reaper: f.reaper, TaskQueue: testenv.TaskQueue(t),
		Limits:          workflows.TurnLimits{MaxSteps: 2, LLMTimeout: time.Minute, ToolTimeout: time.Minute, ApprovalTimeout: time.Minute},
		MaxMessageChars: 1000, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
}

// finished registers the cleanup of a turn's workflow and marks the turn finished, as its workflow
// would, so that the session takes the next one.
func (f *fixture) finished(t *testing.T, turn *models.Turn) {
	t.Helper()
	t.Cleanup(func() { _ = f.tc.TerminateWorkflow(context.Background(), turn.WorkflowID, "", "test over") })
	_, err := f.st.FinishTurn(context.Background(), turn.ID, models.TurnOutcome{Status: models.TurnCompleted}, time.Now(),
		[]models.Event{{Key: "done", Type: models.EventTurnCompleted, Data: []byte("x")}})
	require.NoError(t, err)
}

// Regenerate answers the turn's user message again: the new turn stores no message, hangs off the
// user message and makes it the active one; with the same key it is the same turn; while a turn
// runs it is a conflict. A turn without a user message (one answering a client's tool results)
// is answered again from what it answered. Edit takes user messages only.
func TestRegenerateAndEditStartTurnsOnTheirBranch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	s := f.service(t)
	cs := f.session(t)

	t1, created, err := s.Post(ctx, f.caller, chat.Message{SessionID: cs.ID, Content: "question"})
	require.NoError(t, err)
	require.True(t, created)
	_, _, err = s.Regenerate(ctx, f.caller, cs.ID, t1.ID, "")
	require.ErrorIs(t, err, store.ErrTurnInProgress, "not while a turn runs")
	f.finished(t, t1)

	u1 := models.MessageID(t1.ID, models.RoleUser, 0, "")
	t2, created, err := s.Regenerate(ctx, f.caller, cs.ID, t1.ID, "again-1")
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, &u1, t2.ParentMessageID)
	again, created, err := s.Regenerate(ctx, f.caller, cs.ID, t1.ID, "again-1")
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, t2.ID, again.ID)
	f.finished(t, t2)
	msgs, err := f.st.TurnMessages(ctx, t2.ID)
	require.NoError(t, err)
	require.Empty(t, msgs, "a regenerated turn stores no new user message")
	got, err := f.st.Session(ctx, f.caller, cs.ID)
	require.NoError(t, err)
	require.Equal(t, &u1, got.ActiveMessageID)

	_, _, err = s.Regenerate(ctx, models.Caller{UserID: uuid.New()}, cs.ID, t1.ID, "")
	require.ErrorIs(t, err, models.ErrNotFound, "another user's turn")
	_, _, err = s.Regenerate(ctx, f.caller, cs.ID, uuid.New(), "")
	require.ErrorIs(t, err, models.ErrNotFound)

	// A continued turn (the client's tool results): regenerated from what it followed.
	comp, err := s.OpenCompletion(ctx, f.caller, chat.Completion{Model: "m", History: []chat.Imported{
		{Role: models.RoleUser, Content: "what time is it?"},
		{Role: models.RoleAssistant, ToolCalls: []models.ToolCall{{ID: "c1", Name: "clock", Client: true}}},
		{Role: models.RoleTool, Content: "noon", ToolCallID: "c1"}}})
	require.NoError(t, err)
	t3, _, err := s.Post(ctx, f.caller, chat.Message{SessionID: comp.ID, Continue: true})
	require.NoError(t, err)
	require.NotNil(t, t3.ParentMessageID)
	f.finished(t, t3)
	t4, _, err := s.Regenerate(ctx, f.caller, comp.ID, t3.ID, "")
	require.NoError(t, err)
	require.Equal(t, t3.ParentMessageID, t4.ParentMessageID, "the tool result both answer")
	f.finished(t, t4)

	// Edit: a user message only; the new one follows what the edited one followed.
	answer := models.MessageID(t2.ID, models.RoleAssistant, 1, "")
	require.NoError(t, f.st.PutMessageWithEvents(ctx, &models.Message{ID: answer, SessionID: cs.ID, TurnID: &t2.ID, Step: 1,
		Role: models.RoleAssistant, Content: []byte("sealed"), Status: models.MessageComplete}, nil))
	_, _, err = s.Edit(ctx, f.caller, cs.ID, answer, "x", "")
	require.ErrorIs(t, err, models.ErrInvalid)
	t5, _, err := s.Edit(ctx, f.caller, cs.ID, u1, "a better question", "")
	require.NoError(t, err)
	require.Nil(t, t5.ParentMessageID, "the first message's edit is a first message too")
	f.finished(t, t5)
	_, _, err = s.Edit(ctx, f.caller, cs.ID, u1, "   ", "")
	require.ErrorIs(t, err, models.ErrInvalid, "an edit is validated like a message")
}

// Post calls BeforeStart with a new turn's id once the turn is stored and before its workflow
// exists, and not for a turn its idempotency key found; the workflow starts with the current shape.
func TestPostCallsBeforeStartBeforeTheWorkflowStarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	s := f.service(t)
	cs := f.session(t)

	var hooked []uuid.UUID
	hook := func(id uuid.UUID) {
		hooked = append(hooked, id)
		turn, err := f.st.Turn(ctx, id)
		require.NoError(t, err, "the turn is stored")
		_, err = f.tc.DescribeWorkflowExecution(ctx, turn.WorkflowID, "")
		require.Error(t, err, "its workflow has not started")
	}
	t1, created, err := s.Post(ctx, f.caller, chat.Message{SessionID: cs.ID, Content: "question", IdempotencyKey: "k", BeforeStart: hook})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, []uuid.UUID{t1.ID}, hooked)
	again, created, err := s.Post(ctx, f.caller, chat.Message{SessionID: cs.ID, Content: "question", IdempotencyKey: "k", BeforeStart: hook})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, t1.ID, again.ID)
	require.Len(t, hooked, 1, "not called for a turn the key found")

	var in workflows.ChatTurnInput
	hist := f.tc.GetWorkflowHistory(ctx, t1.WorkflowID, "", false, 0)
	ev, err := hist.Next()
	require.NoError(t, err)
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in))
	require.Equal(t, workflows.ChatTurnShape, in.Shape)
	f.finished(t, t1)
}
