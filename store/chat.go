package store

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
)

// ErrTurnInProgress is the 409 for a second message while a turn of the session runs.
var ErrTurnInProgress = models.Errorf(models.ErrConflict, "TURN_IN_PROGRESS", "another turn of this session is still running")

// CreateSession stores a new session owned by the caller. A group id must be one of the caller's groups.
func (s *Store) CreateSession(ctx context.Context, c models.Caller, cs *models.ChatSession) error {
	if cs.GroupID != nil && !policy.AllowGroup(c, *cs.GroupID, policy.ShareToGroup) {
		return models.NotFound("GROUP", "group")
	}
	cs.OwnerID = c.UserID
	if cs.ID == uuid.Nil {
		cs.ID = uuid.New()
	}
	return translate(s.q(ctx).Create(cs).Error)
}

// Sessions lists the sessions the caller can see, most recently updated first.
func (s *Store) Sessions(ctx context.Context, c models.Caller, page Page) ([]models.ChatSession, error) {
	var out []models.ChatSession
	err := s.q(ctx).Scopes(visibleTo(c, "chat_sessions"), page.after("updated_at")).
		Order("updated_at DESC, id DESC").Limit(page.Limit + 1).Find(&out).Error
	return out, translate(err)
}

// Session returns a session the caller can see.
func (s *Store) Session(ctx context.Context, c models.Caller, id uuid.UUID) (*models.ChatSession, error) {
	var cs models.ChatSession
	err := s.q(ctx).Scopes(visibleTo(c, "chat_sessions")).Where("id = ?", id).Take(&cs).Error
	if err != nil {
		return nil, notFound(translate(err), "SESSION", "session")
	}
	return &cs, nil
}

