package chat_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/workflows"
)

func TestMain(m *testing.M) {
	testenv.SearchAttributes = workflows.SearchAttributes() // chat.Service starts turns with them
	testenv.Main(m)
}

type fixture struct {
	st     *store.Store
	box    *encryption.Box
	tc     client.Client
	reaper *chat.Reaper
	caller models.Caller
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := testenv.NewDB(t)
	st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 2, MaxOverflow: 2, SlowQuery: time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	box, err := encryption.New([]string{key})
	require.NoError(t, err)
	tc := testenv.TemporalClient(t)
	u := &models.User{Username: "u-" + uuid.NewString()[:8]}
	require.NoError(t, st.CreateUser(context.Background(), u))
	return &fixture{st: st, box: box, tc: tc, caller: models.Caller{UserID: u.ID},
		reaper: &chat.Reaper{Store: st, Box: box, Temporal: tc, Grace: time.Minute, Logger: slog.New(slog.DiscardHandler)}}
}

// session stores a new private session of the fixture's caller.
func (f *fixture) session(t *testing.T) *models.ChatSession {
	t.Helper()
	cs := &models.ChatSession{Model: "m"}
	require.NoError(t, f.st.CreateSession(context.Background(), f.caller, cs))
	return cs
}

// turn stores a running turn of a new session that started at the given time, with no workflow.
func (f *fixture) turn(t *testing.T, started time.Time) *models.Turn {
	t.Helper()
	cs := f.session(t)
	id := uuid.New()
	turn := &models.Turn{ID: id, WorkflowID: "reaper-test/" + id.String(), Status: models.TurnRunning, StartedAt: started}
	got, _, _, err := f.st.StartTurn(context.Background(), f.caller, cs.ID, turn, []byte("sealed"), nil)
	require.NoError(t, err)
	return got
}

// start starts a workflow for t on a task queue no worker polls: it runs until terminated.
func (f *fixture) start(t *testing.T, turn *models.Turn) {
	t.Helper()
	_, err := f.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: turn.WorkflowID, TaskQueue: "nobody-" + uuid.NewString()}, "ChatTurn")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.tc.TerminateWorkflow(context.Background(), turn.WorkflowID, "", "test over") })
}

func (f *fixture) status(t *testing.T, turn *models.Turn) *models.Turn {
	t.Helper()
	got, err := f.st.Turn(context.Background(), turn.ID)
	require.NoError(t, err)
	return got
}

// The reaper fails exactly the unfinished turns whose workflow is gone: never started (once older
// than the grace period) or ended without finishing the turn. A turn whose workflow runs, or that
// may still be starting its workflow, is left alone.
func TestSweepFailsTurnsWhoseWorkflowIsGone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := time.Now().Add(-5 * time.Minute)
	neverStarted := f.turn(t, old)
	starting := f.turn(t, time.Now())
	running := f.turn(t, old)
	f.start(t, running)
	ended := f.turn(t, old)
	f.start(t, ended)
	require.NoError(t, f.tc.TerminateWorkflow(context.Background(), ended.WorkflowID, "", "the worker lost Postgres"))

	visited := 0
	n, err := f.reaper.Sweep(context.Background(), 100, func() { visited++ })
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, 3, visited, "turns younger than the grace period are not even looked at")
	for _, lost := range []*models.Turn{neverStarted, ended} {
		got := f.status(t, lost)
		require.Equal(t, models.TurnFailed, got.Status)
		require.Equal(t, chat.CodeTurnLost, got.ErrorCode)
		evs, err := f.st.EventsAfter(context.Background(), store.TurnLog, lost.ID, 0, 10)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.Equal(t, models.EventTurnFailed, evs[0].Type, "streams following the turn end")
		_, err = f.box.Decrypt(store.TurnLog.EventData(lost.ID, evs[0].Key), evs[0].Data)
		require.NoError(t, err)
	}
	require.Equal(t, models.TurnRunning, f.status(t, starting).Status)
	require.Equal(t, models.TurnRunning, f.status(t, running).Status)

	n, err = f.reaper.Sweep(context.Background(), 100, nil)
	require.NoError(t, err)
	require.Zero(t, n, "a second sweep finds nothing more")
}

// Finish decides one turn: ErrWorkflowRunning while its workflow runs, and nothing at all while
// Temporal cannot say.
func TestFinishNeedsToKnowTheWorkflowIsGone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	running := f.turn(t, time.Now().Add(-time.Hour))
	f.start(t, running)
	_, err := f.reaper.Finish(context.Background(), running, chat.Cancelled)
	require.ErrorIs(t, err, chat.ErrWorkflowRunning)

	lost := f.turn(t, time.Now().Add(-time.Hour))
	unreachable, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer unreachable.Close()
	blind := *f.reaper
	blind.Temporal = unreachable
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = blind.Finish(ctx, lost, chat.Lost)
	require.ErrorIs(t, err, models.ErrUnavailable)
	require.Equal(t, models.TurnRunning, f.status(t, lost).Status)

	var told []string
	counting := *f.reaper
	counting.Finished = func(status string) { told = append(told, status) }
	finished, err := counting.Finish(context.Background(), lost, chat.Cancelled)
	require.NoError(t, err)
	require.True(t, finished)
	require.Equal(t, models.TurnCancelled, f.status(t, lost).Status)
	finished, err = counting.End(context.Background(), lost.ID, chat.Lost)
	require.NoError(t, err)
	require.False(t, finished, "a finished turn stays as it was")
	require.Equal(t, []string{models.TurnCancelled}, told, "Finished hears of each turn the reaper finished, once")
}
