package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// The export reads a session's messages and a document's chunks page by page (here 2 at a time)
// and still exports every one, in order.
func TestExportStreamsEveryMessageInPages(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	e.srv.exportPage = 2
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

// A failure midway ends the document as valid JSON with an error member, whatever was open.
func TestJSONStreamAbortStaysValid(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	j := &jsonStream{w: w}
	j.open('{')
	j.member("user", map[string]any{"name": "x"})
	j.openMember("sessions", '[')
	j.openObjectWith(map[string]any{"id": 1})
	j.openMember("messages", '[')
	j.element("first")
	j.err = errors.New("database gone")
	j.abort(map[string]any{"code": "EXPORT_INCOMPLETE"})
	require.NoError(t, w.Flush())
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc), "%s", b.String())
	require.Equal(t, "EXPORT_INCOMPLETE", doc["error"].(map[string]any)["code"])
	require.Equal(t, []any{"first"}, doc["sessions"].([]any)[0].(map[string]any)["messages"])

	b.Reset()
	w = bufio.NewWriter(&b)
	j = &jsonStream{w: w}
	j.abort(map[string]any{"code": "EXPORT_INCOMPLETE"}) // nothing written yet
	require.NoError(t, w.Flush())
	require.JSONEq(t, `{"error":{"code":"EXPORT_INCOMPLETE"}}`, b.String())
}
