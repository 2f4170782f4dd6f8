package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/account"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// The export reads a session's messages and a document's chunks page by page (here 2 at a time)
// and still exports every one, in order.
func TestExportStreamsEveryMessageInPages(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	e.srv.exporter.(*account.Exporter).PageSize = 2
	cl, _ := e.signup("paula")
	r := cl.do("POST", "/v1/sessions", map[string]any{"title": "long"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	sid := uuid.MustParse(r.JSON(t)["id"].(string))
	var msgs []models.Message
	for i := range 7 {
		id := uuid.New()
		sealed, err := e.srv.box.EncryptString(store.MessageContent(id), fmt.Sprintf("message %d", i))
		require.NoError(t, err)
		msgs = append(msgs, models.Message{ID: id, Role: models.RoleUser, Content: sealed})
	}
	require.NoError(t, e.store.ImportMessages(context.Background(), sid, msgs))

	exp := cl.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, exp.Status, "%s", exp.Body)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(exp.Body, &doc), "%s", exp.Body)
	require.NotContains(t, doc, "error")
	sessions := doc["sessions"].([]any)
	require.Len(t, sessions, 1)
	got := sessions[0].(map[string]any)["messages"].([]any)
	require.Len(t, got, 7)
	for i, m := range got {
		require.Equal(t, fmt.Sprintf("message %d", i), m.(map[string]any)["content"])
	}
	require.Equal(t, "long", sessions[0].(map[string]any)["title"])
	for _, k := range []string{"exported_at", "user", "groups", "api_keys", "tool_runs", "documents", "audit"} {
		require.Contains(t, doc, k)
	}
}

// The export carries what the API shows nowhere else: a message's images and the client-side
// functions and response format of a session made through /v1/chat/completions (all stored
// encrypted).
func TestExportHasImagesAndClientTools(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, login := e.signup("olga")
	caller := models.Caller{UserID: uuid.MustParse(login["user"].(map[string]any)["id"].(string))}
	ctx := context.Background()
	cs := &models.ChatSession{ID: uuid.New(), Title: "completion", Model: "m", Tools: []string{}, EndUser: "end-user-7"}
	tools := []models.ClientTool{{Name: "get_weather", Description: "the weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	raw, err := json.Marshal(tools)
	require.NoError(t, err)
	cs.ClientTools, err = e.srv.box.Encrypt(store.SessionClientTools(cs.ID), raw)
	require.NoError(t, err)
	cs.ResponseFormat, err = store.SealResponseFormat(e.srv.box, cs.ID, json.RawMessage(`{"type":"object"}`))
	require.NoError(t, err)
	require.NoError(t, e.store.CreateSession(ctx, caller, cs))
	mid := uuid.New()
	content, err := e.srv.box.EncryptString(store.MessageContent(mid), "what is in this picture?")
	require.NoError(t, err)
	png := []byte("\x89PNG\r\n\x1a\n fake image bytes")
	images, err := store.SealImages(e.srv.box, mid, [][]byte{png})
	require.NoError(t, err)
	require.NoError(t, e.store.ImportMessages(ctx, cs.ID, []models.Message{{ID: mid, Role: models.RoleUser, Content: content, Images: images}}))

	exp := cl.do("GET", "/v1/account/export", nil)
	require.Equal(t, http.StatusOK, exp.Status, "%s", exp.Body)
	var doc struct {
		Sessions []struct {
			EndUser        string              `json:"end_user"`
			ClientTools    []models.ClientTool `json:"client_tools"`
			ResponseFormat json.RawMessage     `json:"response_format"`
			Messages       []struct {
				Content string   `json:"content"`
				Images  [][]byte `json:"images"`
			} `json:"messages"`
		} `json:"sessions"`
		Error any `json:"error"`
	}
	require.NoError(t, json.Unmarshal(exp.Body, &doc), "%s", exp.Body)
	require.Nil(t, doc.Error)
	require.Len(t, doc.Sessions, 1)
	require.Equal(t, "end-user-7", doc.Sessions[0].EndUser)
	require.Equal(t, tools[0].Name, doc.Sessions[0].ClientTools[0].Name)
	require.JSONEq(t, `{"type":"object"}`, string(doc.Sessions[0].ClientTools[0].Parameters))
	require.JSONEq(t, `{"type":"object"}`, string(doc.Sessions[0].ResponseFormat))
	require.Len(t, doc.Sessions[0].Messages, 1)
	require.Equal(t, "what is in this picture?", doc.Sessions[0].Messages[0].Content)
	require.Equal(t, [][]byte{png}, doc.Sessions[0].Messages[0].Images)
}
