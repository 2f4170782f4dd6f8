package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// fakeBranches stands in for chat.Service's Regenerate and Edit.
type fakeBranches struct {
	calls   []string
	turn    *models.Turn
	created bool
	err     error
}

func (f *fakeBranches) Regenerate(_ context.Context, _ models.Caller, sessionID, turnID uuid.UUID, key string) (*models.Turn, bool, error) {
	f.calls = append(f.calls, "regenerate "+sessionID.String()+" "+turnID.String()+" "+key)
	return f.turn, f.created, f.err
}

func (f *fakeBranches) Edit(_ context.Context, _ models.Caller, sessionID, messageID uuid.UUID, content, key string) (*models.Turn, bool, error) {
	f.calls = append(f.calls, "edit "+sessionID.String()+" "+messageID.String()+" "+content+" "+key)
	return f.turn, f.created, f.err
}

// POST …/turns/:turn_id/regenerate and POST …/messages/:message_id/edit hand the path's ids, the
// content and the Idempotency-Key to the chat service, answer 202 for a new turn and 200 for the
// one a key found, and render the service's errors in the one envelope.
func TestRegenerateAndEditHandlers(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, _ := e.signup("brigitte")
	sid, tid, mid, newTurn := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	f := &fakeBranches{turn: &models.Turn{ID: newTurn, SessionID: sid, WorkflowID: "chat-turn/y", Status: models.TurnRunning, StartedAt: time.Now()}, created: true}
	e.srv.branches = f
	regen := "/v1/sessions/" + sid.String() + "/turns/" + tid.String() + "/regenerate"
	edit := "/v1/sessions/" + sid.String() + "/messages/" + mid.String() + "/edit"

	r := cl.do("POST", regen, nil, "Idempotency-Key", "r1")
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	require.Equal(t, newTurn.String(), r.JSON(t)["turn_id"])
	require.Equal(t, "/v1/sessions/"+sid.String()+"/turns/"+newTurn.String()+"/events", r.JSON(t)["events_url"])
	r = cl.do("POST", edit, map[string]any{"content": "again, better"}, "Idempotency-Key", "e1")
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	require.Equal(t, []string{"regenerate " + sid.String() + " " + tid.String() + " r1",
		"edit " + sid.String() + " " + mid.String() + " again, better e1"}, f.calls)

	f.created = false
	r = cl.do("POST", regen, nil, "Idempotency-Key", "r1")
	require.Equal(t, http.StatusOK, r.Status, "the key found an earlier turn")

	f.err = store.ErrTurnInProgress
	for _, req := range []struct {
		path string
		body any
	}{{regen, nil}, {edit, map[string]any{"content": "x"}}} {
		r = cl.do("POST", req.path, req.body)
		require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
		require.Equal(t, "TURN_IN_PROGRESS", r.errCode(t))
	}

	calls := len(f.calls)
	for _, bad := range []struct {
		path   string
		body   any
		status int
	}{
		{"/v1/sessions/not-a-uuid/turns/" + tid.String() + "/regenerate", nil, http.StatusNotFound},
		{"/v1/sessions/" + sid.String() + "/turns/nope/regenerate", nil, http.StatusNotFound},
		{"/v1/sessions/" + sid.String() + "/messages/nope/edit", map[string]any{"content": "x"}, http.StatusNotFound},
		{edit, map[string]any{}, http.StatusBadRequest},
		{edit, `{"content": 3}`, http.StatusBadRequest},
	} {
		r = cl.do("POST", bad.path, bad.body)
		require.Equal(t, bad.status, r.Status, "%s: %s", bad.path, r.Body)
	}
	require.Len(t, f.calls, calls, "bad requests never reach the service")
}

