package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	ollama "github.com/ollama/ollama/api"
	ollamamodel "github.com/ollama/ollama/types/model"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

type completionRequest struct {
	Model    string              `json:"model" binding:"max=100"`
	Messages []completionMessage `json:"messages" binding:"required,min=1,max=500,dive"`
	Stream   bool                `json:"stream"`
	// User is the client's own id of its end user: kept with the completion's session
	// (end_user), for the operator to trace a completion to it; the model never sees it.
	User string `json:"user" binding:"max=256"`
	// Tools are client-side functions: the model may call them, the client runs them.
	Tools      []completionTool `json:"tools"`
	ToolChoice json.RawMessage  `json:"tool_choice"`
	// The sampling options go to the model.
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int            `json:"seed"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	// ResponseFormat is the shape every answer takes: text, a JSON object or a JSON Schema
	// (responseFormat).
	ResponseFormat json.RawMessage `json:"response_format"`
	// StreamOptions.IncludeUsage adds, before [DONE], a chunk with no choices and the usage.
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// Parameters clients send with their defaults (the OpenAI SDKs, LangChain, chat UIs): their
	// default values are what a turn does anyway and are accepted; other values are refused by
	// name (requestParams), never ignored.
	N *int `json:"n"`
	// ParallelToolCalls false keeps one tool call of each model message (the session's
	// one_tool_call); true, the default, keeps them all.
	ParallelToolCalls *bool              `json:"parallel_tool_calls"`
	Logprobs          *bool              `json:"logprobs"`
	LogitBias         map[string]float64 `json:"logit_bias"`
	// Store is accepted either way: every turn is stored (the session is the user's history).
	Store *bool `json:"store"`
}

// requestParams checks the parameters a turn can only honour at their default value (see
// completionRequest): one choice (n), no log probabilities, no logit bias.
func requestParams(req completionRequest) error {
	if req.N != nil && *req.N != 1 {
		return models.Invalid("n", "n must be 1: a turn makes one answer")
	}
	if req.Logprobs != nil && *req.Logprobs {
		return models.Invalid("logprobs", "logprobs are not returned")
	}
	if len(req.LogitBias) > 0 {
		return models.Invalid("logit_bias", "logit_bias is not supported by the model server")
	}
	return nil
}

// chatCompletions is an OpenAI-compatible chat completion run as a durable turn: the request's
// history becomes a new session (system messages its system prompt, its tools the session's
// client-side functions), its last user message the turn (or, when it ends with the results of
// tool calls, a turn that answers them). With stream it answers chat.completion.chunk events and
// [DONE]; otherwise it waits for the turn and answers one chat.completion. A turn whose model
// calls a client-side function ends with finish_reason "tool_calls" and the calls.
func (s *Server) chatCompletions(c *gin.Context) {
	begun := time.Now()
	ctx := c.Request.Context()
	caller := callerOf(c)
	var req completionRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	// Every message is held to MAX_MESSAGE_CHARS, as on /v1/sessions/:id/messages, before
	// anything is stored; audio parts are transcribed into text first (api/audio.go).
	images := imageLimits{MaxBytes: s.cfg.ImageMaxBytes, MaxCount: s.cfg.ImageMaxCount}
	if err := s.transcribeCompletionAudio(c, req.Messages, func(msgs []completionMessage) error {
		_, err := parseConversation(msgs, images, s.chat.ValidateLength)
		return err
	}); err != nil {
		s.fail(c, err)
		return
	}
	conv, err := parseConversation(req.Messages, images, s.chat.ValidateLength)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := requestParams(req); err != nil {
		s.fail(c, err)
		return
	}
	options, err := samplingOptions(req)
	if err != nil {
		s.fail(c, err)
		return
	}
	format, err := responseFormat(req.ResponseFormat, len(req.Tools) > 0, s.toolLimits)
	if err != nil {
		s.fail(c, err)
		return
	}
	var clientTools []models.ClientTool
	if len(req.Tools) > 0 || len(req.ToolChoice) > 0 {
		taken, err := s.platformTools(ctx, caller)
		if err != nil {
			s.fail(c, err)
			return
		}
		if clientTools, err = parseTools(req.Tools, req.ToolChoice, s.toolLimits, taken); err != nil {
			s.fail(c, err)
			return
		}
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
	if conv.firstImage != "" {
		if err := s.checkVision(ctx, model, conv.firstImage); err != nil {
			s.fail(c, err)
			return
		}
	}
	cs, err := s.chat.OpenCompletion(ctx, caller, chat.Completion{Model: model, System: conv.System, ClientTools: clientTools, ResponseFormat: format,
		OneToolCall: req.ParallelToolCalls != nil && !*req.ParallelToolCalls,
		EndUser:     req.User, History: conv.History})
	if err != nil {
		s.fail(c, err)
		return
	}
	// Both answers (streamed or not) follow the turn's events: subscribe before it starts.
	early := &earlySubscription{hub: s.events}
	defer early.close()
	t, _, err := s.chat.Post(ctx, caller, chat.Message{SessionID: cs.ID, Content: conv.Last.Content, Images: conv.Last.Images,
		Continue: conv.Continue, Options: options, BeforeStart: early.beforeStart})
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.turnStart.WithLabelValues("completions").Observe(time.Since(begun).Seconds())
	id := "chatcmpl-" + t.ID.String()
	if req.Stream {
		s.streamCompletion(c, t, early.made(), id, model, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	final, err := s.awaitTurn(ctx, t.ID, early.made())
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
	msg, finish := gin.H{"role": "assistant", "content": final.content}, finishReason(len(final.calls), final.doneReason)
	if len(final.calls) > 0 {
		msg["tool_calls"] = final.calls
		if final.content == "" {
			msg["content"] = nil
		}
	}
	c.JSON(http.StatusOK, gin.H{
		"id": id, "object": "chat.completion", "created": t.StartedAt.Unix(), "model": model,
		"choices":    []gin.H{{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":      usageOf(done),
		"session_id": cs.ID, "turn_id": t.ID,
	})
}

// platformTools reports whether a name is one of the platform's tools the caller could be
// offered: the built-in servers' and those of the registered servers they may use.
func (s *Server) platformTools(ctx context.Context, caller models.Caller) (func(string) bool, error) {
	names := map[string]bool{}
	if s.tools != nil {
		builtin, _ := s.tools.Tools(ctx)
		for _, t := range builtin {
			names[t.Name] = true
		}
	}
	servers, err := s.store.MCPServers(ctx, caller)
	if err != nil {
		return nil, err
	}
	for i := range servers {
		srv := toMCPServerJSON(caller, &servers[i])
		for _, t := range srv.Tools {
			names[srv.Name+toolbox.Separator+t.Name] = true
		}
	}
	return func(name string) bool { return names[name] }, nil
}

// checkVision refuses images for a model Ollama does not list the vision capability for (field
// names the first image). When Ollama cannot be asked, the images go to the model unchecked.
func (s *Server) checkVision(ctx context.Context, model, field string) error {
	if s.models == nil {
		return nil
	}
	info, err := s.models.Show(ctx, &ollama.ShowRequest{Model: model})
	if err != nil {
		s.log.WarnContext(ctx, "asking Ollama for a model's capabilities failed", "model", model, "error", err)
		return nil
	}
	if !slices.Contains(info.Capabilities, ollamamodel.CapabilityVision) {
		return models.Invalid(field, "the model %s takes no images (Ollama lists no vision capability for it)", model)
	}
	return nil
}

// openAIToolCall is a client-side function call in OpenAI's shape: in a response, and as the
// client sends it back in an assistant message of its next request. Index is set in streamed
// deltas only (clients that assemble a message from the deltas may send it back).
type openAIToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// clientCall reads a tool.call event of a client-side function (ok false for the platform's own
// tools, which the turn runs itself).
func clientCall(data map[string]any) (openAIToolCall, bool) {
	if client, _ := data["client"].(bool); !client {
		return openAIToolCall{}, false
	}
	tc := openAIToolCall{Type: "function"}
	tc.ID, _ = data["id"].(string)
	tc.Function.Name, _ = data["name"].(string)
	args := data["arguments"]
	if args == nil {
		args = map[string]any{}
	}
	b, _ := json.Marshal(args)
	tc.Function.Arguments = string(b)
	return tc, true
}

// turnOutcome is a turn's terminal event with the final message's content and the calls of
// client-side functions it ended with.
type turnOutcome struct {
	Type    string
	content string
	calls   []openAIToolCall
	data    map[string]any
	// doneReason is why the model stopped in the turn's last model call (Ollama's done_reason:
	// "stop", "length", …).
	doneReason string
}

// finishReason is OpenAI's finish_reason of a completed turn that called calls client functions
// and whose last model call stopped for doneReason.
func finishReason(calls int, doneReason string) string {
	switch {
	case calls > 0:
		return "tool_calls"
	case doneReason == "length":
		return "length"
	}
	return "stop"
}

// llmDoneReason is the done_reason of a step.finished event of a model call ("" for others).
func llmDoneReason(ev models.Event, data map[string]any) string {
	if ev.Type != models.EventStepFinished || data["kind"] != "llm" {
		return ""
	}
	r, _ := data["done_reason"].(string)
	return r
}

// awaitTurn follows a turn's event log until its terminal event (early: see follow).
func (s *Server) awaitTurn(ctx context.Context, turnID uuid.UUID, early *subscription) (turnOutcome, error) {
	var out turnOutcome
	s.follow(ctx, store.TurnLog, turnID, 0, early, func(ev models.Event, raw []byte) bool {
		if ev.Type != models.EventMessage && ev.Type != models.EventToolCall && ev.Type != models.EventStepFinished && !turnTerminal(ev.Type) {
			return false
		}
		var data map[string]any
		if json.Unmarshal(raw, &data) != nil {
			return false
		}
		if ev.Type == models.EventStepFinished {
			if r := llmDoneReason(ev, data); r != "" {
				out.doneReason = r
			}
			return false
		}
		if ev.Type == models.EventToolCall {
			if tc, ok := clientCall(data); ok {
				out.calls = append(out.calls, tc)
			}
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
	switch code {
	case "LLM_UNAVAILABLE":
		return models.Errorf(models.ErrUnavailable, code, "%s", msg)
	case models.CodeBudgetExceeded: // the budget ran out during the turn: 429, as at the post
		return models.Errorf(models.ErrRateLimited, code, "%s", msg)
	}
	return models.Errorf(models.ErrUnprocessable, code, "%s", msg)
}

// samplingOptions maps the request's OpenAI sampling parameters onto Ollama's options
// (temperature, top_p, num_predict, stop, seed, presence_penalty, frequency_penalty), checking
// their ranges.
func samplingOptions(req completionRequest) (map[string]any, error) {
	o := map[string]any{}
	for _, p := range []struct {
		field string
		value *float64
	}{{"presence_penalty", req.PresencePenalty}, {"frequency_penalty", req.FrequencyPenalty}} {
		if p.value != nil {
			if *p.value < -2 || *p.value > 2 {
				return nil, models.Invalid(p.field, "%s must be between -2 and 2", p.field)
			}
			o[p.field] = *p.value
		}
	}
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
func (s *Server) streamCompletion(c *gin.Context, t *models.Turn, early *subscription, id, model string, includeUsage bool) {
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
	s.metrics.sseClients.Inc()
	defer s.metrics.sseClients.Dec()
	streamed, calls, doneReason := false, 0, ""
	s.follow(c.Request.Context(), store.TurnLog, t.ID, 0, early, func(ev models.Event, raw []byte) bool {
		s.metrics.sseEvents.Inc() // an event read, whether or not this format has a chunk for it
		var data map[string]any
		_ = json.Unmarshal(raw, &data)
		switch {
		case ev.Type == models.EventStepStarted && streamed && data["kind"] == "llm":
			chunk(gin.H{"content": "\n\n"}, nil)
		case ev.Type == models.EventStepFinished:
			if r := llmDoneReason(ev, data); r != "" {
				doneReason = r
			}
		case ev.Type == models.EventToken:
			if d, _ := data["delta"].(string); d != "" {
				chunk(gin.H{"content": d}, nil)
				streamed = true
			}
		case ev.Type == models.EventToolCall:
			if tc, ok := clientCall(data); ok {
				i := calls
				tc.Index = &i
				chunk(gin.H{"tool_calls": []openAIToolCall{tc}}, nil)
				calls++
			}
		case turnTerminal(ev.Type) && ev.Type != models.EventTurnCompleted:
			// OpenAI's SDKs raise an error event of a stream as an error: the turn's, in the
			// shape of the route's other errors.
			status, detail := s.describe(c.Request.Context(), turnError(turnOutcome{Type: ev.Type, data: data}), c.FullPath())
			writeChunk(w, openAIBody(status, detail))
			w.Flush()
			return true
		case turnTerminal(ev.Type):
			chunk(gin.H{}, finishReason(calls, doneReason))
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
