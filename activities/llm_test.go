package activities

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/toolbox"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStoreAndBox opens a store over a fresh database and an encryption box with a new key.
func newStoreAndBox(t *testing.T) (*store.Store, *encryption.Box) {
	t.Helper()
	db := testenv.NewDB(t)
	st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 2, MaxOverflow: 2, SlowQuery: time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	key, err := encryption.GenerateKey()
	require.NoError(t, err)
	box, err := encryption.New([]string{key})
	require.NoError(t, err)
	return st, box
}

// newTurnLog returns the event log of a fresh turn in a fresh database.
func newTurnLog(t *testing.T) (eventLog, uuid.UUID) {
	t.Helper()
	st, box := newStoreAndBox(t)
	ctx := context.Background()
	u := &models.User{Username: "batcher"}
	require.NoError(t, st.CreateUser(ctx, u))
	c := models.Caller{UserID: u.ID}
	cs := &models.ChatSession{Model: "m"}
	require.NoError(t, st.CreateSession(ctx, c, cs))
	turn := &models.Turn{ID: uuid.New(), WorkflowID: uuid.NewString(), Status: models.TurnRunning, StartedAt: time.Now()}
	_, _, _, err := st.StartTurn(ctx, c, cs.ID, turn, []byte("sealed"), nil)
	require.NoError(t, err)
	return eventLog{store: st, box: box}, turn.ID
}

// written lists the log's events as "type" strings, with "|" between appends (events of one
// append share their created_at: the statement's transaction time).
func written(t *testing.T, l eventLog, turn uuid.UUID) string {
	t.Helper()
	evs, err := l.store.EventsAfter(context.Background(), store.TurnLog, turn, 0, 100)
	require.NoError(t, err)
	out := ""
	for i, e := range evs {
		if i > 0 {
			if e.CreatedAt.Equal(evs[i-1].CreatedAt) {
				out += " "
			} else {
				out += " | "
			}
		}
		out += e.Type
	}
	return out
}

func started() []event {
	return []event{{key: "start", typ: models.EventStepStarted, data: map[string]any{}}}
}

// The opening events wait for the first token and go out with it; later tokens are batched; close
// writes the held tokens with the closing events.
func TestTokenBatcherWritesOpeningEventsWithTheFirstToken(t *testing.T) {
	l, turn := newTurnLog(t)
	ctx := context.Background()
	b := &tokenBatcher{log: l, turnID: turn, keyPrefix: "llm:1:1", step: 1, attempt: 1, every: time.Hour}
	b.open(ctx, started())
	require.NoError(t, b.add(ctx, "Hel"))
	require.NoError(t, b.add(ctx, "lo"))
	require.Equal(t, "step.started token", written(t, l, turn), "the second token waits for the interval")
	require.NoError(t, b.close(ctx, nil, event{key: "end", typ: models.EventStepFinished, data: map[string]any{}}))
	require.Equal(t, "step.started token | token step.finished", written(t, l, turn))
}

// A model that says nothing for one interval does not hold step.started back.
func TestTokenBatcherWritesOpeningEventsAloneAfterAnInterval(t *testing.T) {
	l, turn := newTurnLog(t)
	ctx := context.Background()
	b := &tokenBatcher{log: l, turnID: turn, keyPrefix: "llm:1:1", step: 1, attempt: 1, every: 20 * time.Millisecond}
	b.open(ctx, started())
	require.Eventually(t, func() bool { return written(t, l, turn) == "step.started" }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, b.add(ctx, "Hi"))
	require.NoError(t, b.close(ctx, nil))
	require.Equal(t, "step.started | token", written(t, l, turn))

	b3 := &tokenBatcher{log: l, turnID: turn, keyPrefix: "llm:3:1", step: 3, attempt: 1, every: 20 * time.Millisecond}
	b3.open(ctx, []event{{key: "start3", typ: models.EventStepStarted, data: map[string]any{}}})
	require.NoError(t, b3.add(ctx, "x"))
	require.NoError(t, b3.add(ctx, "y"))
	b3.abandon()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, "step.started | token | step.started token", written(t, l, turn),
		"an abandoned attempt writes nothing more: not its held token, not after its interval")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	b2 := &tokenBatcher{log: l, turnID: turn, keyPrefix: "llm:2:1", step: 2, attempt: 1, every: time.Hour}
	b2.open(ctx, nil)
	require.Error(t, b2.close(cancelled, nil, event{key: "end2", typ: models.EventStepFinished, data: map[string]any{}}),
		"closing events that could not be written are an error, not silence")
}

