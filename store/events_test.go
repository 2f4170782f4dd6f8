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

func newTurn(t *testing.T, st *store.Store) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	u := &models.User{Username: "u-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateUser(ctx, u))
	c := models.Caller{UserID: u.ID}
	cs := &models.ChatSession{Model: "m"}
	require.NoError(t, st.CreateSession(ctx, c, cs))
	turn := &models.Turn{ID: uuid.New(), WorkflowID: uuid.NewString(), Status: models.TurnRunning, StartedAt: time.Now()}
	_, _, _, err := st.StartTurn(ctx, c, cs.ID, turn, []byte("sealed"))
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
