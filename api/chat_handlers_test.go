package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// fakeChat stands in for chat.Service: the handlers' own behaviour, without Temporal.
type fakeChat struct {
	posted  []chat.Message
	callers []models.Caller
	turn    *models.Turn
	created bool
	err     error
	// sessions, when set, stores completion sessions (a real chat.Service over the test's store);
	// without it OpenCompletion fails.
	sessions *chat.Service
	// started, when set, runs where chat.Service starts the turn's workflow (after BeforeStart).
	started func(m chat.Message)
}

func (f *fakeChat) OpenCompletion(ctx context.Context, c models.Caller, comp chat.Completion) (*models.ChatSession, error) {
	if f.sessions == nil {
		return nil, models.Errorf(models.ErrUnavailable, "FAKE", "the fake chat service opens no session")
	}
	return f.sessions.OpenCompletion(ctx, c, comp)
}

func (f *fakeChat) Post(_ context.Context, c models.Caller, m chat.Message) (*models.Turn, bool, error) {
	f.posted, f.callers = append(f.posted, m), append(f.callers, c)
	if f.err == nil && f.created && m.BeforeStart != nil {
		m.BeforeStart(f.turn.ID)
	}
	if f.err == nil && f.started != nil {
		f.started(m)
	}
	return f.turn, f.created, f.err
}

func (f *fakeChat) ReapActive(context.Context, uuid.UUID, models.TurnOutcome) bool { return false }

func (f *fakeChat) ValidateLength(string, string) error { return nil }

// POST /v1/sessions/:id/messages hands the message, its session and Idempotency-Key to the chat
// service as the caller, and answers 202 for a new turn, 200 for the one a key found, and the
// service's error in the one envelope.
func TestPostMessageHandler(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, login := e.signup("hugo")
	sid, tid := uuid.New(), uuid.New()
	f := &fakeChat{turn: &models.Turn{ID: tid, SessionID: sid, WorkflowID: "chat-turn/x", Status: models.TurnRunning, StartedAt: time.Now()}, created: true}
	e.srv.chat = f

	r := cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", map[string]any{"content": "hello"}, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	body := r.JSON(t)
	require.Equal(t, tid.String(), body["turn_id"])
	require.Equal(t, "chat-turn/x", body["workflow_id"])
	require.Equal(t, "/v1/sessions/"+sid.String()+"/turns/"+tid.String()+"/events", body["events_url"])
	require.Len(t, f.posted, 1)
	require.Nil(t, f.posted[0].BeforeStart, "no hook without a stream")
	require.Equal(t, chat.Message{SessionID: sid, Content: "hello", IdempotencyKey: "k1"}, f.posted[0])
	require.Equal(t, login["user"].(map[string]any)["id"], f.callers[0].UserID.String())

	f.created = false
	r = cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", map[string]any{"content": "hello"}, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusOK, r.Status, "the key found an earlier turn")

	f.err = models.Invalid("content", "content is 9 characters; the limit is 5")
	r = cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", map[string]any{"content": "too long!"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "VALIDATION_ERROR", r.errCode(t))

	f.err = models.Errorf(models.ErrConflict, "TURN_IN_PROGRESS", "another turn of this session is still running")
	r = cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", map[string]any{"content": "again"})
	require.Equal(t, http.StatusConflict, r.Status)

	r = cl.do("POST", "/v1/sessions/not-a-uuid/messages", map[string]any{"content": "x"})
	require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	r = cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", `{"content": 3}`)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Len(t, f.posted, 4, "bad requests never reach the service")
	require.False(t, strings.Contains(e.logs.String(), "panic"))
}

// A stream opened by the request that starts a turn subscribes before the turn's workflow starts
// (chat.Message.BeforeStart), so it takes every event from notifications without reading the
// log; a stream that joins later, or a turn an idempotency key found, reads it first.
func TestStreamOfANewTurnReadsNoLog(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, login := e.signup("ivy")
	ctx := context.Background()
	newSession := func() uuid.UUID {
		r := cl.do("POST", "/v1/sessions", map[string]any{"title": "s"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		return uuid.MustParse(r.JSON(t)["id"].(string))
	}
	caller := models.Caller{UserID: uuid.MustParse(login["user"].(map[string]any)["id"].(string))}
	newTurn := func(sid uuid.UUID) *models.Turn {
		tid := uuid.New()
		turn := &models.Turn{ID: tid, WorkflowID: "chat-turn/" + tid.String(), Status: models.TurnRunning, StartedAt: time.Now()}
		_, _, _, err := e.store.StartTurnOn(ctx, caller, sid, turn, nil, nil, store.Branch{})
		require.NoError(t, err)
		return turn
	}
	appendEvent := func(turn uuid.UUID, key, typ string) {
		sealed, err := e.srv.box.Encrypt(store.TurnLog.EventData(turn, key), []byte(`{"n":1}`))
		require.NoError(t, err)
		_, err = e.store.AppendEvents(ctx, store.TurnLog, turn, []models.Event{{Key: key, Type: typ, Data: sealed}})
		require.NoError(t, err)
	}
	// The API's LISTEN connection is up once a notification reaches a subscription.
	probe := newTurn(newSession())
	sub, unsubscribe := e.srv.events.subscribe(probe.ID)
	require.Eventually(t, func() bool {
		appendEvent(probe.ID, uuid.NewString(), "probe")
		select {
		case <-sub.wake:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, 10*time.Second, time.Millisecond)
	unsubscribe()

	// The "worker" writes the turn's events once its workflow "started": after the hook.
	sid := newSession()
	turn := newTurn(sid)
	f := &fakeChat{turn: turn, created: true, started: func(chat.Message) {
		go func() {
			for _, ev := range [][2]string{{"turn.started", models.EventTurnStarted}, {"tok:0", models.EventToken}, {"end", models.EventTurnCompleted}} {
				time.Sleep(5 * time.Millisecond)
				appendEvent(turn.ID, ev[0], ev[1])
			}
		}()
	}}
	e.srv.chat = f
	reads := func() float64 { return testutil.ToFloat64(e.srv.metrics.logReads) }
	before := reads()
	r := cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", map[string]any{"content": "hello"}, "Accept", "text/event-stream")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Regexp(t, `(?s)id: 1\nevent: turn.started\n.*id: 2\nevent: token\n.*id: 3\nevent: turn.completed\n`, string(r.Body))
	require.NotNil(t, f.posted[0].BeforeStart)
	require.Equal(t, before, reads(), "the new turn's stream read its log")

	// Joining the same turn later reads the log (it holds the events now).
	r = cl.do("GET", "/v1/sessions/"+sid.String()+"/turns/"+turn.ID.String()+"/events", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), "event: turn.completed")
	require.Equal(t, before+1, reads())

	// A turn the idempotency key found was not started by this request: its stream reads first.
	f.created, f.started = false, nil
	r = cl.do("POST", "/v1/sessions/"+sid.String()+"/messages", map[string]any{"content": "hello"}, "Accept", "text/event-stream")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), "event: turn.completed")
	require.Equal(t, before+2, reads())
}