// The answer that ends a turn goes out with what is held, the outcome and turn.completed in one
// statement; a turn that had finished already gets none of it, and the call says so.
func TestTokenBatcherCloseFinishing(t *testing.T) {
	l, turn := newTurnLog(t)
	ctx := context.Background()
	tt, err := l.store.Turn(ctx, turn)
	require.NoError(t, err)
	answer := &models.Message{ID: uuid.New(), SessionID: tt.SessionID, TurnID: &turn, Step: 1, Role: models.RoleAssistant,
		Content: []byte("sealed"), Status: models.MessageComplete}
	done := models.TurnOutcome{Status: models.TurnCompleted, Steps: 1}
	b := &tokenBatcher{log: l, turnID: turn, keyPrefix: "llm:1:1", step: 1, attempt: 1, every: time.Hour}
	b.open(ctx, started())
	require.NoError(t, b.add(ctx, "Hi"))
	require.NoError(t, b.add(ctx, "!"))
	finished, err := b.closeFinishing(ctx, answer, done, terminalEvent(turn, done))
	require.NoError(t, err)
	require.True(t, finished)
	require.Equal(t, "step.started token | token turn.completed", written(t, l, turn))

	again := &tokenBatcher{log: l, turnID: turn, keyPrefix: "llm:1:2", step: 1, attempt: 2, every: time.Hour}
	again.open(ctx, []event{{key: "start2", typ: models.EventStepStarted, data: map[string]any{}}})
	finished, err = again.closeFinishing(ctx, answer, done, event{key: "end2", typ: models.EventStepFinished, data: map[string]any{}})
	require.NoError(t, err)
	require.False(t, finished)
	require.Equal(t, "step.started token | token turn.completed", written(t, l, turn))
}

// A model call heartbeats only from HeartbeatAfter on: one that ends sooner costs Temporal no
// heartbeat, one that runs longer keeps heartbeating.
func TestHeartbeatsStartAfterHeartbeatAfter(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	var mu sync.Mutex
	var beats []time.Duration
	var start time.Time
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		beats = append(beats, time.Since(start))
	})
	a := &LLM{HeartbeatEvery: 10 * time.Millisecond, HeartbeatAfter: 80 * time.Millisecond}
	run := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		start = time.Now()
		mu.Unlock()
		stop := a.heartbeat(ctx, &tokenBatcher{every: time.Hour})
		time.Sleep(d)
		stop()
		return nil
	}
	env.RegisterActivity(run)

	_, err := env.ExecuteActivity(run, 40*time.Millisecond)
	require.NoError(t, err)
	mu.Lock()
	require.Empty(t, beats, "a call shorter than HeartbeatAfter does not heartbeat")
	mu.Unlock()

	_, err = env.ExecuteActivity(run, 300*time.Millisecond)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, beats, "a longer call heartbeats (the SDK throttles what it sends)")
	require.GreaterOrEqual(t, beats[0], 80*time.Millisecond)
}

// A conversation is tainted by the result of any tool whose output is not trusted: one offered as
// untrusted, one no longer offered, or one a client sent; trusted output and no tool leave it clean.
func TestTainted(t *testing.T) {
	t.Parallel()
	clock := toolbox.Tool{Name: "time_now"}
	search := toolbox.Tool{Name: "knowledge_search", Untrusted: true}
	offered := []toolbox.Tool{clock, search}
	user := models.Message{Role: models.RoleUser}
	result := func(name string) models.Message { return models.Message{Role: models.RoleTool, ToolName: name} }
	for _, c := range []struct {
		name    string
		history []models.Message
		want    bool
	}{
		{"no tool", []models.Message{user}, false},
		{"trusted output only", []models.Message{user, result("time_now")}, false},
		{"untrusted output", []models.Message{user, result("time_now"), result("knowledge_search")}, true},
		{"a tool no longer offered", []models.Message{user, result("fetch_url")}, true},
		{"a result a client sent", []models.Message{user, result("")}, true},
	} {
		require.Equal(t, c.want, tainted(c.history, offered), c.name)
	}
}