// sessionForChange returns a session the caller may modify; others' sessions are not found and
// group sessions of a plain member are forbidden.
func (s *Store) sessionForChange(ctx context.Context, c models.Caller, id uuid.UUID) (*models.ChatSession, error) {
	cs, err := s.Session(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !canModify(c, cs.OwnerID, cs.GroupID) {
		return nil, models.Errorf(models.ErrForbidden, "FORBIDDEN", "only the owner or a group admin may change this session")
	}
	return cs, nil
}

// SessionUpdate holds the fields PATCH may change; nil means unchanged.
type SessionUpdate struct {
	Title        *string
	SystemPrompt []byte // ciphertext; nil means unchanged
	Tools        *[]string
}

// UpdateSession applies u to a session the caller may modify.
func (s *Store) UpdateSession(ctx context.Context, c models.Caller, id uuid.UUID, u SessionUpdate) (*models.ChatSession, error) {
	cs, err := s.sessionForChange(ctx, c, id)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{}
	if u.Title != nil {
		fields["title"] = *u.Title
	}
	if u.SystemPrompt != nil {
		fields["system_prompt"] = u.SystemPrompt
	}
	if u.Tools != nil {
		fields["tools"] = models.Strings(*u.Tools)
	}
	if len(fields) > 0 {
		if err := s.q(ctx).Model(cs).Updates(fields).Error; err != nil {
			return nil, translate(err)
		}
	}
	return s.Session(ctx, c, id)
}

// DeleteSession deletes a session the caller may modify, with its turns and messages. A session
// with a running turn is a conflict: cancel the turn first.
func (s *Store) DeleteSession(ctx context.Context, c models.Caller, id uuid.UUID) error {
	cs, err := s.sessionForChange(ctx, c, id)
	if err != nil {
		return err
	}
	return s.InTx(ctx, func(tx *Store) error {
		var running int64
		err := tx.q(ctx).Model(&models.Turn{}).Where("session_id = ? AND status IN ?", cs.ID,
			[]string{models.TurnRunning, models.TurnWaitingApproval}).Count(&running).Error
		if err != nil {
			return err
		}
		if running > 0 {
			return ErrTurnInProgress
		}
		return tx.q(ctx).Delete(&models.ChatSession{}, "id = ?", cs.ID).Error
	})
}

// StartTurn stores the user's message (content and images, sealed; images may be nil) and a
// running turn atomically, at the end of the session's active branch (StartTurnOn).
func (s *Store) StartTurn(ctx context.Context, c models.Caller, sessionID uuid.UUID, t *models.Turn, content, images []byte) (*models.Turn, *uuid.UUID, bool, error) {
	return s.StartTurnOn(ctx, c, sessionID, t, content, images, Branch{})
}

func (s *Store) turnByKey(ctx context.Context, sessionID uuid.UUID, key string) (*models.Turn, error) {
	var t models.Turn
	err := s.q(ctx).Where("session_id = ? AND idempotency_key = ?", sessionID, key).Take(&t).Error
	return &t, translate(err)
}

// TurnOf returns a turn of a session the caller can see.
func (s *Store) TurnOf(ctx context.Context, c models.Caller, sessionID, turnID uuid.UUID) (*models.Turn, error) {
	if _, err := s.Session(ctx, c, sessionID); err != nil {
		return nil, notFound(err, "TURN", "turn")
	}
	var t models.Turn
	if err := s.q(ctx).Where("id = ? AND session_id = ?", turnID, sessionID).Take(&t).Error; err != nil {
		return nil, notFound(translate(err), "TURN", "turn")
	}
	return &t, nil
}

// SessionTurns lists the turns of a session (newest first, at most limit).
func (s *Store) SessionTurns(ctx context.Context, sessionID uuid.UUID, limit int) ([]models.Turn, error) {
	var out []models.Turn
	err := s.q(ctx).Where("session_id = ?", sessionID).Order("created_at DESC").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// Turn returns a turn by id (worker side: the workflow already owns it).
func (s *Store) Turn(ctx context.Context, id uuid.UUID) (*models.Turn, error) {
	var t models.Turn
	if err := s.q(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, notFound(translate(err), "TURN", "turn")
	}
	return &t, nil
}

// Messages returns the last limit messages of a session, every branch, in the order they were
// stored; with completeOnly, cancelled partial answers are left out. What the model sees is
// Conversation: one branch.
func (s *Store) Messages(ctx context.Context, sessionID uuid.UUID, limit int, completeOnly bool) ([]models.Message, error) {
	var out []models.Message
	q := s.q(ctx).Where("session_id = ?", sessionID)
	if completeOnly {
		q = q.Where("status = ?", models.MessageComplete)
	}
	if err := q.Order("seq DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// MessageByID returns one message (worker side).
func (s *Store) MessageByID(ctx context.Context, id uuid.UUID) (*models.Message, error) {
	var m models.Message
	if err := s.q(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		return nil, notFound(translate(err), "MESSAGE", "message")
	}
	return &m, nil
}

// PutToolRun inserts or updates the tool run of (turn, call).
func (s *Store) PutToolRun(ctx context.Context, r *models.ToolRun) error {
	if r.ID == uuid.Nil {
		r.ID = uuid.NewSHA1(r.TurnID, []byte("toolrun/"+r.CallID))
	}
	return translate(s.q(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "turn_id"}, {Name: "call_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"status", "error", "result_bytes", "finished_at", "duration_ms", "arguments"}),
	}).Create(r).Error)
}

// SetTurnStatus moves a running turn between running and waiting_approval.
func (s *Store) SetTurnStatus(ctx context.Context, turnID uuid.UUID, status string) error {
	return translate(s.q(ctx).Model(&models.Turn{}).
		Where("id = ? AND status IN ?", turnID, []string{models.TurnRunning, models.TurnWaitingApproval}).
		Update("status", status).Error)
}

// FinishTurn records a terminal outcome and appends the turn's closing events (its final message,
// its terminal event) in one statement: both happen or neither. It reports whether this call
// finished the turn (given at least one event: the terminal one): finishing an already finished
// turn changes nothing and appends nothing.
func (s *Store) FinishTurn(ctx context.Context, turnID uuid.UUID, o models.TurnOutcome, at time.Time, events []models.Event) (bool, error) {
	last, err := s.appendEvents(ctx, TurnLog, turnID, events, alongside{change: finishTurn, args: outcomeArgs(o, at)})
	if errors.Is(err, models.ErrNotFound) {
		return false, nil // the turn is gone (its session was deleted): nothing left to finish
	}
	return err == nil && last > 0, err
}

// UnfinishedTurns returns up to limit turns still running (or waiting for an approval) that
// started before the given time, oldest first: the reaper's candidates.
func (s *Store) UnfinishedTurns(ctx context.Context, before time.Time, limit int) ([]models.Turn, error) {
	var out []models.Turn
	err := s.q(ctx).Where("status IN ? AND started_at < ?", []string{models.TurnRunning, models.TurnWaitingApproval}, before).
		Order("started_at").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// TurnsWaitingApproval counts the turns waiting for a tool approval, platform-wide (a metric).
func (s *Store) TurnsWaitingApproval(ctx context.Context) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&models.Turn{}).Where("status = ?", models.TurnWaitingApproval).Count(&n).Error
	return n, translate(err)
}

// ActiveTurn returns the unfinished turn of a session (at most one exists), ErrNotFound if none.
func (s *Store) ActiveTurn(ctx context.Context, sessionID uuid.UUID) (*models.Turn, error) {
	var t models.Turn
	err := s.q(ctx).Where("session_id = ? AND status IN ?", sessionID, []string{models.TurnRunning, models.TurnWaitingApproval}).Take(&t).Error
	if err != nil {
		return nil, notFound(translate(err), "TURN", "turn")
	}
	return &t, nil
}

// FinishTurnWithMessage stores the turn's final message m (unless its id exists), records the
// outcome and appends events, in one statement: what FinishTurn does, with the answer. It reports
// whether this call finished the turn; when the turn had finished already, m is still stored but
// no event is appended.
func (s *Store) FinishTurnWithMessage(ctx context.Context, m *models.Message, o models.TurnOutcome, at time.Time, events []models.Event) (bool, error) {
	args, err := messageArgs(m)
	if err != nil {
		return false, err
	}
	maps.Copy(args, outcomeArgs(o, at))
	last, err := s.appendEvents(ctx, TurnLog, *m.TurnID, events, alongside{with: putMessage, change: finishTurn, args: args})
	return last > 0, err
}

// outcomeArgs are the named arguments of finishTurn.
func outcomeArgs(o models.TurnOutcome, at time.Time) map[string]any {
	return map[string]any{"status": o.Status, "error_code": o.ErrorCode, "error_message": o.ErrorMessage, "steps": o.Steps,
		"prompt_tokens": o.PromptTokens, "completion_tokens": o.CompletionTokens, "finished_at": at}
}

// ToolRuns lists the caller's tool executions, newest first.
func (s *Store) ToolRuns(ctx context.Context, c models.Caller, page Page) ([]models.ToolRun, error) {
	var out []models.ToolRun
	err := s.q(ctx).Scopes(ownedBy(c, "user_id"), page.after("created_at")).
		Order("created_at DESC, id DESC").Limit(page.Limit + 1).Find(&out).Error
	return out, translate(err)
}

// TurnToolRuns lists the tool runs of a turn in call order.
func (s *Store) TurnToolRuns(ctx context.Context, turnID uuid.UUID) ([]models.ToolRun, error) {
	var out []models.ToolRun
	err := s.q(ctx).Where("turn_id = ?", turnID).Order("step, started_at").Find(&out).Error
	return out, translate(err)
}

// TurnMessages returns the messages of a turn in order.
func (s *Store) TurnMessages(ctx context.Context, turnID uuid.UUID) ([]models.Message, error) {
	var out []models.Message
	err := s.q(ctx).Where("turn_id = ?", turnID).Order("seq").Find(&out).Error
	return out, translate(err)
}

// TurnSetting is what a turn runs with: its session's system prompt (ciphertext) and allowed
// tools, and the turn's model.
type TurnSetting struct {
	SystemPrompt []byte
	Tools        models.Strings
	Model        string
	// ClientTools is the session's sealed chat_sessions.client_tools (nil: none).
	ClientTools []byte
	// ResponseFormat is the session's sealed chat_sessions.response_format (nil: none).
	ResponseFormat []byte
	// OneToolCall is chat_sessions.one_tool_call: a model message keeps its first tool call only.
	OneToolCall bool
	// GroupID is the session's group (nil: a personal session); Budgeted says a budget of the
	// turn's user or of that group exists, so the turn's model calls reserve (ReserveBudget).
	GroupID  *uuid.UUID
	Budgeted bool
}

// Conversation returns, in one round trip, what a turn runs with and the last limit complete
// messages of its branch in order: the path to the message the turn hangs off, then the turn's
// own messages. That is what the model is sent; other branches never reach it. The walk up is one
// primary-key lookup a message (a LATERAL LIMIT 1, which the planner cannot turn into a hash join
// over the whole table per step) and stops once it holds limit complete messages.
func (s *Store) Conversation(ctx context.Context, turnID uuid.UUID, limit int) (*TurnSetting, []models.Message, error) {
	var setting *TurnSetting
	var msgs []models.Message
	err := s.queryRows(ctx, conversationSQL, map[string]any{"tid": turnID, "n": limit}, func(scan func(...any) error) error {
		var st TurnSetting
		// The message's columns, nullable: the LEFT JOIN's empty side (no message) is all NULL.
		var (
			id, sessionID                  *uuid.UUID
			turn, parent                   *uuid.UUID
			seq                            *int64
			step                           *int
			role, callID, toolName, status *string
			content, toolCalls, images     []byte
			createdAt, updatedAt           *time.Time
		)
		if err := scan(&st.SystemPrompt, &st.Tools, &st.Model, &st.ClientTools, &st.ResponseFormat, &st.OneToolCall, &st.GroupID, &st.Budgeted,
			&id, &seq, &sessionID, &turn, &parent, &step, &role, &content, &toolCalls, &images, &callID, &toolName, &status,
			&createdAt, &updatedAt); err != nil {
			return err
		}
		if setting == nil {
			setting = &st
		}
		if id == nil {
			return nil
		}
		msgs = append(msgs, models.Message{ID: *id, Seq: *seq, SessionID: *sessionID, TurnID: turn, ParentID: parent, Step: *step,
			Role: *role, Content: content, ToolCalls: toolCalls, Images: images, ToolCallID: *callID, ToolName: *toolName,
			Status: *status, CreatedAt: *createdAt, UpdatedAt: *updatedAt})
		return nil
	})
	if err != nil {
		return nil, nil, translate(err)
	}
	if setting == nil {
		return nil, nil, models.NotFound("TURN", "turn")
	}
	return setting, msgs, nil
}

// conversationSQL is Conversation's one statement: the turn's setting on every row, with a
// message of the branch (oldest first), or once with no message (NULLs) when the branch has none.
const conversationSQL = `
WITH RECURSIVE t AS (
    SELECT id, session_id, user_id, model, parent_message_id FROM turns WHERE id = @tid
), up AS (
    SELECT m.*, 1 AS depth, (m.status = 'complete')::int AS kept
    FROM t CROSS JOIN LATERAL (SELECT * FROM messages WHERE id = t.parent_message_id LIMIT 1) m
    UNION ALL
    SELECT p.*, u.depth + 1, u.kept + (p.status = 'complete')::int
    FROM up u CROSS JOIN LATERAL (SELECT * FROM messages WHERE id = u.parent_id LIMIT 1) p
    WHERE u.kept < @n
), branch AS (
    SELECT up.*, -up.depth AS pos FROM up
    UNION ALL
    SELECT m.*, 0, 0, m.seq FROM messages m WHERE m.turn_id = @tid
)
SELECT s.system_prompt, s.tools, t.model, s.client_tools, s.response_format, s.one_tool_call, s.group_id,
       EXISTS (SELECT 1 FROM budgets bu WHERE bu.user_id = t.user_id OR bu.group_id = s.group_id),
       b.id, b.seq, b.session_id, b.turn_id, b.parent_id, b.step, b.role, b.content, b.tool_calls, b.images, b.tool_call_id,
       b.tool_name, b.status, b.created_at, b.updated_at
FROM t
JOIN chat_sessions s ON s.id = t.session_id
LEFT JOIN LATERAL (SELECT * FROM branch WHERE status = 'complete' ORDER BY pos DESC LIMIT @n) b ON true
ORDER BY b.pos`

// ImportMessages stores earlier messages of a conversation (no turn) in order, one branch from the
// start, e.g. the history an OpenAI-style client sends with each request (in a new session).
func (s *Store) ImportMessages(ctx context.Context, sessionID uuid.UUID, msgs []models.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		if msgs[i].ID == uuid.Nil { // a sealed message has its id already: its ciphertext is bound to it
			msgs[i].ID = uuid.New()
		}
		msgs[i].SessionID, msgs[i].Status = sessionID, models.MessageComplete
		if i > 0 { // one branch, each message after the one before
			msgs[i].ParentID = &msgs[i-1].ID
		}
	}
	return translate(s.q(ctx).Omit("seq", "turn_id").Create(&msgs).Error)
}

// SessionGroup returns the group a session belongs to, nil for a personal session (worker side).
func (s *Store) SessionGroup(ctx context.Context, sessionID uuid.UUID) (*uuid.UUID, error) {
	var cs models.ChatSession
	if err := s.q(ctx).Select("group_id").Where("id = ?", sessionID).Take(&cs).Error; err != nil {
		return nil, notFound(translate(err), "SESSION", "session")
	}
	return cs.GroupID, nil
}

// ErrAlreadyDecided is the 409 for a second decision on a tool call: the first one stands.
var ErrAlreadyDecided = models.Errorf(models.ErrConflict, "ALREADY_DECIDED", "this tool call was already decided")

// DecideToolCall records the decision on a tool call waiting for approval, unless one exists:
// the first decision wins and a second is ErrAlreadyDecided, however close together they come.
func (s *Store) DecideToolCall(ctx context.Context, turnID uuid.UUID, callID string, approved bool, reason string, by uuid.UUID) error {
	res := s.q(ctx).Exec(`INSERT INTO tool_approvals (turn_id, call_id, approved, reason, decided_by) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (turn_id, call_id) DO NOTHING`, turnID, callID, approved, reason, by)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrAlreadyDecided
	}
	return nil
}

// UndoDecision removes a decision that never reached the turn (the workflow could not be
// signalled), so that the user can decide again.
func (s *Store) UndoDecision(ctx context.Context, turnID uuid.UUID, callID string) error {
	return translate(s.q(ctx).Exec(`DELETE FROM tool_approvals WHERE turn_id = ? AND call_id = ?`, turnID, callID).Error)
}

// nullable is b as a query argument: NULL when nil (gorm expands a nil []byte to nothing).
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
