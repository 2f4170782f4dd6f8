package ollama

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
)

const cancelledMessage = "stand-in: request cancelled"

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.stats.chatCalls.Add(1)
	s.stats.inFlight.Add(1)
	defer s.stats.inFlight.Add(-1)

	var req api.ChatRequest
	if !decodeBody(w, r, &req) || !s.checkModel(w, req.Model, kindChat) || !s.injectFaults(w, r, "chat") {
		return
	}
	s.sent.record(&req)

	plan := planChat(&req)
	doneReason := doneReasonStop
	if n, ok := numPredict(req.Options); ok && n > 0 && len(plan.toolCalls) == 0 && len(plan.tokens) > n {
		plan.tokens = plan.tokens[:n]
		doneReason = doneReasonLength
	}
	g := generation{
		start:   start,
		model:   req.Model,
		prompt:  promptWords(req.Messages),
		plan:    plan,
		reason:  doneReason,
		genFrom: time.Now(),
	}
	if req.Stream == nil || *req.Stream {
		s.streamChat(r.Context(), w, &g)
		return
	}
	s.answerChat(r.Context(), w, &g)
}

type generation struct {
	start, genFrom time.Time
	model          string
	prompt         int
	plan           chatPlan
	reason         string
}

func (g *generation) evalCount() int {
	if len(g.plan.toolCalls) > 0 {
		return len(g.plan.toolCalls)
	}
	return len(g.plan.tokens)
}

func (g *generation) chunk(msg api.Message) api.ChatResponse {
	msg.Role = "assistant"
	return api.ChatResponse{Model: g.model, CreatedAt: time.Now().UTC(), Message: msg}
}

// final completes resp with done, the done reason and the metrics.
func (g *generation) final(resp api.ChatResponse) api.ChatResponse {
	now := time.Now()
	resp.Done = true
	resp.DoneReason = g.reason
	resp.Metrics = api.Metrics{
		TotalDuration:      max(now.Sub(g.start), 1),
		PromptEvalCount:    g.prompt,
		PromptEvalDuration: max(g.genFrom.Sub(g.start), 1),
		EvalCount:          g.evalCount(),
		EvalDuration:       max(now.Sub(g.genFrom), 1),
	}
	return resp
}

// streamChat writes the reply as NDJSON chunks, one per token.
func (s *Server) streamChat(ctx context.Context, w http.ResponseWriter, g *generation) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(v any) bool {
		if err := enc.Encode(v); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	cancelled := func() {
		s.log.InfoContext(ctx, "ollama stand-in chat stream cancelled", "model", g.model)
		send(errorBody{Error: cancelledMessage})
	}

	if len(g.plan.toolCalls) > 0 {
		if !s.waitToken(ctx) {
			cancelled()
			return
		}
		if !send(g.chunk(api.Message{ToolCalls: g.plan.toolCalls})) {
			return
		}
	}
	for _, tok := range g.plan.tokens {
		if !s.waitToken(ctx) {
			cancelled()
			return
		}
		if !send(g.chunk(api.Message{Content: tok})) {
			return
		}
		s.stats.tokens.Add(1)
	}
	send(g.final(g.chunk(api.Message{})))
}

// answerChat writes the reply as one response.
func (s *Server) answerChat(ctx context.Context, w http.ResponseWriter, g *generation) {
	waits := len(g.plan.tokens)
	if len(g.plan.toolCalls) > 0 {
		waits = 1
	}
	for range waits {
		if !s.waitToken(ctx) {
			writeError(w, http.StatusServiceUnavailable, cancelledMessage)
			return
		}
	}
	msg := api.Message{Content: strings.Join(g.plan.tokens, ""), ToolCalls: g.plan.toolCalls}
	writeJSON(w, http.StatusOK, g.final(g.chunk(msg)))
}

// numPredict reads options.num_predict (a JSON number, hence float64).
func numPredict(opts map[string]any) (int, bool) {
	v, ok := opts["num_predict"].(float64)
	return int(v), ok
}
