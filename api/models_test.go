package api

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
)

// fakeModels stands in for Ollama's model list and capabilities: llava:7b takes images.
type fakeModels struct{ err error }

func (f fakeModels) Show(_ context.Context, req *ollama.ShowRequest) (*ollama.ShowResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	caps := []model.Capability{model.CapabilityCompletion, model.CapabilityTools}
	if req.Model == "llava:7b" {
		caps = append(caps, model.CapabilityVision)
	}
	return &ollama.ShowResponse{Capabilities: caps}, nil
}

func (f fakeModels) List(context.Context) (*ollama.ListResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return &ollama.ListResponse{Models: []ollama.ListModelResponse{
		{Name: "llama3.1:8b", ModifiedAt: at}, {Name: "nomic-embed-text:latest", ModifiedAt: at}, {Name: "hf.co/org/tiny:q4", ModifiedAt: at},
		{Name: "llava:7b", ModifiedAt: at},
	}}, nil
}

// GET /v1/models lists Ollama's chat models (not the embedding model) and the aliases whose model
// it has, in OpenAI's shape; /v1/models/:id finds one (ids may hold '/'); an unknown model on
// /v1/chat/completions is refused in OpenAI's shape before anything is stored.
func TestOpenAIModels(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) {
		c.ModelAliases = []string{"gpt-4o-mini=llama3.1:8b", "gpt-4o=missing:70b"}
	})
	e.srv.models = fakeModels{}
	cl, _ := e.signup("mona")

	r := cl.do("GET", "/v1/models", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	body := r.JSON(t)
	require.Equal(t, "list", body["object"])
	var ids []string
	for _, m := range body["data"].([]any) {
		ids = append(ids, m.(map[string]any)["id"].(string))
		require.Equal(t, "model", m.(map[string]any)["object"])
	}
	require.Equal(t, []string{"llama3.1:8b", "hf.co/org/tiny:q4", "llava:7b", "gpt-4o-mini"}, ids, "no embedding model, no alias of a missing model")

	require.Equal(t, http.StatusOK, cl.do("GET", "/v1/models/hf.co/org/tiny:q4", nil).Status)
	require.Equal(t, "gpt-4o-mini", cl.do("GET", "/v1/models/gpt-4o-mini", nil).JSON(t)["id"])
	r = cl.do("GET", "/v1/models/gpt-5", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	oe := r.JSON(t)["error"].(map[string]any)
	require.Equal(t, "model_not_found", oe["code"])
	require.Equal(t, "invalid_request_error", oe["type"])

	for _, model := range []string{"gpt-5", "gpt-4o"} {
		r = cl.do("POST", "/v1/chat/completions", map[string]any{"model": model, "messages": []map[string]any{{"role": "user", "content": "hi"}}})
		require.Equal(t, http.StatusNotFound, r.Status, "%s: %s", model, r.Body)
		require.Equal(t, "model_not_found", r.JSON(t)["error"].(map[string]any)["code"])
	}
	var sessions int
	require.NoError(t, e.store.SQL().QueryRowContext(context.Background(), `SELECT count(*) FROM chat_sessions`).Scan(&sessions))
	require.Zero(t, sessions, "nothing stored for a refused model")

	e.srv.models = fakeModels{err: errors.New("connection refused")}
	require.Equal(t, http.StatusServiceUnavailable, cl.do("GET", "/v1/models", nil).Status)
}
