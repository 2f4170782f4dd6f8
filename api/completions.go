package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

type completionMessage struct {
	Role    string `json:"role" binding:"required,oneof=system user assistant"`
	Content string `json:"content"`
}

type completionRequest struct {
	Model    string              `json:"model" binding:"max=100"`
	Messages []completionMessage `json:"messages" binding:"required,min=1,max=500,dive"`
	Stream   bool                `json:"stream"`
	// User is accepted for compatibility and ignored; the sampling options go to the model.
	User                string          `json:"user"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int            `json:"seed"`
	// StreamOptions.IncludeUsage adds, before [DONE], a chunk with no choices and the usage.
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// chatCompletions is an OpenAI-compatible chat completion run as a durable turn: the request's
// history becomes a new session (system messages its system prompt), its last user message the
// turn. With stream it answers chat.completion.chunk events and [DONE]; otherwise it waits for the
// turn and answers one chat.completion.
func (s *Server) chatCompletions(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	var req completionRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != models.RoleUser || strings.TrimSpace(last.Content) == "" {
		s.fail(c, models.Invalid("messages", "the last message must be a non-empty user message"))
		return
	}
	// Every message is held to MAX_MESSAGE_CHARS, as on /v1/sessions/:id/messages, before
	// anything is stored.
	for i, m := range req.Messages {
		if err := s.chat.ValidateLength(fmt.Sprintf("messages[%d].content", i), m.Content); err != nil {
			s.fail(c, err)
			return
		}
	}
	options, err := samplingOptions(req)
	if err != nil {
		s.fail(c, err)
		return
	}
	requested := req.Model
	if m, ok := s.cfg.Aliases()[requested]; ok {
		requested = m
	}
	// A model Ollama does not have is refused before anything is stored, in OpenAI's shape (a
	// client default such as gpt-4o-mini would otherwise fail inside the turn).
	if list, ok := s.chatModels(ctx); ok && requested != "" && !slices.ContainsFunc(list, func(m openAIModel) bool { return sameModel(m.ID, requested) }) {
		openAIError(c, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
			"The model '"+req.Model+"' does not exist (GET /v1/models lists the models; MODEL_ALIASES maps other names to them)")
		return
	}
	model, err := s.chatModel(requested)
	if err != nil {
		s.fail(c, err)
		return
	}
	var system []string
	var history []models.Message
	for _, m := range req.Messages[:len(req.Messages)-1] {
		if m.Role == models.RoleSystem {
			system = append(system, m.Content)
			continue
		}
		id := uuid.New()
		sealed, err := s.box.EncryptString(store.MessageContent(id), m.Content)
		if err != nil {
			s.fail(c, err)
			return
		}
		history = append(history, models.Message{ID: id, Role: m.Role, Content: sealed})
	}
	cs := &models.ChatSession{ID: uuid.New(), Title: "chat completion", Model: model, Tools: []string{}}
	if len(system) > 0 {
		sealed, err := s.box.EncryptString(store.SessionPrompt(cs.ID), strings.Join(system, "\n\n"))
		if err != nil {
			s.fail(c, err)
			return
		}
		cs.SystemPrompt = sealed
	}
	if err := s.store.CreateSession(ctx, caller, cs); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.ImportMessages(ctx, cs.ID, history); err != nil {
		s.fail(c, err)
		return
	}
	t, _, err := s.chat.Post(ctx, caller, chat.Message{SessionID: cs.ID, Content: last.Content, Options: options})
	if err != nil {
		s.fail(c, err)
		return
	}
	id := "chatcmpl-" + t.ID.String()
	if req.Stream {
		s.streamCompletion(c, t, id, model, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	final, err := s.awaitTurn(ctx, t.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if final.Type != models.EventTurnCompleted {
		s.fail(c, turnError(final))
		return
	}
	done, err := s.store.Turn(ctx, t.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"id": id, "object": "chat.completion", "created": t.StartedAt.Unix(), "model": model,
		"choices":    []gin.H{{"index": 0, "message": gin.H{"role": "assistant", "content": final.content}, "finish_reason": "stop"}},
		"usage":      usageOf(done),
		"session_id": cs.ID, "turn_id": t.ID,
	})
}

// turnOutcome is a turn's terminal event with the final message's content.
type turnOutcome struct {
	Type    string
	content string
	data    map[string]any
}

// awaitTurn follows a turn's event log until its terminal event.
func (s *Server) awaitTurn(ctx context.Context, turnID uuid.UUID) (turnOutcome, error) {
	var out turnOutcome
	s.follow(ctx, store.TurnLog, turnID, 0, func(ev models.Event, raw []byte) bool {
		if ev.Type != models.EventMessage && !turnTerminal(ev.Type) {
			return false
		}
		var data map[string]any
		if json.Unmarshal(raw, &data) != nil {
			return false
		}
		if ev.Type == models.EventMessage {
			out.content, _ = data["content"].(string)
			return false
		}
		out.Type, out.data = ev.Type, data
		return true
	}, nil)
	if out.Type == "" {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		return out, models.Errorf(models.ErrUnavailable, "SHUTTING_DOWN", "the server is shutting down; please retry")
	}
	return out, nil
}

func turnError(o turnOutcome) error {
	if o.Type == models.EventTurnCancelled {
		return models.Errorf(models.ErrConflict, "TURN_CANCELLED", "the turn was cancelled")
	}
	code, msg := "TURN_FAILED", "the turn failed"
	if e, ok := o.data["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
		msg, _ = e["message"].(string)
	}
	if code == "LLM_UNAVAILABLE" {
		return models.Errorf(models.ErrUnavailable, code, "%s", msg)
	}
	return models.Errorf(models.ErrUnprocessable, code, "%s", msg)
}

// samplingOptions maps the request's OpenAI sampling parameters onto Ollama's options
// (temperature, top_p, num_predict, stop, seed), checking their ranges.
func samplingOptions(req completionRequest) (map[string]any, error) {
	o := map[string]any{}
	if t := req.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return nil, models.Invalid("temperature", "temperature must be between 0 and 2")
		}
		o["temperature"] = *t
	}
	if p := req.TopP; p != nil {
		if *p < 0 || *p > 1 {
			return nil, models.Invalid("top_p", "top_p must be between 0 and 1")
		}
		o["top_p"] = *p
	}
	for field, n := range map[string]*int{"max_tokens": req.MaxTokens, "max_completion_tokens": req.MaxCompletionTokens} {
		if n != nil {
			if *n < 1 {
				return nil, models.Invalid(field, "%s must be at least 1", field)
			}
			o["num_predict"] = *n
		}
	}
	if len(req.Stop) > 0 && string(req.Stop) != "null" {
		var one string
		var many []string
		switch {
		case json.Unmarshal(req.Stop, &one) == nil:
			many = []string{one}
		case json.Unmarshal(req.Stop, &many) == nil:
		default:
			return nil, models.Invalid("stop", "stop must be a string or an array of strings")
		}
		if len(many) > 4 {
			return nil, models.Invalid("stop", "at most 4 stop sequences")
		}
		o["stop"] = many
	}
	if req.Seed != nil {
		o["seed"] = *req.Seed
	}
	if len(o) == 0 {
		return nil, nil
	}
	return o, nil
}

// usageChunk writes the chunk stream_options.include_usage asks for: no choices, the turn's usage.
func (s *Server) usageChunk(ctx context.Context, w io.Writer, t *models.Turn, id, model string) {
	done, err := s.store.Turn(ctx, t.ID)
	if err != nil {
		s.log.WarnContext(ctx, "reading a finished turn's usage failed", "turn_id", t.ID, "error", err)
		return
	}
	writeChunk(w, gin.H{"id": id, "object": "chat.completion.chunk", "created": t.StartedAt.Unix(), "model": model,
		"choices": []gin.H{}, "usage": usageOf(done)})
}

// usageOf is a finished turn's token usage in OpenAI's shape.
func usageOf(t *models.Turn) gin.H {
	return gin.H{"prompt_tokens": t.PromptTokens, "completion_tokens": t.CompletionTokens, "total_tokens": t.PromptTokens + t.CompletionTokens}
}

// writeChunk writes one server-sent event of a streamed completion.
func writeChunk(w io.Writer, chunk gin.H) {
	b, _ := json.Marshal(chunk)
	fmt.Fprintf(w, "data: %s\n\n", b)
}

// streamCompletion relays a turn as OpenAI chat.completion.chunk events. A model call retried
// after it had started streaming restarts its text (the native event stream marks the attempt;
// this format cannot, so the retry's text follows a blank line).
func (s *Server) streamCompletion(c *gin.Context, t *models.Turn, id, model string, includeUsage bool) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	w := c.Writer
	chunk := func(delta gin.H, finish any) {
		writeChunk(w, gin.H{"id": id, "object": "chat.completion.chunk", "created": t.StartedAt.Unix(), "model": model,
			"choices": []gin.H{{"index": 0, "delta": delta, "finish_reason": finish}}})
	}
	chunk(gin.H{"role": "assistant"}, nil)
	w.Flush()
	streamed := false
	s.follow(c.Request.Context(), store.TurnLog, t.ID, 0, func(ev models.Event, raw []byte) bool {
		var data map[string]any
		_ = json.Unmarshal(raw, &data)
		switch {
		case ev.Type == models.EventStepStarted && streamed && data["kind"] == "llm":
			chunk(gin.H{"content": "\n\n"}, nil)
		case ev.Type == models.EventToken:
			if d, _ := data["delta"].(string); d != "" {
				chunk(gin.H{"content": d}, nil)
				streamed = true
			}
		case turnTerminal(ev.Type):
			finish := "stop"
			if ev.Type != models.EventTurnCompleted {
				finish = "error"
			}
			chunk(gin.H{}, finish)
			if includeUsage {
				s.usageChunk(c.Request.Context(), w, t, id, model)
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			w.Flush()
			return true
		}
		return false
	}, w.Flush)
}
