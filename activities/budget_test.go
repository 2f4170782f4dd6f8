package activities

import (
	"strings"
	"testing"

	ollama "github.com/ollama/ollama/api"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/store"
)

func TestEstimatePromptCoversWhatIsSent(t *testing.T) {
	text := strings.Repeat("word ", 100) // 500 bytes, 100 words
	req := &ollama.ChatRequest{Messages: []ollama.Message{{Role: "user", Content: text}}}
	base := estimatePrompt(req)
	require.Equal(t, int64((500+16+3)/4), base)
	require.GreaterOrEqual(t, base, int64(100), "at least a token a word")

	req.Messages = append(req.Messages, ollama.Message{Role: "user", Images: []ollama.ImageData{[]byte("png")}})
	require.Equal(t, base+(16+768*4)/4, estimatePrompt(req), "an image counts 768 tokens")

	var tool ollama.Tool
	tool.Function.Name = "time_now"
	tool.Function.Description = strings.Repeat("d", 400)
	req.Tools = ollama.Tools{tool}
	require.Greater(t, estimatePrompt(req), base+(16+768*4)/4+100, "the tools' schemas are sent too")
}

func TestNumPredictReadsEveryNumberShape(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts map[string]any
		want int64
	}{
		{"unset", nil, 0},
		{"int", map[string]any{"num_predict": 7}, 7},
		{"int64", map[string]any{"num_predict": int64(8)}, 8},
		{"after a JSON round trip", map[string]any{"num_predict": 9.0}, 9},
		{"not a number", map[string]any{"num_predict": "10"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, numPredict(tt.opts)) })
	}
}

func TestBudgetCutIsTheCapNotTheModel(t *testing.T) {
	capped := &budgetCall{Reservation: store.Reservation{Budgeted: true, Tokens: 60, Capped: true}, limit: 50}
	require.True(t, capped.cut(ollama.ChatResponse{DoneReason: "length", Metrics: ollama.Metrics{EvalCount: 50}}))
	require.False(t, capped.cut(ollama.ChatResponse{DoneReason: "stop", Metrics: ollama.Metrics{EvalCount: 50}}), "the model ended on its own")
	require.False(t, capped.cut(ollama.ChatResponse{DoneReason: "length", Metrics: ollama.Metrics{EvalCount: 20}}), "the request's own num_predict ended it")
	require.False(t, (&budgetCall{Reservation: store.Reservation{Budgeted: true, Tokens: 60}}).cut(ollama.ChatResponse{DoneReason: "length", Metrics: ollama.Metrics{EvalCount: 60}}))
	var none *budgetCall
	require.False(t, none.cut(ollama.ChatResponse{DoneReason: "length"}))
}
