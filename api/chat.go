package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/workflows"
)

var (
	toolNamePattern  = regexp.MustCompile(`^(\*|[A-Za-z0-9_.-]{1,64})$`)
	modelNamePattern = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,100}$`)
)

type sessionJSON struct {
	ID           uuid.UUID  `json:"id"`
	Title        string     `json:"title"`
	Model        string     `json:"model"`
	GroupID      *uuid.UUID `json:"group_id"`
	SystemPrompt string     `json:"system_prompt"`
	Tools        []string   `json:"tools"`
	// EndUser is the `user` of the OpenAI-compatible request that made the session.
	EndUser    string     `json:"end_user,omitempty"`
	IsOwner    bool       `json:"is_owner"`
	LastTurnAt *time.Time `json:"last_turn_at"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

func (s *Server) toSessionJSON(c models.Caller, cs *models.ChatSession) (sessionJSON, error) {
	out := sessionJSON{ID: cs.ID, Title: cs.Title, Model: cs.Model, GroupID: cs.GroupID, Tools: []string(cs.Tools), EndUser: cs.EndUser,
		IsOwner: cs.OwnerID == c.UserID, LastTurnAt: cs.LastTurnAt, CreatedAt: cs.CreatedAt, UpdatedAt: cs.UpdatedAt}
	if out.Tools == nil {
		out.Tools = []string{}
	}
	if len(cs.SystemPrompt) > 0 {
		sp, err := s.box.DecryptString(store.SessionPrompt(cs.ID), cs.SystemPrompt)
		if err != nil {
			return out, err
		}
		out.SystemPrompt = sp
	}
	return out, nil
}

type createSessionRequest struct {
	Title        string     `json:"title" binding:"max=200"`
	Model        string     `json:"model" binding:"max=100"`
	GroupID      *uuid.UUID `json:"group_id"`
	SystemPrompt string     `json:"system_prompt" binding:"max=20000"`
	Tools        *[]string  `json:"tools" binding:"omitempty,max=64"`
}

func validTools(tools []string) error {
	for _, t := range tools {
		if !toolNamePattern.MatchString(t) {
			return models.Invalid("tools", "tools must be tool names (letters, digits, '_', '.', '-') or \"*\" for all tools")
		}
	}
	return nil
}

// chatModel is the model a request asked for, CHAT_MODEL when it named none.
func (s *Server) chatModel(requested string) (string, error) {
	if requested == "" {
		return s.cfg.ChatModel, nil
	}
	if !modelNamePattern.MatchString(requested) {
		return "", models.Invalid("model", "model must be an Ollama model name like llama3.1:8b")
	}
	return requested, nil
}

func (s *Server) createSession(c *gin.Context) {
	caller := callerOf(c)
	var req createSessionRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	model, err := s.chatModel(req.Model)
	if err != nil {
		s.fail(c, err)
		return
	}
	tools := []string{"*"} // every tool the caller may use, unless the session says otherwise
	if req.Tools != nil {
		tools = *req.Tools
	}
	if err := validTools(tools); err != nil {
		s.fail(c, err)
		return
	}
	cs := &models.ChatSession{ID: uuid.New(), Title: strings.TrimSpace(req.Title), Model: model, GroupID: req.GroupID, Tools: tools}
	if req.SystemPrompt != "" {
		sealed, err := s.box.EncryptString(store.SessionPrompt(cs.ID), req.SystemPrompt)
		if err != nil {
			s.fail(c, err)
			return
		}
		cs.SystemPrompt = sealed
	}
	if err := s.store.CreateSession(c.Request.Context(), caller, cs); err != nil {
		s.fail(c, err)
		return
	}
	s.respondSession(c, http.StatusCreated, caller, cs)
}

func (s *Server) respondSession(c *gin.Context, status int, caller models.Caller, cs *models.ChatSession) {
	out, err := s.toSessionJSON(caller, cs)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(status, out)
}

func (s *Server) listSessions(c *gin.Context) {
	caller := callerOf(c)
	page, err := pageOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	rows, err := s.store.Sessions(c.Request.Context(), caller, page)
	if err != nil {
		s.fail(c, err)
		return
	}
	rows, next := store.Trim(rows, page.Limit, func(cs models.ChatSession) store.Cursor { return store.Cursor{T: cs.UpdatedAt, ID: cs.ID} })
	out := make([]sessionJSON, 0, len(rows))
	for i := range rows {
		j, err := s.toSessionJSON(caller, &rows[i])
		if err != nil {
			s.fail(c, err)
			return
		}
		out = append(out, j)
	}
	c.JSON(http.StatusOK, newList(out, next))
}

