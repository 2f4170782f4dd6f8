package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

// AllTools in a session's tool list allows every tool the caller may use.
const AllTools = "*"

// Turns holds the turn bookkeeping activities. They only touch Postgres (and list tools), so the
// workflow runs them as local activities: no task queue round trip.
type Turns struct {
	Store   *store.Store
	Box     *encryption.Box
	Catalog *toolbox.Catalog
	// Remote reaches the servers users registered; nil when there is none to reach.
	Remote *Remote
	// Rules decide which tools wait for a user's approval before they run.
	Rules policy.ToolRules
	// Metrics records finished turns (nil: none).
	Metrics *metrics.Worker
}

func (a *Turns) log() eventLog { return eventLog{store: a.Store, box: a.Box} }

type TurnRef = spec.TurnRef

type LoadContextResult = spec.LoadContextResult

// LoadContext reads the session's model and allowed tools, lists the tool catalog and announces
// the turn (turn.started). Turns started before the first LLM call loaded their context itself
// run it as a local activity; newer ones get the same from the LLM activity of step 1.
func (a *Turns) LoadContext(ctx context.Context, in TurnRef) (LoadContextResult, error) {
	setting, _, err := a.Store.Conversation(ctx, in.TurnID, 0)
	if err != nil {
		return LoadContextResult{}, err
	}
	res, started, err := a.contextOf(ctx, in, setting)
	if err != nil {
		return LoadContextResult{}, err
	}
	return res, a.log().emit(ctx, in.TurnID, started)
}

// contextOf resolves the tools a turn may use now (the session's allowed tools that the catalog
// and the caller's registered servers offer) and returns the turn.started event announcing them.
func (a *Turns) contextOf(ctx context.Context, in TurnRef, setting *store.TurnSetting) (LoadContextResult, event, error) {
	res := LoadContextResult{Model: setting.Model}
	if tools := setting.Tools; len(tools) > 0 {
		var all []toolbox.Tool
		if a.Catalog != nil {
			all, _ = a.Catalog.Tools(ctx) // an unreachable server leaves its tools out; the turn goes on
		}
		if a.Remote != nil {
			groups, err := a.Store.Memberships(ctx, in.UserID)
			if err != nil {
				return LoadContextResult{}, event{}, err
			}
			remote, pending, err := a.Remote.Tools(ctx, models.Caller{UserID: in.UserID, Groups: groups})
			if err != nil {
				return LoadContextResult{}, event{}, err
			}
			all = append(all, remote...)
			res.Unavailable = append(res.Unavailable, pending...)
		}
		allowAll := slices.Contains(tools, AllTools)
		offered := map[string]bool{}
		for _, t := range all {
			if allowAll || slices.Contains(tools, t.Name) {
				t.RequiresApproval = a.Rules.NeedsApproval(policy.Tool{Name: t.Name, ServerRequires: t.RequiresApproval, Outbound: t.Outbound})
				res.Tools = append(res.Tools, t)
				offered[t.Name] = true
			}
		}
		for _, name := range tools {
			if name != AllTools && !offered[name] {
				res.Unavailable = append(res.Unavailable, name)
			}
		}
	}
	names := make([]string, 0, len(res.Tools))
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	started := event{key: "turn.started", typ: models.EventTurnStarted, data: map[string]any{
		"turn_id": in.TurnID, "session_id": in.SessionID, "model": res.Model, "tools": names, "unavailable_tools": res.Unavailable,
	}}
	return res, started, nil
}

type ApprovalRequest = spec.ApprovalRequest

// RequestApproval marks the turn waiting_approval and emits approval.required.
func (a *Turns) RequestApproval(ctx context.Context, in ApprovalRequest) error {
	if err := a.Store.SetTurnStatus(ctx, in.TurnID, models.TurnWaitingApproval); err != nil {
		return err
	}
	return a.log().emit(ctx, in.TurnID, event{key: "approval:" + in.CallID, typ: models.EventApprovalRequired, data: map[string]any{
		"call_id": in.CallID, "name": in.Tool, "step": in.Step, "expires_at": in.ExpiresAt, "reason": in.Reason,
	}})
}

// Resume marks a turn running again after an approval decision.
func (a *Turns) Resume(ctx context.Context, in TurnRef) error {
	return a.Store.SetTurnStatus(ctx, in.TurnID, models.TurnRunning)
}

type ToolOutcome = spec.ToolOutcome

// RecordToolOutcome writes the tool message, the tool run and tool.result for a call that was
// denied, timed out or failed for good. Idempotent.
func (a *Turns) RecordToolOutcome(ctx context.Context, in ToolOutcome) error {
	call, err := loadCall(ctx, a.Store, a.Box, in.TurnID, in.Step, in.CallID)
	if err != nil {
		return err
	}
	return persistToolResult(ctx, a.Store, a.Box, in.TurnRef, in.Step, call, in.Status, in.Text, len(in.Text), false, time.Now(), 0)
}

