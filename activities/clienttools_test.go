package activities

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	ollama "github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/models"
	standin "github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// A model message calling a client-side function (the session's client_tools) is the turn's
// answer: the workflow gets no call to run, the turn is finished, and the stored message and its
// tool.call events carry the calls marked client, with the id the client answers with. Other
// calls in that message are dropped; a platform tool of the same name wins; a session with
// one_tool_call keeps the first call of a message. Images of a message reach the model.
func TestGenerateEndsTheTurnOnAClientCall(t *testing.T) {
	t.Parallel()
	st, box := newStoreAndBox(t)
	_, base, shutdown, err := standin.Start(standin.Options{Logger: slog.New(slog.DiscardHandler), VisionModels: []string{"llava:7b"}}, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	u, err := url.Parse(base)
	require.NoError(t, err)
	llm := &LLM{Ollama: ollama.NewClient(u, http.DefaultClient), Store: st, Box: box, FlushInterval: 10 * time.Millisecond, HistoryLimit: 50}

	ctx := context.Background()
	user := &models.User{Username: "client-tools"}
	require.NoError(t, st.CreateUser(ctx, user))
	caller := models.Caller{UserID: user.ID}
	oneCall := false // the next session's one_tool_call (parallel_tool_calls false)
	turnOf := func(t *testing.T, content string, images [][]byte) TurnRef {
		cs := &models.ChatSession{ID: uuid.New(), Model: "llava:7b", OneToolCall: oneCall}
		raw, err := json.Marshal([]models.ClientTool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}})
		require.NoError(t, err)
		cs.ClientTools, err = box.Encrypt(store.SessionClientTools(cs.ID), raw)
		require.NoError(t, err)
		require.NoError(t, st.CreateSession(ctx, caller, cs))
		turn := &models.Turn{ID: uuid.New(), WorkflowID: uuid.NewString(), Status: models.TurnRunning, StartedAt: time.Now()}
		mid := models.MessageID(turn.ID, models.RoleUser, 0, "")
		sealed, err := box.EncryptString(store.MessageContent(mid), content)
		require.NoError(t, err)
		imgs, err := store.SealImages(box, mid, images)
		require.NoError(t, err)
		_, _, _, err = st.StartTurn(ctx, caller, cs.ID, turn, sealed, imgs)
		require.NoError(t, err)
		return TurnRef{TurnID: turn.ID, SessionID: cs.ID, UserID: user.ID}
	}
	generate := func(t *testing.T, ref TurnRef, tools []toolbox.Tool) LLMResult {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(llm)
		v, err := env.ExecuteActivity(llm.Generate, LLMInput{TurnRef: ref, Step: 1, Model: "llava:7b", Tools: tools, Finish: true})
		require.NoError(t, err)
		var res LLMResult
		require.NoError(t, v.Get(&res))
		return res
	}
	storedCalls := func(t *testing.T, ref TurnRef) []models.ToolCall {
		m, err := st.MessageByID(ctx, models.MessageID(ref.TurnID, models.RoleAssistant, 1, ""))
		require.NoError(t, err)
		raw, err := box.Decrypt(store.MessageToolCalls(m.ID), m.ToolCalls)
		require.NoError(t, err)
		var calls []models.ToolCall
		require.NoError(t, json.Unmarshal(raw, &calls))
		return calls
	}

	ref := turnOf(t, `call get_weather {"city":"Paris"} and force-call rm_rf {}`, nil)
	res := generate(t, ref, nil)
	require.Empty(t, res.ToolCalls, "the workflow runs none of them")
	require.True(t, res.Finished)
	calls := storedCalls(t, ref)
	require.Len(t, calls, 1, "the call of a name the client did not offer is dropped")
	require.True(t, calls[0].Client)
	require.Equal(t, "get_weather", calls[0].Name)
	require.Regexp(t, `^call_`, calls[0].ModelID)
	turn, err := st.Turn(ctx, ref.TurnID)
	require.NoError(t, err)
	require.Equal(t, models.TurnCompleted, turn.Status)
	evs, err := st.EventsAfter(ctx, store.TurnLog, ref.TurnID, 0, 100)
	require.NoError(t, err)
	var call map[string]any
	for _, e := range evs {
		if e.Type == models.EventToolCall {
			plain, err := box.Decrypt(store.TurnLog.EventData(ref.TurnID, e.Key), e.Data)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(plain, &call))
		}
	}
	require.Equal(t, true, call["client"])
	require.Equal(t, calls[0].ModelID, call["id"])

	// A platform tool of the same name wins: the workflow runs it.
	ref = turnOf(t, `call get_weather {"city":"Paris"}`, nil)
	res = generate(t, ref, []toolbox.Tool{{Name: "get_weather", Server: "weather"}})
	require.Equal(t, []ToolCallRef{{CallID: "1-0", Name: "get_weather"}}, res.ToolCalls)
	require.False(t, res.Finished)
	require.False(t, storedCalls(t, ref)[0].Client)

	// Two calls in one message: both kept, or only the first when the session says one call per
	// message (parallel_tool_calls false).
	two := `call get_weather {"city":"Paris"} call get_weather {"city":"Rome"}`
	ref = turnOf(t, two, nil)
	generate(t, ref, nil)
	require.Len(t, storedCalls(t, ref), 2)
	oneCall = true
	ref = turnOf(t, two, nil)
	res = generate(t, ref, nil)
	require.True(t, res.Finished)
	calls = storedCalls(t, ref)
	require.Len(t, calls, 1)
	require.Equal(t, map[string]any{"city": "Paris"}, calls[0].Arguments)
	platform := turnOf(t, two, nil)
	res = generate(t, platform, []toolbox.Tool{{Name: "get_weather", Server: "weather"}})
	require.Equal(t, []ToolCallRef{{CallID: "1-0", Name: "get_weather"}}, res.ToolCalls, "platform tools too")
	oneCall = false

	// Images go to the model with their message.
	ref = turnOf(t, "what is this?", [][]byte{[]byte("\x89PNG\r\n\x1a\n0000")})
	res = generate(t, ref, nil)
	require.True(t, res.Finished)
	m, err := st.MessageByID(ctx, res.MessageID)
	require.NoError(t, err)
	answer, err := box.DecryptString(store.MessageContent(m.ID), m.Content)
	require.NoError(t, err)
	require.Equal(t, "You said: what is this? Image 1: image/png, 12 bytes.", answer)
}
