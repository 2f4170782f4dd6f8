package api

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	ollama "github.com/ollama/ollama/api"
)

// modelLister is what the model routes need of the Ollama client: the models, and a model's
// capabilities (whether it takes images).
type modelLister interface {
	List(ctx context.Context) (*ollama.ListResponse, error)
	Show(ctx context.Context, req *ollama.ShowRequest) (*ollama.ShowResponse, error)
}

// openAIModel is one entry of GET /v1/models, in OpenAI's shape.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// chatModels lists the models clients may name on /v1/chat/completions: Ollama's models but the
// embedding model, then the MODEL_ALIASES whose model Ollama has. ok is false when Ollama could
// not be asked (the callers then do not refuse a model they cannot check).
func (s *Server) chatModels(ctx context.Context) (list []openAIModel, ok bool) {
	if s.models == nil {
		return nil, false
	}
	resp, err := s.models.List(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "listing Ollama's models failed", "error", err)
		return nil, false
	}
	have := map[string]int64{}
	for _, m := range resp.Models {
		if sameModel(m.Name, s.cfg.EmbedModel) {
			continue
		}
		have[m.Name] = m.ModifiedAt.Unix()
		list = append(list, openAIModel{ID: m.Name, Object: "model", Created: m.ModifiedAt.Unix(), OwnedBy: "ollama"})
	}
	aliases := s.cfg.Aliases()
	for _, alias := range slices.Sorted(maps.Keys(aliases)) {
		for name, created := range have {
			if sameModel(name, aliases[alias]) {
				list = append(list, openAIModel{ID: alias, Object: "model", Created: created, OwnedBy: "youworker alias of " + name})
				break
			}
		}
	}
	return list, true
}

// sameModel compares Ollama model names as Ollama does: a name without a tag is ":latest".
func sameModel(a, b string) bool {
	tag := func(n string) string {
		if !strings.Contains(n, ":") {
			return n + ":latest"
		}
		return n
	}
	return tag(a) == tag(b)
}

// openAIError answers in OpenAI's error shape, which the OpenAI SDKs read, with OpenAI's own
// type and code (model_not_found); other errors of these routes take it through fail.
func openAIError(c *gin.Context, status int, typ, code, param, msg string) {
	var p any
	if param != "" {
		p = param
	}
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"message": msg, "type": typ, "param": p, "code": code}})
}

func (s *Server) listModels(c *gin.Context) {
	list, ok := s.chatModels(c.Request.Context())
	if !ok {
		openAIError(c, http.StatusServiceUnavailable, "server_error", "llm_unavailable", "", "the model server cannot be reached; please retry")
		return
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": list})
}

func (s *Server) getModel(c *gin.Context) {
	list, ok := s.chatModels(c.Request.Context())
	if !ok {
		openAIError(c, http.StatusServiceUnavailable, "server_error", "llm_unavailable", "", "the model server cannot be reached; please retry")
		return
	}
	id := strings.TrimPrefix(c.Param("id"), "/")
	for _, m := range list {
		if m.ID == id {
			c.JSON(http.StatusOK, m)
			return
		}
	}
	openAIError(c, http.StatusNotFound, "invalid_request_error", "model_not_found", "model", "The model '"+id+"' does not exist")
}