// GET /v1/sessions/:id gives every message with its parent_id and the active branch;
// PUT …/active-branch chooses the branch through a message of the session, and a message that is
// not the session's (or a session that is not the caller's) is not found.
func TestActiveBranchRoute(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, _ := e.signup("chiara")
	r := cl.do("POST", "/v1/sessions", map[string]any{"title": "tree"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	sid := uuid.MustParse(r.JSON(t)["id"].(string))
	var msgs []models.Message
	var ids []any
	for _, text := range []string{"one", "two", "three"} {
		id := uuid.New()
		sealed, err := e.srv.box.EncryptString(store.MessageContent(id), text)
		require.NoError(t, err)
		msgs = append(msgs, models.Message{ID: id, Role: models.RoleUser, Content: sealed})
		ids = append(ids, id.String())
	}
	require.NoError(t, e.store.ImportMessages(context.Background(), sid, msgs))

	got := cl.do("GET", "/v1/sessions/"+sid.String(), nil).JSON(t)
	require.Equal(t, ids, got["active_branch"])
	require.Equal(t, ids[2], got["active_message_id"])
	parents := []any{nil, ids[0], ids[1]}
	for i, m := range got["messages"].([]any) {
		require.Equal(t, parents[i], m.(map[string]any)["parent_id"])
	}

	path := "/v1/sessions/" + sid.String() + "/active-branch"
	r = cl.do("PUT", path, map[string]any{"message_id": ids[1]})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var b struct {
		ActiveMessageID string   `json:"active_message_id"`
		ActiveBranch    []string `json:"active_branch"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &b))
	require.Equal(t, ids[2], b.ActiveMessageID, "the branch through two goes on down to three")
	require.Len(t, b.ActiveBranch, 3)

	r = cl.do("PUT", path, map[string]any{"message_id": uuid.NewString()})
	require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	require.Equal(t, "MESSAGE_NOT_FOUND", r.errCode(t))
	r = cl.do("PUT", path, map[string]any{})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	other, _ := e.signup("dario")
	r = other.do("PUT", path, map[string]any{"message_id": ids[1]})
	require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
}

// The account export holds every branch of a session, each message with its parent_id, not only
// the active one.
func TestExportHasEveryBranch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newAPI(t, nil)
	cl, login := e.signup("emilia")
	r := cl.do("POST", "/v1/sessions", map[string]any{"title": "forked"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	sid := uuid.MustParse(r.JSON(t)["id"].(string))
	seal := func(id uuid.UUID, text string) []byte {
		b, err := e.srv.box.EncryptString(store.MessageContent(id), text)
		require.NoError(t, err)
		return b
	}
	u1, a1 := uuid.New(), uuid.New()
	require.NoError(t, e.store.ImportMessages(ctx, sid, []models.Message{
		{ID: u1, Role: models.RoleUser, Content: seal(u1, "question")},
		{ID: a1, Role: models.RoleAssistant, Content: seal(a1, "first answer")}}))
	// A regenerated answer, stored the way the worker stores it.
	caller := models.Caller{UserID: uuid.MustParse(login["user"].(map[string]any)["id"].(string))}
	turn := uuid.New()
	_, _, _, err := e.store.StartTurnOn(ctx, caller, sid, &models.Turn{ID: turn, WorkflowID: turn.String(), Status: models.TurnRunning,
		StartedAt: time.Now()}, nil, nil, store.Branch{At: true, Anchor: &u1, Active: &u1})
	require.NoError(t, err)
	a2 := models.MessageID(turn, models.RoleAssistant, 1, "")
	require.NoError(t, e.store.PutMessageWithEvents(ctx, &models.Message{ID: a2, SessionID: sid, TurnID: &turn, Step: 1,
		Role: models.RoleAssistant, Content: seal(a2, "second answer"), Status: models.MessageComplete}, nil))

	exp := cl.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, exp.Status, "%s", exp.Body)
	var doc struct {
		Sessions []struct {
			Messages []struct {
				ID       string  `json:"id"`
				ParentID *string `json:"parent_id"`
				Content  string  `json:"content"`
			} `json:"messages"`
		} `json:"sessions"`
	}
	require.NoError(t, json.Unmarshal(exp.Body, &doc), "%s", exp.Body)
	require.Len(t, doc.Sessions, 1)
	got := map[string]string{}
	for _, m := range doc.Sessions[0].Messages {
		parent := ""
		if m.ParentID != nil {
			parent = *m.ParentID
		}
		got[m.Content] = parent
	}
	require.Equal(t, map[string]string{"question": "", "first answer": u1.String(), "second answer": u1.String()}, got)
}
