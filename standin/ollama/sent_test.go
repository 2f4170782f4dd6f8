package ollama_test

import (
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/standin/ollama"
)

// LastChatMessages is what the latest chat request sent, whole and in order; a request refused
// before it is answered (unknown model) does not replace it.
func TestLastChatMessagesIsTheLatestRequest(t *testing.T) {
	t.Parallel()
	s := startStandin(t, ollama.Options{StrictModels: true, ChatModels: []string{"llama3.1:8b"}})
	require.Nil(t, s.srv.LastChatMessages())
	first := []api.Message{{Role: "user", Content: "one"}, {Role: "assistant", Content: "You said: one"}, {Role: "user", Content: "two"}}
	runChat(t, s.client, api.ChatRequest{Messages: first}, true)
	require.Equal(t, first, s.srv.LastChatMessages())
	require.Nil(t, s.srv.LastChatOptions())
	second := []api.Message{{Role: "user", Content: "three"}}
	runChat(t, s.client, api.ChatRequest{Messages: second, Options: map[string]any{"temperature": 0.5, "num_predict": 3}}, false)
	require.Equal(t, second, s.srv.LastChatMessages())
	require.Equal(t, map[string]any{"temperature": 0.5, "num_predict": 3.0}, s.srv.LastChatOptions())

	status, _, _ := s.do(t, "POST", "/api/chat", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, 404, status)
	require.Equal(t, second, s.srv.LastChatMessages())
	require.Equal(t, map[string]any{"temperature": 0.5, "num_predict": 3.0}, s.srv.LastChatOptions())
}
