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
