package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func TestRekeyBatchVisitsEveryRow(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	var turns = 3
	for range turns {
		turn := newTurn(t, st)
		var evs []models.Event
		for i := range 12 {
			evs = append(evs, models.Event{Key: fmt.Sprint(i), Type: "t", Data: []byte("old")})
		}
		_, err := st.AppendEvents(ctx, store.TurnLog, turn, evs)
		require.NoError(t, err)
	}
	var table store.SealedTable
	for _, tb := range store.SealedTables {
		if tb.Name == "turn_events" {
			table = tb
		}
	}
	var after []string
	total := 0
	for range 100 {
		next, scanned, rewritten, err := st.RekeyBatch(ctx, table, after, 4, func(where encryption.Binding, b []byte) ([]byte, bool, error) {
			require.Regexp(t, `^turn_events\.data:[0-9a-f-]{36}/[0-9]+$`, where.String())
			if string(b) == "old" {
				return []byte("new"), true, nil
			}
			return nil, false, nil
		})
		require.NoError(t, err)
		require.Equal(t, scanned, rewritten)
		total += scanned
		if next == nil {
			break
		}
		after = next
	}
	require.Equal(t, 36, total, "every row once: seq 10 must not sort before 2")
	var left int
	require.NoError(t, st.SQL().QueryRow(`SELECT count(*) FROM turn_events WHERE data = 'old'`).Scan(&left))
	require.Zero(t, left)
}

// The rotation hands every sealed value to reseal with the binding its writer sealed it for: here
// each value is the binding its writer used, spelled out.
func TestRekeyBindsLikeTheWriters(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	ctx := context.Background()
	turn := newTurn(t, st) // its user message is sealed as "sealed"
	tt, err := st.Turn(ctx, turn)
	require.NoError(t, err)
	user := models.MessageID(turn, models.RoleUser, 0, "")
	_, err = st.SQL().Exec(`UPDATE messages SET content = $1 WHERE id = $2`, []byte(store.MessageContent(user).String()), user)
	require.NoError(t, err)
	_, err = st.SQL().Exec(`UPDATE chat_sessions SET system_prompt = $1, response_format = $2 WHERE id = $3`,
		[]byte(store.SessionPrompt(tt.SessionID).String()), []byte(store.SessionResponseFormat(tt.SessionID).String()), tt.SessionID)
	require.NoError(t, err)

	answer := models.MessageID(turn, models.RoleAssistant, 1, "")
	require.NoError(t, st.PutMessageWithEvents(ctx, &models.Message{ID: answer, SessionID: tt.SessionID, TurnID: &turn, Step: 1,
		Role: models.RoleAssistant, Content: []byte(store.MessageContent(answer).String()),
		ToolCalls: []byte(store.MessageToolCalls(answer).String()), Status: models.MessageComplete},
		[]models.Event{{Key: "tool.call:1-0", Type: "tool.call", Data: []byte(store.TurnLog.EventData(turn, "tool.call:1-0").String())}}))
	require.NoError(t, st.PutToolRun(ctx, &models.ToolRun{TurnID: turn, SessionID: tt.SessionID, UserID: tt.UserID, Step: 1, CallID: "1-0",
		ToolName: "t", Arguments: []byte(store.ToolRunArguments(turn, "1-0").String()), Status: models.ToolSucceeded, StartedAt: time.Now()}))

	seen := map[string]int{}
	for _, table := range store.SealedTables {
		if table.Name == "ingestion_events" {
			continue // no run here; it shares the event log code with turn_events
		}
		for after := []string(nil); ; {
			next, _, _, err := st.RekeyBatch(ctx, table, after, 10, func(where encryption.Binding, b []byte) ([]byte, bool, error) {
				require.Equal(t, string(b), where.String(), table.Name)
				seen[table.Name]++
				return nil, false, nil
			})
			require.NoError(t, err)
			if next == nil {
				break
			}
			after = next
		}
	}
	require.Equal(t, map[string]int{"messages": 3, "chat_sessions": 2, "tool_runs": 1, "turn_events": 1}, seen)
}

// Every bytea column is either ciphertext the key rotation rewrites (SealedTables) or named here
// as not sealed (hashes, embeddings): a new sealed column left out of the rotation would keep
// its old key forever, and fail to open once that key is retired.
func TestEveryByteaColumnIsInTheRotationOrNamedUnsealed(t *testing.T) {
	t.Parallel()
	st := open(t, time.Second, &testenv.Buffer{})
	rows, err := st.SQL().Query(`SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type = 'bytea' ORDER BY 1, 2`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var table, column string
		require.NoError(t, rows.Scan(&table, &column))
		got = append(got, table+"."+column)
	}
	require.NoError(t, rows.Err())
	want := []string{ // not sealed: one-way hashes and embeddings
		"api_keys.secret_hash", "document_blobs.sha256", "document_chunks.embedding", "documents.sha256", "ingestion_runs.request_sha256",
		"refresh_tokens.token_hash",
	}
	for _, table := range store.SealedTables {
		for _, c := range table.Columns {
			want = append(want, table.Name+"."+c)
		}
	}
	slices.Sort(want)
	require.Equal(t, want, got)
}