type messageJSON struct {
	ID         uuid.UUID      `json:"id"`
	TurnID     *uuid.UUID     `json:"turn_id"`
	ParentID   *uuid.UUID     `json:"parent_id"`
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	Status     string         `json:"status"`
	Step       int            `json:"step"`
	ToolCalls  []toolCallJSON `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
	ToolName   string         `json:"tool_name,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
}

type toolCallJSON struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

func (s *Server) toMessageJSON(m *models.Message) (messageJSON, error) {
	out := messageJSON{ID: m.ID, TurnID: m.TurnID, ParentID: m.ParentID, Role: m.Role, Status: m.Status, Step: m.Step,
		ToolCallID: m.ToolCallID, ToolName: m.ToolName, CreatedAt: m.CreatedAt}
	content, err := s.box.DecryptString(store.MessageContent(m.ID), m.Content)
	if err != nil {
		return out, err
	}
	out.Content = content
	if len(m.ToolCalls) > 0 {
		raw, err := s.box.Decrypt(store.MessageToolCalls(m.ID), m.ToolCalls)
		if err != nil {
			return out, err
		}
		if err := json.Unmarshal(raw, &out.ToolCalls); err != nil {
			return out, err
		}
	}
	return out, nil
}

type turnJSON struct {
	ID           uuid.UUID           `json:"id"`
	SessionID    uuid.UUID           `json:"session_id"`
	WorkflowID   string              `json:"workflow_id"`
	Status       string              `json:"status"`
	Model        string              `json:"model"`
	Steps        int                 `json:"steps"`
	Usage        usageJSON           `json:"usage"`
	Error        *errorJSON          `json:"error"`
	StartedAt    time.Time           `json:"started_at"`
	FinishedAt   *time.Time          `json:"finished_at"`
	EventsURL    string              `json:"events_url"`
	Progress     *workflows.Progress `json:"progress,omitempty"`
	FinalMessage *messageJSON        `json:"final_message,omitempty"`
	ToolRuns     []toolRunJSON       `json:"tool_runs,omitempty"`
}

type usageJSON struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func eventsURL(t *models.Turn) string {
	return "/v1/sessions/" + t.SessionID.String() + "/turns/" + t.ID.String() + "/events"
}

func toTurnJSON(t *models.Turn) turnJSON {
	out := turnJSON{ID: t.ID, SessionID: t.SessionID, WorkflowID: t.WorkflowID, Status: t.Status, Model: t.Model,
		Steps: t.Steps, Usage: usageJSON{t.PromptTokens, t.CompletionTokens}, StartedAt: t.StartedAt,
		FinishedAt: t.FinishedAt, EventsURL: eventsURL(t)}
	if t.ErrorCode != "" {
		out.Error = &errorJSON{Code: t.ErrorCode, Message: t.ErrorMessage}
	}
	return out
}

// sessionHistoryLimit bounds the messages returned with a session.
const sessionHistoryLimit = 500

