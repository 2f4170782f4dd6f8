package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	ollama "github.com/ollama/ollama/api"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// Error types of the LLM activity; the workflow branches on them.
const (
	ErrTypeLLMUnavailable   = spec.ErrTypeLLMUnavailable
	ErrTypeLLMModelNotFound = spec.ErrTypeLLMModelNotFound
	ErrTypeLLMBadRequest    = spec.ErrTypeLLMBadRequest
)

// LLM runs chat completions against Ollama and streams tokens into the turn's event log.
type LLM struct {
	Ollama *ollama.Client
	Store  *store.Store
	Box    *encryption.Box
	// FlushInterval batches streamed tokens into one event at most this often (the first token
	// goes out at once).
	FlushInterval time.Duration
	// HistoryLimit is the number of most recent messages sent to the model.
	HistoryLimit int
	// HeartbeatEvery is how often the activity heartbeats while it waits for the model.
	HeartbeatEvery time.Duration
	// HeartbeatAfter is when the first heartbeat goes out: a call that ends sooner costs Temporal
	// no heartbeat at all. A cancel still arrives within HeartbeatAfter plus the worker's throttle
	// interval, as it would with a heartbeat at once.
	HeartbeatAfter time.Duration
	// Turns resolves the turn's tools when step 1 loads the turn's context (LLMInput.LoadContext).
	Turns *Turns
	// TaintApproval makes the activity report whether the conversation it sends holds untrusted
	// content (LLMResult.Tainted), for the workflow's taint rule.
	TaintApproval bool
	// Metrics records tokens, first tokens and finished turns (nil: none).
	Metrics *metrics.Worker
	// BudgetOutput is the output a call under a budget reserves when the turn sets no num_predict
	// (BUDGET_RESERVE_OUTPUT_TOKENS).
	BudgetOutput int64
}

type LLMInput = spec.LLMInput

type ToolCallRef = spec.ToolCallRef

type LLMResult = spec.LLMResult

