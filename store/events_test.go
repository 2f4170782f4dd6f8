package store_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func newTurn(t *testing.T, st *store.Store) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	u := &models.User{Username: "u-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateUser(ctx, u))
	c := models.Caller{UserID: u.ID}
	cs := &models.ChatSession{Model: "m"}
	require.NoError(t, st.CreateSession(ctx, c, cs))
	turn := &models.Turn{ID: uuid.New(), WorkflowID: uuid.NewString(), Status: models.TurnRunning, StartedAt: time.Now()}
	_, _, _, err := st.StartTurn(ctx, c, cs.ID, turn, []byte("sealed"), nil)
	require.NoError(t, err)
	return turn.ID
}

func ev(key string) models.Event {
	return models.Event{Key: key, Type: "token", Data: []byte("x")}
}

func TestAppendTurnEventsIsIdempotentAndGapless(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	turn := newTurn(t, st)

	last, err := st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev("a"), ev("b")})
	require.NoError(t, err)
	require.EqualValues(t, 2, last)
	last, err = st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev("b"), ev("c"), ev("c")})
	require.NoError(t, err)
	require.EqualValues(t, 3, last, "b is already there; c once")

	// Concurrent writers, some repeating each other's keys: every key once, seq 1..n.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				_, err := st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev(fmt.Sprintf("k%d", (w%4)*10+i))})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	evs, err := st.EventsAfter(ctx, store.TurnLog, turn, 0, 1000)
	require.NoError(t, err)
	require.Len(t, evs, 3+40)
	seen := map[string]bool{}
	for i, e := range evs {
		require.EqualValues(t, i+1, e.Seq)
		require.False(t, seen[e.Key])
		seen[e.Key] = true
	}
	_, err = st.AppendEvents(ctx, store.TurnLog, uuid.New(), []models.Event{ev("z")})
	require.ErrorIs(t, err, models.ErrNotFound)
}

// Listeners get the appended events in the notification itself, in seq order, sealed as stored;
// a batch too large for a notification is announced by the turn's id alone.
func TestAppendNotifiesWithTheEvents(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	turn := newTurn(t, st)
	conn, err := st.SQL().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	next := func() (uuid.UUID, []models.Event) {
		var id uuid.UUID
		var evs []models.Event
		require.NoError(t, conn.Raw(func(dc any) error {
			n, err := dc.(*stdlib.Conn).Conn().WaitForNotification(ctx)
			if err != nil {
				return err
			}
			id, evs, err = store.ParseNotification(n.Payload)
			return err
		}))
		return id, evs
	}
	_, err = conn.ExecContext(ctx, "LISTEN "+store.TurnEventsChannel)
	require.NoError(t, err)

	big := bytes.Repeat([]byte{0xff, 0x00, '\n'}, 4000)
	_, err = st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev("a"), {Key: "b", Type: "message", Data: big}})
	require.NoError(t, err)
	id, evs := next()
	require.Equal(t, turn, id)
	require.Nil(t, evs, "12 kB of events do not fit in a notification: the id alone")

	_, err = st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev("c"), {Key: "d", Type: "token", Data: big[:300]}})
	require.NoError(t, err)
	id, evs = next()
	require.Equal(t, turn, id)
	require.Equal(t, []models.Event{{Seq: 3, Key: "c", Type: "token", Data: []byte("x")}, {Seq: 4, Key: "d", Type: "token", Data: big[:300]}}, evs,
		"with their keys, which their ciphertext is bound to")

	_, err = st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev("c")})
	require.NoError(t, err)
	_, err = st.AppendEvents(ctx, store.TurnLog, turn, []models.Event{ev("e")})
	require.NoError(t, err)
	_, evs = next()
	require.Equal(t, []models.Event{{Seq: 5, Key: "e", Type: "token", Data: []byte("x")}}, evs, "appending nothing new notifies nobody")

	_, _, err = store.ParseNotification("not-a-uuid")
	require.Error(t, err)
	_, _, err = store.ParseNotification(turn.String() + " [{")
	require.Error(t, err)
}