type FinishInput = spec.FinishInput

// FinishTurn records the outcome and emits the final message and exactly one terminal event, in
// one statement.
func (a *Turns) FinishTurn(ctx context.Context, in FinishInput) error {
	var events []event
	if in.MessageID != uuid.Nil && !in.MessageAnnounced {
		m, err := a.Store.MessageByID(ctx, in.MessageID)
		switch {
		case errors.Is(err, models.ErrNotFound) && in.Outcome.Status != models.TurnCompleted:
			// Cancelled before the model said anything: there is no partial answer.
		case err != nil:
			return err
		default:
			content, err := a.Box.DecryptString(store.MessageContent(m.ID), m.Content)
			if err != nil {
				return fmt.Errorf("decrypt final message: %w", err)
			}
			events = append(events, messageEvent(m.ID, m.Role, content, m.Status))
		}
	}
	events = append(events, terminalEvent(in.TurnID, in.Outcome))
	rows, err := a.log().seal(in.TurnID, events...)
	if err != nil {
		return err
	}
	finished, err := a.Store.FinishTurn(ctx, in.TurnID, in.Outcome, time.Now().UTC(), rows)
	if finished {
		a.Metrics.TurnFinished(in.Outcome.Status, in.StartedAt)
	}
	return err
}

// storedCall is one tool call of an assistant message as kept (encrypted) in messages.tool_calls.
type storedCall = models.ToolCall

func loadCall(ctx context.Context, st *store.Store, box *encryption.Box, turnID uuid.UUID, step int, callID string) (storedCall, error) {
	m, err := st.MessageByID(ctx, models.MessageID(turnID, models.RoleAssistant, step, ""))
	if err != nil {
		return storedCall{}, err
	}
	raw, err := box.Decrypt(store.MessageToolCalls(m.ID), m.ToolCalls)
	if err != nil {
		return storedCall{}, fmt.Errorf("decrypt tool calls: %w", err)
	}
	var calls []storedCall
	if err := json.Unmarshal(raw, &calls); err != nil {
		return storedCall{}, fmt.Errorf("decode tool calls: %w", err)
	}
	for _, c := range calls {
		if c.ID == callID {
			return c, nil
		}
	}
	return storedCall{}, fmt.Errorf("tool call %s not found in step %d", callID, step)
}

// persistToolResult stores the tool run, then the tool message the model will read with
// tool.result (plus step.finished for calls that ran) in one statement, idempotently.
func persistToolResult(ctx context.Context, st *store.Store, box *encryption.Box, ref TurnRef, step int, call storedCall,
	status, text string, size int, truncated bool, started time.Time, attempt int32) error {
	sealed, err := box.EncryptString(store.MessageContent(models.MessageID(ref.TurnID, models.RoleTool, step, call.ID)), text)
	if err != nil {
		return err
	}
	args, err := json.Marshal(call.Arguments)
	if err != nil {
		return err
	}
	sealedArgs, err := box.Encrypt(store.ToolRunArguments(ref.TurnID, call.ID), args)
	if err != nil {
		return err
	}
	echoID := call.ModelID
	if echoID == "" {
		echoID = call.ID
	}
	msg := &models.Message{ID: models.MessageID(ref.TurnID, models.RoleTool, step, call.ID), SessionID: ref.SessionID,
		TurnID: &ref.TurnID, Step: step, Role: models.RoleTool, Content: sealed, ToolCallID: echoID, ToolName: call.Name,
		Status: models.MessageComplete}
	now := time.Now().UTC()
	ms := int(now.Sub(started).Milliseconds())
	if err := st.PutToolRun(ctx, &models.ToolRun{TurnID: ref.TurnID, SessionID: ref.SessionID, UserID: ref.UserID,
		Step: step, CallID: call.ID, ToolName: call.Name, Arguments: sealedArgs, Status: status, ResultBytes: size,
		StartedAt: started.UTC(), FinishedAt: &now, DurationMS: &ms, Error: errorText(status, text)}); err != nil {
		return err
	}
	events := []event{{key: "tool.result:" + call.ID, typ: models.EventToolResult, data: map[string]any{
		"call_id": call.ID, "name": call.Name, "status": status, "content": text, "bytes": size, "truncated": truncated, "step": step,
	}}}
	if attempt > 0 {
		events = append(events, event{key: fmt.Sprintf("tool:%s:%d:end", call.ID, attempt), typ: models.EventStepFinished, data: map[string]any{
			"step": step, "kind": "tool", "call_id": call.ID, "name": call.Name, "attempt": attempt, "status": status, "duration_ms": ms,
		}})
	}
	return eventLog{store: st, box: box}.emitWith(ctx, ref.TurnID, msg, events...)
}

func errorText(status, text string) string {
	if status == models.ToolSucceeded {
		return ""
	}
	if len(text) > 500 {
		return text[:500]
	}
	return text
}