// Generate streams one assistant message from Ollama. Tokens go to the turn's event log in
// batches; the message is stored encrypted under an id derived from the turn and step, so a
// retry after the message was stored returns it without asking the model again. A cancelled
// activity keeps the partial answer, marked cancelled.
func (a *LLM) Generate(ctx context.Context, in LLMInput) (LLMResult, error) {
	msgID := models.MessageID(in.TurnID, models.RoleAssistant, in.Step, "")
	attempt := activity.GetInfo(ctx).Attempt
	log := eventLog{store: a.Store, box: a.Box}
	prefix := fmt.Sprintf("llm:%d:%d", in.Step, attempt)
	tokens := &tokenBatcher{log: log, turnID: in.TurnID, keyPrefix: prefix, step: in.Step, attempt: attempt, every: a.FlushInterval}
	// The heartbeat loop starts before anything else: listing the tools of slow servers must not
	// pass for a dead worker.
	stopBeat := a.heartbeat(ctx, tokens)
	defer stopBeat()
	setting, history, err := a.Store.Conversation(ctx, in.TurnID, a.HistoryLimit)
	if err != nil {
		return LLMResult{}, err
	}
	var loaded *LoadContextResult
	var announce []event
	if in.LoadContext {
		lc, started, err := a.Turns.contextOf(ctx, in.TurnRef, setting)
		if err != nil {
			return LLMResult{}, err
		}
		loaded, announce = &lc, []event{started}
		in.Model, in.Tools = lc.Model, lc.Tools
	}
	tainted := a.TaintApproval && tainted(history, in.Tools)
	for i := range history {
		if history[i].ID == msgID {
			// A previous attempt stored this step's answer: return it, do not ask again.
			res, err := a.resultOf(&history[i])
			res.Context, res.Tainted = loaded, tainted
			return res, err
		}
	}
	client, err := a.clientTools(in.SessionID, setting.ClientTools, in.Tools)
	if err != nil {
		return LLMResult{}, err
	}
	req, err := a.request(in, setting.SystemPrompt, history, client)
	if err != nil {
		return LLMResult{}, err
	}
	if req.Format, err = store.OpenResponseFormat(a.Box, in.SessionID, setting.ResponseFormat); err != nil {
		return LLMResult{}, temporal.NewNonRetryableApplicationError("the response format cannot be opened", "DECRYPT_FAILED", err)
	}
	var budget *budgetCall
	if setting.Budgeted {
		if budget, err = a.reserve(ctx, in, setting, req); err != nil {
			return LLMResult{}, err
		}
	}
	started := time.Now()
	// turn.started (step 1) and step.started go out with the first token, or alone if the model
	// has said nothing after one flush interval: one write instead of two on the way to the
	// first token.
	tokens.open(context.WithoutCancel(ctx), append(announce, event{key: prefix + ":start", typ: models.EventStepStarted, data: map[string]any{
		"step": in.Step, "kind": "llm", "attempt": attempt, "model": in.Model,
	}}))
	defer tokens.abandon() // an attempt that fails before close writes nothing more
	var content strings.Builder
	var calls []ollama.ToolCall
	var final ollama.ChatResponse
	// The turn's first token: the first text of a first attempt (a retry's is not the user's
	// first) when no earlier step of the turn said anything (steps that only called tools did not).
	firstToken := attempt == 1 && !spokeBefore(in.TurnID, history, req.Messages)
	streamed := 0 // chunks of text: Ollama streams one token per chunk
	chatErr := a.Ollama.Chat(ctx, req, func(r ollama.ChatResponse) error {
		content.WriteString(r.Message.Content)
		if r.Message.Content != "" {
			streamed++
		}
		calls = append(calls, r.Message.ToolCalls...)
		if r.Done {
			final = r
		}
		err := tokens.add(ctx, r.Message.Content)
		if firstToken && r.Message.Content != "" && err == nil {
			firstToken = false
			a.Metrics.FirstToken(in.StartedAt)
		}
		return err
	})
	stopBeat()

	// Whatever happened, what the user saw so far is written and the step is closed: the held
	// tokens and step.finished go out in one append.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	stepEnd := func(status string) event {
		return event{key: prefix + ":end", typ: models.EventStepFinished, data: map[string]any{
			"step": in.Step, "kind": "llm", "attempt": attempt, "status": status, "duration_ms": time.Since(started).Milliseconds(),
			"prompt_tokens": final.PromptEvalCount, "completion_tokens": final.EvalCount, "tool_calls": len(calls),
			"done_reason": final.DoneReason,
		}}
	}
	if budget != nil && (ctx.Err() != nil || chatErr != nil) {
		// A call cut short is charged what it streamed (a retry that runs the model again
		// replaces the amount).
		if err := a.Store.CommitBudget(saveCtx, in.TurnID, in.Step, int64(streamed)); err != nil {
			activity.GetLogger(ctx).Error("settling the budget of a call cut short failed", "error", err)
		}
	}
	if ctx.Err() != nil {
		// Cancelled (or timed out), whatever the client reported: keep the partial answer.
		var partial *models.Message
		if content.Len() > 0 {
			var err error
			if partial, err = a.sealMessage(in, msgID, content.String(), nil, models.MessageCancelled); err != nil {
				activity.GetLogger(ctx).Error("sealing the partial answer failed", "error", err)
			}
		}
		if err := tokens.close(saveCtx, partial, stepEnd("cancelled")); err != nil {
			activity.GetLogger(ctx).Error("storing the partial answer failed", "error", err)
		}
		return LLMResult{}, ctx.Err()
	}
	if chatErr != nil {
		_ = tokens.close(saveCtx, nil, stepEnd("failed"))
		return LLMResult{}, classifyLLMError(chatErr)
	}
	a.Metrics.Tokens(in.Model, final.PromptEvalCount, final.EvalCount)
	if budget != nil {
		// Settled before the message is stored: a worker lost in between runs the model again and
		// settles again, replacing this amount.
		if err := a.Store.CommitBudget(ctx, in.TurnID, in.Step, int64(final.PromptEvalCount+final.EvalCount)); err != nil {
			return LLMResult{}, err
		}
	}

	// A message calling a client-side function ends the turn with those calls, for the client to
	// run: only they are kept (another name in the same message is not offered to the client and
	// would have no result in its next request); the workflow gets no call to run.
	if slices.ContainsFunc(calls, func(c ollama.ToolCall) bool { return isClientTool(client, c.Function.Name) }) {
		calls = slices.DeleteFunc(calls, func(c ollama.ToolCall) bool { return !isClientTool(client, c.Function.Name) })
	}
	if setting.OneToolCall && len(calls) > 1 {
		// parallel_tool_calls false: the first call only; the model calls the next one once it
		// has this one's result.
		calls = calls[:1]
	}
	stored := make([]storedCall, 0, len(calls))
	refs := make([]ToolCallRef, 0, len(calls))
	events := []event{stepEnd("succeeded")}
	for i, c := range calls {
		sc := storedCall{ID: fmt.Sprintf("%d-%d", in.Step, i), ModelID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments.ToMap()}
		data := map[string]any{"call_id": sc.ID, "name": sc.Name, "arguments": sc.Arguments, "step": in.Step}
		if isClientTool(client, sc.Name) {
			// The client answers with this id (tool_call_id): the model's own, or one derived from
			// the turn when the model gave none.
			if sc.ModelID == "" {
				sc.ModelID = "call_" + strings.ReplaceAll(models.MessageID(in.TurnID, "client-call", in.Step, sc.ID).String(), "-", "")[:24]
			}
			sc.Client = true
			data["client"], data["id"] = true, sc.ModelID
		} else {
			refs = append(refs, ToolCallRef{CallID: sc.ID, Name: sc.Name})
		}
		stored = append(stored, sc)
		events = append(events, event{key: "tool.call:" + sc.ID, typ: models.EventToolCall, data: data})
	}
	m, err := a.sealMessage(in, msgID, content.String(), stored, models.MessageComplete)
	if err != nil {
		return LLMResult{}, err
	}
	answered := len(refs) == 0
	if answered {
		// The answer: announce it now rather than have the workflow read it back to finish.
		events = append(events, messageEvent(msgID, models.RoleAssistant, content.String(), models.MessageComplete))
	}
	res := LLMResult{MessageID: msgID, ToolCalls: refs, PromptTokens: final.PromptEvalCount,
		CompletionTokens: final.EvalCount, DoneReason: final.DoneReason, Context: loaded, MessageAnnounced: answered, Tainted: tainted}
	if answered && in.Finish {
		// The answer ends the turn: store it, finish the turn and announce both in one statement.
		// A turn that had finished already gets none of these events.
		o := models.TurnOutcome{Status: models.TurnCompleted, Steps: in.Step,
			PromptTokens: in.PromptTokens + res.PromptTokens, CompletionTokens: in.CompletionTokens + res.CompletionTokens}
		if budget.cut(final) {
			// The budget's cap, not the model, ended the answer: the turn fails, the answer stays.
			o.Status, o.ErrorCode, o.ErrorMessage = models.TurnFailed, models.CodeBudgetExceeded,
				"the token budget ran out during the answer; the partial answer is kept"
			res.ErrorCode = o.ErrorCode
		}
		res.Finished, err = tokens.closeFinishing(ctx, m, o, append(events, terminalEvent(in.TurnID, o))...)
		res.MessageAnnounced = res.Finished
		if res.Finished {
			a.Metrics.TurnFinished(o.Status, in.StartedAt)
		}
		return res, err
	}
	// The message is stored with the events that close the step, in one statement.
	return res, tokens.close(ctx, m, events...)
}