// FinishTurn records the outcome and its closing events together, once.
func TestFinishTurnRecordsOutcomeAndEventsOnce(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	turn := newTurn(t, st)
	out := models.TurnOutcome{Status: models.TurnCompleted, Steps: 2, PromptTokens: 7, CompletionTokens: 3}
	finished, err := st.FinishTurn(ctx, turn, out, time.Now(), []models.Event{ev("message"), ev("terminal")})
	require.NoError(t, err)
	require.True(t, finished)
	failed := models.TurnOutcome{Status: models.TurnFailed, ErrorCode: "X"}
	finished, err = st.FinishTurn(ctx, turn, failed, time.Now(), []models.Event{ev("terminal"), ev("late")})
	require.NoError(t, err)
	require.False(t, finished, "a finished turn is not finished again")
	got, err := st.Turn(ctx, turn)
	require.NoError(t, err)
	require.Equal(t, models.TurnCompleted, got.Status, "a finished turn stays as it finished")
	require.Equal(t, 2, got.Steps)
	require.NotNil(t, got.FinishedAt)
	evs, err := st.EventsAfter(ctx, store.TurnLog, turn, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2, "the second finish appends nothing")
	require.Equal(t, "terminal", evs[1].Key)
	finished, err = st.FinishTurn(ctx, uuid.New(), out, time.Now(), nil)
	require.NoError(t, err, "a turn deleted with its session: nothing to finish")
	require.False(t, finished)
}

// A message and the events announcing it are stored by one statement; a retry adds neither twice.
func TestPutMessageWithEvents(t *testing.T) {
	t.Parallel()
	st, m := newAnswer(t, 1)
	ctx, turn := context.Background(), *m.TurnID
	for range 2 {
		require.NoError(t, st.PutMessageWithEvents(ctx, m, []models.Event{ev("end"), ev("message")}))
	}
	got, err := st.MessageByID(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, []byte("sealed answer"), got.Content)
	require.Nil(t, got.ToolCalls, "no tool calls is NULL")
	evs, err := st.EventsAfter(ctx, store.TurnLog, turn, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)

	orphan := *m
	orphan.ID, orphan.TurnID = uuid.New(), nil
	require.Error(t, st.PutMessageWithEvents(ctx, &orphan, nil))
}

// newAnswer opens a store on a fresh database with a running turn and returns an assistant
// message of that turn at step, not stored yet (its content stands for ciphertext).
func newAnswer(t *testing.T, step int) (*store.Store, *models.Message) {
	t.Helper()
	st := open(t, time.Second, &testenv.Buffer{})
	turn := newTurn(t, st)
	tt, err := st.Turn(context.Background(), turn)
	require.NoError(t, err)
	return st, &models.Message{ID: uuid.New(), SessionID: tt.SessionID, TurnID: &turn, Step: step, Role: models.RoleAssistant,
		Content: []byte("sealed answer"), Status: models.MessageComplete}
}

// The answer that ends a turn, the outcome and the closing events go in one statement; the call
// reports whether it finished the turn, and a turn that had finished keeps its outcome and log.
func TestFinishTurnWithMessage(t *testing.T) {
	t.Parallel()
	st, m := newAnswer(t, 2)
	ctx, turn := context.Background(), *m.TurnID
	out := models.TurnOutcome{Status: models.TurnCompleted, Steps: 2, PromptTokens: 9, CompletionTokens: 4}
	finished, err := st.FinishTurnWithMessage(ctx, m, out, time.Now(), []models.Event{ev("tok"), ev("message"), ev("terminal")})
	require.NoError(t, err)
	require.True(t, finished)
	got, err := st.Turn(ctx, turn)
	require.NoError(t, err)
	require.Equal(t, models.TurnCompleted, got.Status)
	require.Equal(t, 2, got.Steps)
	require.Equal(t, 9, got.PromptTokens)
	require.NotNil(t, got.FinishedAt)
	stored, err := st.MessageByID(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, []byte("sealed answer"), stored.Content)

	// Again (a retried statement): nothing changes, nothing is appended, and it says so.
	failed := models.TurnOutcome{Status: models.TurnFailed, ErrorCode: "X"}
	finished, err = st.FinishTurnWithMessage(ctx, m, failed, time.Now(), []models.Event{ev("late"), ev("terminal")})
	require.NoError(t, err)
	require.False(t, finished)
	got, err = st.Turn(ctx, turn)
	require.NoError(t, err)
	require.Equal(t, models.TurnCompleted, got.Status)
	evs, err := st.EventsAfter(ctx, store.TurnLog, turn, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	require.Equal(t, "terminal", evs[2].Key)

	orphan := *m
	orphan.ID, orphan.TurnID = uuid.New(), nil
	_, err = st.FinishTurnWithMessage(ctx, &orphan, out, time.Now(), nil)
	require.Error(t, err)
}