func (s *Server) getSession(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	id, err := pathID(c, "id", "SESSION", "session")
	if err != nil {
		s.fail(c, err)
		return
	}
	cs, err := s.store.Session(ctx, caller, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.toSessionJSON(caller, cs)
	if err != nil {
		s.fail(c, err)
		return
	}
	msgs, err := s.store.Messages(ctx, cs.ID, sessionHistoryLimit+1, false)
	if err != nil {
		s.fail(c, err)
		return
	}
	truncated := len(msgs) > sessionHistoryLimit
	if truncated {
		msgs = msgs[1:]
	}
	mj := make([]messageJSON, 0, len(msgs))
	for i := range msgs {
		m, err := s.toMessageJSON(&msgs[i])
		if err != nil {
			s.fail(c, err)
			return
		}
		mj = append(mj, m)
	}
	turns, err := s.store.SessionTurns(ctx, cs.ID, 100)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The latest turns, oldest first like the messages.
	tj := make([]turnJSON, 0, len(turns))
	for i := len(turns) - 1; i >= 0; i-- {
		tj = append(tj, toTurnJSON(&turns[i]))
	}
	path, err := s.store.ActiveBranch(ctx, cs.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	b := activeBranchJSON(path)
	c.JSON(http.StatusOK, gin.H{"session": out, "messages": mj, "messages_truncated": truncated, "turns": tj,
		"active_message_id": b.ActiveMessageID, "active_branch": b.ActiveBranch})
}

type updateSessionRequest struct {
	Title        *string   `json:"title" binding:"omitempty,max=200"`
	SystemPrompt *string   `json:"system_prompt" binding:"omitempty,max=20000"`
	Tools        *[]string `json:"tools" binding:"omitempty,max=64"`
}

func (s *Server) updateSession(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "SESSION", "session")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req updateSessionRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	u := store.SessionUpdate{Title: req.Title, Tools: req.Tools}
	if req.Tools != nil {
		if err := validTools(*req.Tools); err != nil {
			s.fail(c, err)
			return
		}
	}
	if req.SystemPrompt != nil {
		if u.SystemPrompt, err = s.box.EncryptString(store.SessionPrompt(id), *req.SystemPrompt); err != nil {
			s.fail(c, err)
			return
		}
	}
	cs, err := s.store.UpdateSession(c.Request.Context(), caller, id, u)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.respondSession(c, http.StatusOK, caller, cs)
}

func (s *Server) deleteSession(c *gin.Context) {
	id, err := pathID(c, "id", "SESSION", "session")
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	err = s.store.DeleteSession(ctx, callerOf(c), id)
	if errors.Is(err, store.ErrTurnInProgress) && s.chat.ReapActive(ctx, id, chat.Cancelled) {
		err = s.store.DeleteSession(ctx, callerOf(c), id) // the turn in the way had no workflow left
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type postMessageRequest struct {
	Content string `json:"content" binding:"required"`
}

const maxIdempotencyKey = chat.MaxIdempotencyKey

// postMessage stores the user's message and starts the turn's workflow. The same request twice
// (same Idempotency-Key) gives the same turn; a second message while a turn runs is a 409.
// chatService is what the chat handlers need of chat.Service (a fake in the handlers' tests).
type chatService interface {
	Post(ctx context.Context, caller models.Caller, m chat.Message) (*models.Turn, bool, error)
	OpenCompletion(ctx context.Context, caller models.Caller, c chat.Completion) (*models.ChatSession, error)
	ReapActive(ctx context.Context, sessionID uuid.UUID, o models.TurnOutcome) bool
	ValidateLength(field, content string) error
}

func (s *Server) postMessage(c *gin.Context) {
	begun := time.Now()
	sessionID, err := pathID(c, "id", "SESSION", "session")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req postMessageRequest
	voice := multipartRequest(c) // a voice message: its transcript is the content (api/audio.go)
	if voice {
		req.Content, err = s.voiceMessage(c, sessionID)
	} else {
		err = bindJSON(c, &req)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	m := chat.Message{SessionID: sessionID, Content: req.Content, IdempotencyKey: c.GetHeader("Idempotency-Key")}
	early := &earlySubscription{hub: s.events}
	defer early.close()
	if wantsEventStream(c) {
		m.BeforeStart = early.beforeStart
	}
	t, created, err := s.chat.Post(c.Request.Context(), callerOf(c), m)
	if err != nil {
		s.fail(c, err)
		return
	}
	if created {
		s.metrics.turnStart.WithLabelValues("messages").Observe(time.Since(begun).Seconds())
	}
	if wantsEventStream(c) {
		s.streamTurn(c, t.ID, 0, early.made())
		return
	}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	body := gin.H{"turn_id": t.ID, "workflow_id": t.WorkflowID, "status": t.Status, "events_url": eventsURL(t)}
	if voice {
		body["transcript"] = req.Content
	}
	c.JSON(status, body)
}

func wantsEventStream(c *gin.Context) bool {
	return strings.Contains(c.GetHeader("Accept"), "text/event-stream")
}

func (s *Server) turnLimits() workflows.TurnLimits {
	return workflows.TurnLimits{
		MaxSteps: s.cfg.TurnMaxSteps, LLMTimeout: s.cfg.LLMTimeout, LLMHeartbeat: s.cfg.LLMHeartbeat,
		LLMMaxAttempts: int32(s.cfg.LLMMaxAttempts), ToolTimeout: s.cfg.ToolTimeout, ToolHeartbeat: s.cfg.ToolHeartbeat,
		ToolMaxAttempts: int32(s.cfg.ToolMaxAttempts), ApprovalTimeout: s.cfg.ApprovalTimeout, FinishTimeout: s.cfg.DBOutageTimeout,
	}
}

func (s *Server) turnFromPath(c *gin.Context) (*models.Turn, error) {
	sessionID, err := pathID(c, "id", "TURN", "turn")
	if err != nil {
		return nil, err
	}
	turnID, err := pathID(c, "turn_id", "TURN", "turn")
	if err != nil {
		return nil, err
	}
	return s.store.TurnOf(c.Request.Context(), callerOf(c), sessionID, turnID)
}

// getTurn reports a turn; while it runs, the workflow's progress query adds the live steps.
func (s *Server) getTurn(c *gin.Context) {
	ctx := c.Request.Context()
	t, err := s.turnFromPath(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := toTurnJSON(t)
	if !t.Finished() {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if resp, err := s.temporal.QueryWorkflow(qctx, t.WorkflowID, "", workflows.QueryProgress); err == nil {
			var p workflows.Progress
			if resp.Get(&p) == nil {
				out.Progress = &p
				out.Steps = len(p.Steps)
				out.Usage = usageJSON{p.PromptTokens, p.CompletionTokens}
			}
		} else {
			s.log.WarnContext(ctx, "progress query failed", "turn_id", t.ID, "error", err)
		}
	}
	msgs, err := s.store.TurnMessages(ctx, t.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == models.RoleAssistant && len(msgs[i].ToolCalls) == 0 {
			m, err := s.toMessageJSON(&msgs[i])
			if err != nil {
				s.fail(c, err)
				return
			}
			out.FinalMessage = &m
			break
		}
	}
	runs, err := s.store.TurnToolRuns(ctx, t.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	for i := range runs {
		out.ToolRuns = append(out.ToolRuns, toToolRunJSON(&runs[i]))
	}
	c.JSON(http.StatusOK, out)
}

var errTurnFinished = models.Errorf(models.ErrConflict, "TURN_FINISHED", "the turn has already finished")

// turnToDecide returns the turn of the path if the caller may decide for it (cancel it, approve
// or deny its tool calls): the member who sent its message, or an admin of the session's group
// (onBehalf is then true: the decision is audited in the group's log). A tool approved by
// someone else would run as the turn's owner, with their rights.
func (s *Server) turnToDecide(c *gin.Context) (t *models.Turn, cs *models.ChatSession, onBehalf bool, err error) {
	caller := callerOf(c)
	sessionID, err := pathID(c, "id", "TURN", "turn")
	if err != nil {
		return nil, nil, false, err
	}
	turnID, err := pathID(c, "turn_id", "TURN", "turn")
	if err != nil {
		return nil, nil, false, err
	}
	if cs, err = s.store.Session(c.Request.Context(), caller, sessionID); err != nil {
		return nil, nil, false, models.NotFound("TURN", "turn")
	}
	if t, err = s.store.TurnOf(c.Request.Context(), caller, sessionID, turnID); err != nil {
		return nil, nil, false, err
	}
	if !policy.Allow(caller, policy.Object{OwnerID: t.UserID, GroupID: cs.GroupID}, policy.Update) {
		return nil, nil, false, models.Errorf(models.ErrForbidden, "NOT_TURN_OWNER",
			"only the member who sent this message or an admin of the group may decide for this turn")
	}
	return t, cs, t.UserID != caller.UserID, nil
}

// auditDecision records a decision on a turn; one made for another member is also in the group's log.
func (s *Server) auditDecision(c *gin.Context, t *models.Turn, cs *models.ChatSession, onBehalf bool, action, resourceType, resourceID string, details map[string]any) {
	if onBehalf && cs.GroupID != nil {
		details["on_behalf_of"] = t.UserID
		s.auditGroup(c, *cs.GroupID, action, resourceType, resourceID, details)
		return
	}
	caller := callerOf(c)
	s.audit(c, &caller.UserID, action, resourceType, resourceID, details)
}

// cancelTurn signals the turn to stop; the running model or tool call is cancelled.
func (s *Server) cancelTurn(c *gin.Context) {
	ctx := c.Request.Context()
	t, cs, onBehalf, err := s.turnToDecide(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if t.Finished() {
		s.fail(c, errTurnFinished)
		return
	}
	status := "cancelling"
	err = workflows.Signal(ctx, s.temporal, t.WorkflowID, workflows.SignalCancel, workflows.CancelSignal{Reason: "cancelled by the user"})
	if errors.Is(err, workflows.ErrEnded) {
		// No workflow runs this turn any more (or never did): cancel it here.
		finished, ferr := s.reaper.Finish(ctx, t, chat.Cancelled)
		switch {
		case errors.Is(ferr, chat.ErrWorkflowRunning):
			err = models.Errorf(models.ErrConflict, "TURN_STARTING", "the turn is still starting; retry in a moment")
		case ferr != nil:
			err = ferr
		case !finished:
			err = errTurnFinished
		default:
			err, status = nil, models.TurnCancelled
		}
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if onBehalf {
		s.auditDecision(c, t, cs, onBehalf, "turn.cancel", "turn", t.ID.String(), map[string]any{})
	}
	c.JSON(http.StatusAccepted, gin.H{"turn_id": t.ID, "status": status})
}

func (s *Server) signalTurn(ctx context.Context, t *models.Turn, name string, arg any) error {
	err := workflows.Signal(ctx, s.temporal, t.WorkflowID, name, arg)
	if errors.Is(err, workflows.ErrEnded) {
		return errTurnFinished
	}
	return err
}

type approvalRequest struct {
	Approved *bool  `json:"approved" binding:"required"`
	Reason   string `json:"reason" binding:"max=500"`
}

// approveToolCall records the decision on a tool call waiting for approval. The first decision
// wins: a second one, however close behind, is 409 ALREADY_DECIDED.
func (s *Server) approveToolCall(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	t, cs, onBehalf, err := s.turnToDecide(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req approvalRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	callID := c.Param("call_id")
	// The call must be one the turn asked approval for (its approval.required event is in the
	// log); the workflow itself only acts on the decision for the call it waits on.
	asked, err := s.store.HasEvent(ctx, store.TurnLog, t.ID, "approval:"+callID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !asked {
		s.fail(c, models.NotFound("TOOL_CALL", "pending tool call"))
		return
	}
	if done, err := s.store.HasEvent(ctx, store.TurnLog, t.ID, "tool.result:"+callID); err != nil || done {
		if err == nil {
			err = store.ErrAlreadyDecided // decided, or the approval timed out
		}
		s.fail(c, err)
		return
	}
	if err := s.store.DecideToolCall(ctx, t.ID, callID, *req.Approved, req.Reason, caller.UserID); err != nil {
		s.fail(c, err)
		return
	}
	if t.Status != models.TurnWaitingApproval {
		s.undoDecision(ctx, t, callID)
		s.fail(c, models.Errorf(models.ErrConflict, "NO_PENDING_APPROVAL", "the turn is not waiting for an approval"))
		return
	}
	if err := s.signalTurn(ctx, t, workflows.SignalApprove, workflows.ApproveSignal{CallID: callID, Approved: *req.Approved, Reason: req.Reason}); err != nil {
		s.undoDecision(ctx, t, callID) // the turn never heard it: the user may decide again
		s.fail(c, err)
		return
	}
	action := "tool.approve"
	if !*req.Approved {
		action = "tool.deny"
	}
	s.auditDecision(c, t, cs, onBehalf, action, "tool_call", t.ID.String()+"/"+callID, map[string]any{"reason": req.Reason})
	c.JSON(http.StatusAccepted, gin.H{"turn_id": t.ID, "call_id": callID, "approved": *req.Approved})
}

func (s *Server) undoDecision(ctx context.Context, t *models.Turn, callID string) {
	undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store.UndoDecision(undoCtx, t.ID, callID); err != nil {
		s.log.ErrorContext(ctx, "undoing an undelivered approval failed", "turn_id", t.ID, "call_id", callID, "error", err)
	}
}

type toolRunJSON struct {
	ID         uuid.UUID      `json:"id"`
	TurnID     uuid.UUID      `json:"turn_id"`
	SessionID  uuid.UUID      `json:"session_id"`
	CallID     string         `json:"call_id"`
	Server     string         `json:"server"`
	Tool       string         `json:"tool"`
	Arguments  map[string]any `json:"arguments,omitempty"`
	Status     string         `json:"status"`
	Error      string         `json:"error,omitempty"`
	Bytes      int            `json:"result_bytes"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at"`
	DurationMS *int           `json:"duration_ms"`
}

func toToolRunJSON(r *models.ToolRun) toolRunJSON {
	return toolRunJSON{ID: r.ID, TurnID: r.TurnID, SessionID: r.SessionID, CallID: r.CallID, Server: r.ServerName,
		Tool: r.ToolName, Status: r.Status, Error: r.Error, Bytes: r.ResultBytes, StartedAt: r.StartedAt,
		FinishedAt: r.FinishedAt, DurationMS: r.DurationMS}
}

func (s *Server) listToolRuns(c *gin.Context) {
	page, err := pageOf(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	runs, err := s.store.ToolRuns(c.Request.Context(), callerOf(c), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	runs, next := store.Trim(runs, page.Limit, func(r models.ToolRun) store.Cursor { return store.Cursor{T: r.CreatedAt, ID: r.ID} })
	out := make([]toolRunJSON, 0, len(runs))
	for i := range runs {
		j := toToolRunJSON(&runs[i])
		if len(runs[i].Arguments) > 0 {
			if raw, err := s.box.Decrypt(store.ToolRunArguments(runs[i].TurnID, runs[i].CallID), runs[i].Arguments); err == nil {
				_ = json.Unmarshal(raw, &j.Arguments)
			}
		}
		out = append(out, j)
	}
	c.JSON(http.StatusOK, newList(out, next))
}