// spokeBefore reports whether an assistant message of the turn in history has text; sent is the
// request's messages, history's decrypted (after an optional system prompt).
func spokeBefore(turnID uuid.UUID, history []models.Message, sent []ollama.Message) bool {
	offset := len(sent) - len(history)
	for i, m := range history {
		if m.Role == models.RoleAssistant && m.TurnID != nil && *m.TurnID == turnID && sent[offset+i].Content != "" {
			return true
		}
	}
	return false
}

// tainted reports whether history holds a tool result whose text may come from outside the
// platform: that of any tool but those offered now whose output is trusted (toolbox.Tool.Untrusted).
// A tool no longer offered, or a result a client sent (no tool name we know), counts as untrusted.
func tainted(history []models.Message, offered []toolbox.Tool) bool {
	for _, m := range history {
		if m.Role != models.RoleTool {
			continue
		}
		i := slices.IndexFunc(offered, func(t toolbox.Tool) bool { return t.Name == m.ToolName })
		if i < 0 || offered[i].Untrusted {
			return true
		}
	}
	return false
}

// clientTools opens the session's client-side functions (chat_sessions.client_tools), leaving out
// any named like one of the session's own tools: the API refuses such a name, and the
// platform's tool wins should one get through.
func (a *LLM) clientTools(sessionID uuid.UUID, sealed []byte, offered []toolbox.Tool) ([]models.ClientTool, error) {
	tools, err := store.OpenClientTools(a.Box, sessionID, sealed)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the client's tools cannot be opened", "DECRYPT_FAILED", err)
	}
	return slices.DeleteFunc(tools, func(ct models.ClientTool) bool {
		return slices.ContainsFunc(offered, func(t toolbox.Tool) bool { return t.Name == ct.Name })
	}), nil
}

