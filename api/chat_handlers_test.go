package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
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
}

func (f *fakeChat) OpenCompletion(ctx context.Context, c models.Caller, comp chat.Completion) (*models.ChatSession, error) {
	if f.sessions == nil {
		return nil, models.Errorf(models.ErrUnavailable, "FAKE", "the fake chat service opens no session")
	}
	return f.sessions.OpenCompletion(ctx, c, comp)
}

func (f *fakeChat) Post(_ context.Context, c models.Caller, m chat.Message) (*models.Turn, bool, error) {
	f.posted, f.callers = append(f.posted, m), append(f.callers, c)
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
	require.Equal(t, []chat.Message{{SessionID: sid, Content: "hello", IdempotencyKey: "k1"}}, f.posted)
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