func isClientTool(client []models.ClientTool, name string) bool {
	return slices.ContainsFunc(client, func(t models.ClientTool) bool { return t.Name == name })
}

func (a *LLM) request(in LLMInput, systemPrompt []byte, history []models.Message, client []models.ClientTool) (*ollama.ChatRequest, error) {
	msgs := make([]ollama.Message, 0, len(history)+1)
	if len(systemPrompt) > 0 {
		sp, err := a.Box.DecryptString(store.SessionPrompt(in.SessionID), systemPrompt)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError("system prompt cannot be decrypted", "DECRYPT_FAILED", err)
		}
		if sp != "" {
			msgs = append(msgs, ollama.Message{Role: models.RoleSystem, Content: sp})
		}
	}
	for _, m := range history {
		om, err := a.toOllama(m)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, om)
	}
	tools := make(ollama.Tools, 0, len(in.Tools))
	for _, t := range in.Tools {
		var params ollama.ToolFunctionParameters
		if len(t.InputSchema) > 0 {
			if err := json.Unmarshal(t.InputSchema, &params); err != nil {
				return nil, fmt.Errorf("schema of tool %s: %w", t.Name, err)
			}
		}
		if params.Type == "" {
			params.Type = "object"
		}
		tools = append(tools, ollama.Tool{Type: "function", Function: ollama.ToolFunction{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	for _, t := range client {
		var params ollama.ToolFunctionParameters
		if len(t.Parameters) > 0 {
			if err := json.Unmarshal(t.Parameters, &params); err != nil {
				return nil, temporal.NewNonRetryableApplicationError("the parameters of the client's function "+t.Name+" are not a JSON Schema object", ErrTypeLLMBadRequest, err)
			}
		}
		if params.Type == "" {
			params.Type = "object"
		}
		tools = append(tools, ollama.Tool{Type: "function", Function: ollama.ToolFunction{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	stream := true
	return &ollama.ChatRequest{Model: in.Model, Messages: msgs, Tools: tools, Stream: &stream, Options: in.Options}, nil
}

func (a *LLM) toOllama(m models.Message) (ollama.Message, error) {
	content, err := a.Box.DecryptString(store.MessageContent(m.ID), m.Content)
	if err != nil {
		return ollama.Message{}, temporal.NewNonRetryableApplicationError("a message of the session cannot be decrypted", "DECRYPT_FAILED", err)
	}
	om := ollama.Message{Role: m.Role, Content: content, ToolName: m.ToolName, ToolCallID: m.ToolCallID}
	if len(m.Images) > 0 {
		images, err := store.OpenImages(a.Box, m.ID, m.Images)
		if err != nil {
			return ollama.Message{}, temporal.NewNonRetryableApplicationError("a message's images cannot be opened", "DECRYPT_FAILED", err)
		}
		for _, img := range images {
			om.Images = append(om.Images, img)
		}
	}
	if len(m.ToolCalls) > 0 {
		raw, err := a.Box.Decrypt(store.MessageToolCalls(m.ID), m.ToolCalls)
		if err != nil {
			return ollama.Message{}, temporal.NewNonRetryableApplicationError("tool calls cannot be decrypted", "DECRYPT_FAILED", err)
		}
		var calls []storedCall
		if err := json.Unmarshal(raw, &calls); err != nil {
			return ollama.Message{}, err
		}
		for i, c := range calls {
			args := ollama.NewToolCallFunctionArguments()
			for k, v := range c.Arguments {
				args.Set(k, v)
			}
			om.ToolCalls = append(om.ToolCalls, ollama.ToolCall{ID: c.ModelID, Function: ollama.ToolCallFunction{Index: i, Name: c.Name, Arguments: args}})
		}
	}
	return om, nil
}

// sealMessage builds the stored (encrypted) form of the step's assistant message.
func (a *LLM) sealMessage(in LLMInput, id uuid.UUID, content string, calls []storedCall, status string) (*models.Message, error) {
	sealed, err := a.Box.EncryptString(store.MessageContent(id), content)
	if err != nil {
		return nil, err
	}
	m := &models.Message{ID: id, SessionID: in.SessionID, TurnID: &in.TurnID, Step: in.Step, Role: models.RoleAssistant,
		Content: sealed, Status: status}
	if len(calls) > 0 {
		raw, err := json.Marshal(calls)
		if err != nil {
			return nil, err
		}
		if m.ToolCalls, err = a.Box.Encrypt(store.MessageToolCalls(id), raw); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (a *LLM) resultOf(m *models.Message) (LLMResult, error) {
	res := LLMResult{MessageID: m.ID}
	if len(m.ToolCalls) > 0 {
		raw, err := a.Box.Decrypt(store.MessageToolCalls(m.ID), m.ToolCalls)
		if err != nil {
			return res, err
		}
		var calls []storedCall
		if err := json.Unmarshal(raw, &calls); err != nil {
			return res, err
		}
		for _, c := range calls {
			if !c.Client { // the client runs those: the turn ended with them
				res.ToolCalls = append(res.ToolCalls, ToolCallRef{CallID: c.ID, Name: c.Name})
			}
		}
	}
	return res, nil
}

// heartbeat reports liveness (and learns of cancellation) while the model works, from
// HeartbeatAfter on, and flushes due token batches, until stopped (stop may be called more than once).
func (a *LLM) heartbeat(ctx context.Context, t *tokenBatcher) (stop func()) {
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	from := time.Now().Add(a.HeartbeatAfter)
	return keepAlive(ctx, every, func(now time.Time) {
		if !now.Before(from) {
			activity.RecordHeartbeat(ctx, t.progress())
		}
		t.flushIfDue(ctx)
	})
}

// classifyLLMError maps an Ollama failure onto a retryable or a permanent typed error.
func classifyLLMError(err error) error {
	var se ollama.StatusError
	if errors.As(err, &se) {
		switch {
		case se.StatusCode == http.StatusNotFound:
			return temporal.NewNonRetryableApplicationError("model not found: "+se.ErrorMessage, ErrTypeLLMModelNotFound, err)
		case se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != http.StatusTooManyRequests && se.StatusCode != http.StatusRequestTimeout:
			return temporal.NewNonRetryableApplicationError("the model rejected the request: "+se.ErrorMessage, ErrTypeLLMBadRequest, err)
		}
	}
	return temporal.NewApplicationErrorWithCause("the model is unavailable", ErrTypeLLMUnavailable, err)
}

// tokenBatcher turns the model's token stream into token events: the first at once (time to
// first token matters), then at most one per interval. The step's opening events (head) go out
// with the first token, or alone one interval after open if no token came by then.
type tokenBatcher struct {
	log       eventLog
	turnID    uuid.UUID
	keyPrefix string
	step      int
	attempt   int32
	every     time.Duration

	mu        sync.Mutex
	head      []event // opening events not written yet
	timer     *time.Timer
	pending   strings.Builder
	batches   int
	tokens    int
	lastFlush time.Time
	err       error
}

// open holds the step's opening events until the first token, at most one interval; ctx is the
// context of that deferred write.
func (t *tokenBatcher) open(ctx context.Context, head []event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.head = head
	t.timer = time.AfterFunc(t.every, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		_ = t.flushLocked(ctx)
	})
}

func (t *tokenBatcher) add(ctx context.Context, delta string) error {
	if delta == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending.WriteString(delta)
	t.tokens++
	if t.batches == 0 || time.Since(t.lastFlush) >= t.every {
		_ = t.flushLocked(ctx)
	}
	return t.err
}

func (t *tokenBatcher) flushIfDue(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.lastFlush) >= t.every {
		_ = t.flushLocked(ctx)
	}
}

// abandon drops what is still held (after close, nothing is).
func (t *tokenBatcher) abandon() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.head = nil
	t.pending.Reset()
}

// close writes what is still held (the opening events, the pending tokens) followed by the
// step's closing events, in one append, storing msg (when set) in the same statement. An earlier
// failed write fails it.
func (t *tokenBatcher) close(ctx context.Context, msg *models.Message, closing ...event) error {
	return t.closeWith(ctx, t.appending(ctx, msg), closing...)
}

// closeFinishing is close for the answer of a turn: msg is stored and the turn finished with o
// in the same statement. It reports whether this call finished the turn (false: it had finished
// already, and nothing was appended).
func (t *tokenBatcher) closeFinishing(ctx context.Context, msg *models.Message, o models.TurnOutcome, closing ...event) (finished bool, err error) {
	err = t.closeWith(ctx, func(events []event) (werr error) {
		finished, werr = t.log.finishWith(ctx, msg, o, events...)
		return werr
	}, closing...)
	return finished, err
}

// closeWith stops the deferred write of the opening events and has write append what is held
// with the closing events.
func (t *tokenBatcher) closeWith(ctx context.Context, write func([]event) error, closing ...event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	return t.writeLocked(ctx, write, closing...)
}

// flushLocked writes the held opening events and the pending tokens in one append.
func (t *tokenBatcher) flushLocked(ctx context.Context) error {
	return t.writeLocked(ctx, t.appending(ctx, nil))
}

// appending is the plain write: append the events, storing msg (when set) in the same statement.
func (t *tokenBatcher) appending(ctx context.Context, msg *models.Message) func([]event) error {
	return func(events []event) error { return t.log.emitWith(ctx, t.turnID, msg, events...) }
}

// writeLocked hands the held opening events, the pending tokens and more to write, which
// appends them in one statement, and forgets them once written. A failed write fails the
// batcher, unless ctx ended (close writes what is held with a fresh one).
func (t *tokenBatcher) writeLocked(ctx context.Context, write func([]event) error, more ...event) error {
	if t.err != nil {
		return t.err
	}
	if len(t.head) == 0 && t.pending.Len() == 0 && len(more) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	events := slices.Clip(t.head)
	if t.pending.Len() > 0 {
		events = append(events, event{key: fmt.Sprintf("%s:tok:%d", t.keyPrefix, t.batches), typ: models.EventToken,
			data: map[string]any{"delta": t.pending.String(), "step": t.step, "attempt": t.attempt}})
	}
	events = append(events, more...)
	if err := write(events); err != nil {
		if ctx.Err() == nil {
			t.err = err
		}
		return err
	}
	t.head = nil
	if t.pending.Len() > 0 {
		t.pending.Reset()
		t.batches++
		t.lastFlush = time.Now()
	}
	return nil
}

func (t *tokenBatcher) progress() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return map[string]int{"tokens": t.tokens, "batches": t.batches}
}
