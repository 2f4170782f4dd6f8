package store

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// A session's messages form a tree (messages.parent_id). Its active branch is the path from the
// first message to the active leaf, which is found from chat_sessions.active_message_id (the
// message last posted, regenerated from or chosen; unset or gone: the newest first message) by
// following the newest child down. A turn hangs off turns.parent_message_id and sees only the path
// to it (Conversation): abandoned branches never reach the model. Migration 00014 has the columns
// and the trigger chaining a turn's own messages; docs/decisions.md, "Branches".

// descend defines, after a CTE s (id, active_message_id) of one session, down (the walk from the
// active message down the newest children) and leaf (its last message; no row for a session
// without messages).
const descend = `down AS (
    SELECT x.id, 0 AS depth FROM s CROSS JOIN LATERAL (SELECT coalesce(
        (SELECT id FROM messages WHERE id = s.active_message_id AND session_id = s.id),
        (SELECT id FROM messages WHERE session_id = s.id AND parent_id IS NULL ORDER BY seq DESC LIMIT 1)) AS id) x
    WHERE x.id IS NOT NULL
    UNION ALL
    SELECT c.id, d.depth + 1 FROM down d CROSS JOIN LATERAL (
        SELECT id FROM messages WHERE parent_id = d.id ORDER BY seq DESC LIMIT 1) c
), leaf AS (
    SELECT id FROM down ORDER BY depth DESC LIMIT 1
)`

// Branch says where a new turn goes in its session's tree. The zero value is the end of the
// active branch.
type Branch struct {
	// At places the turn after Anchor instead (nil Anchor: a new branch from the start).
	At     bool
	Anchor *uuid.UUID
	// Active becomes the session's active message when the turn stores no message of its own (a
	// regenerated turn: the user message it answers again); a stored message always becomes it.
	Active *uuid.UUID
}

// startTurnSQL stores the turn, the user's message (after the turn's anchor) and the session's
// last activity and active message in one statement (one round trip), only if the caller can see
// the session and, when guarded, no budget applies (the row then says budgeted, and no turn).
const startTurnSQL = `
WITH RECURSIVE s AS (
    SELECT id, model, group_id, active_message_id FROM chat_sessions
    WHERE id = @sid AND (owner_id = @uid OR group_id = ANY (CAST(@groups AS uuid[])))
), g AS (
    -- Budgets that apply to the turn, unless the caller checked them already (guard false).
    SELECT CAST(@guard AS boolean) AND EXISTS (SELECT 1 FROM budgets WHERE user_id = @uid OR group_id = (SELECT group_id FROM s)) AS budgeted
), ` + descend + `, t AS (
    INSERT INTO turns (id, session_id, user_id, workflow_id, idempotency_key, status, model, started_at, parent_message_id)
    SELECT @tid, s.id, @uid, @wf, @key, 'running', coalesce(nullif(@model, ''), s.model), @at,
           CASE WHEN @at_branch THEN CAST(@anchor AS uuid) ELSE (SELECT id FROM leaf) END
    FROM s, g WHERE NOT g.budgeted
    RETURNING *
), m AS (
    INSERT INTO messages (id, session_id, turn_id, parent_id, step, role, content, images, status)
    SELECT @mid, t.session_id, t.id, t.parent_message_id, 0, 'user', @content, @images, 'complete' FROM t WHERE @with_message
), u AS (
    UPDATE chat_sessions SET last_turn_at = @at, active_message_id = CASE
        WHEN @with_message THEN CAST(@mid AS uuid)
        ELSE coalesce(CAST(@active AS uuid), active_message_id) END
    WHERE id IN (SELECT session_id FROM t)
)
SELECT t.*, s.group_id AS session_group_id, g.budgeted FROM s CROSS JOIN g LEFT JOIN t ON true`

// StartTurnOn stores the user's message (content and images, sealed; images may be nil) and a
// running turn atomically, where b says, and returns the turn with its session's group (nil for a
// private session). A nil content stores no message: the turn answers the conversation up to its
// anchor as it is (an OpenAI-compatible request ending with the results of the client's tool
// calls, a regenerated answer). With an idempotency key that already names a turn of this
// session, that turn is returned with created=false. A turn already running in the session is
// ErrTurnInProgress. Budgets are not looked at: the caller checked them (see
// StartTurnUnlessBudgeted).
func (s *Store) StartTurnOn(ctx context.Context, c models.Caller, sessionID uuid.UUID, t *models.Turn, content, images []byte, b Branch) (*models.Turn, *uuid.UUID, bool, error) {
	return s.startTurn(ctx, c, sessionID, t, content, images, b, false)
}

// ErrBudgetsApply says a budget of the caller or of the session's group applies to a turn: check
// it (CheckBudget), then store the turn with StartTurnOn.
var ErrBudgetsApply = errors.New("store: budgets apply to this turn; check them first")

// StartTurnUnlessBudgeted is StartTurnOn for a caller who has not checked budgets, in the same
// statement: when a budget of the caller or of the session's group exists it stores nothing and
// returns ErrBudgetsApply. Most callers have no budget, and their turn costs no extra round trip.
func (s *Store) StartTurnUnlessBudgeted(ctx context.Context, c models.Caller, sessionID uuid.UUID, t *models.Turn, content, images []byte, b Branch) (*models.Turn, *uuid.UUID, bool, error) {
	return s.startTurn(ctx, c, sessionID, t, content, images, b, true)
}

func (s *Store) startTurn(ctx context.Context, c models.Caller, sessionID uuid.UUID, t *models.Turn, content, images []byte, b Branch, guard bool) (*models.Turn, *uuid.UUID, bool, error) {
	groups := make(pgArray[string], 0, len(c.Groups))
	for _, g := range c.GroupIDs() {
		groups = append(groups, g.String())
	}
	var row struct {
		models.Turn
		SessionGroupID *uuid.UUID
		Budgeted       bool
	}
	err := translate(s.q(ctx).Raw(startTurnSQL, map[string]any{"guard": guard,
		"sid": sessionID, "uid": c.UserID, "groups": groups, "tid": t.ID, "wf": t.WorkflowID, "key": t.IdempotencyKey,
		"model": t.Model, "at": t.StartedAt, "mid": models.MessageID(t.ID, models.RoleUser, 0, ""), "content": nullable(content),
		"images": nullable(images), "with_message": content != nil,
		"at_branch": b.At, "anchor": nullableID(b.Anchor), "active": nullableID(b.Active),
	}).Scan(&row).Error)
	switch {
	case errors.Is(err, models.ErrConflict):
		// Either the same idempotency key got there first (return its turn) or another turn runs.
		if t.IdempotencyKey != nil {
			if existing, kerr := s.turnByKey(ctx, sessionID, *t.IdempotencyKey); kerr == nil {
				cs, serr := s.Session(ctx, c, sessionID)
				if serr != nil {
					return nil, nil, false, serr
				}
				return existing, cs.GroupID, false, nil
			}
		}
		return nil, nil, false, ErrTurnInProgress
	case err != nil:
		return nil, nil, false, err
	case row.Budgeted:
		return nil, nil, false, ErrBudgetsApply
	case row.ID == uuid.Nil:
		return nil, nil, false, models.NotFound("SESSION", "session")
	}
	return &row.Turn, row.SessionGroupID, true, nil
}

// nullableID is id as a query argument: NULL when nil.
func nullableID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return *id
}

// MessageOf returns a message of a session the caller can see.
func (s *Store) MessageOf(ctx context.Context, c models.Caller, sessionID, messageID uuid.UUID) (*models.Message, error) {
	if _, err := s.Session(ctx, c, sessionID); err != nil {
		return nil, notFound(err, "MESSAGE", "message")
	}
	var m models.Message
	if err := s.q(ctx).Where("id = ? AND session_id = ?", messageID, sessionID).Take(&m).Error; err != nil {
		return nil, notFound(translate(err), "MESSAGE", "message")
	}
	return &m, nil
}

// ActiveBranch returns the ids of the messages of a session's active branch, first to last
// (empty for a session without messages).
func (s *Store) ActiveBranch(ctx context.Context, sessionID uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.q(ctx).Raw(`
WITH RECURSIVE s AS (
    SELECT id, active_message_id FROM chat_sessions WHERE id = @sid
), `+descend+`, up AS (
    SELECT m.id, m.parent_id, 0 AS depth FROM leaf CROSS JOIN LATERAL (SELECT id, parent_id FROM messages WHERE id = leaf.id LIMIT 1) m
    UNION ALL
    SELECT p.id, p.parent_id, u.depth + 1 FROM up u CROSS JOIN LATERAL (SELECT id, parent_id FROM messages WHERE id = u.parent_id LIMIT 1) p
)
SELECT id FROM up ORDER BY depth DESC`, map[string]any{"sid": sessionID}).Scan(&ids).Error
	return ids, translate(err)
}

// errMessageNotFound is the 404 for a message that is not one of the session's.
var errMessageNotFound = models.NotFound("MESSAGE", "message")

// SetActiveMessage makes the branch through a message of the session the active one (continued
// down the newest replies after it). The caller must be able to post in the session; while a turn
// of the session runs it is ErrTurnInProgress (the running turn keeps the branch it started on).
func (s *Store) SetActiveMessage(ctx context.Context, c models.Caller, sessionID, messageID uuid.UUID) error {
	if _, err := s.MessageOf(ctx, c, sessionID, messageID); err != nil {
		return err
	}
	res := s.q(ctx).Exec(`UPDATE chat_sessions SET active_message_id = @mid
WHERE id = @sid AND EXISTS (SELECT 1 FROM messages WHERE id = @mid AND session_id = @sid)
  AND NOT EXISTS (SELECT 1 FROM turns WHERE session_id = @sid AND status IN ('running', 'waiting_approval'))`,
		map[string]any{"sid": sessionID, "mid": messageID})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := s.ActiveTurn(ctx, sessionID); err == nil {
			return ErrTurnInProgress
		}
		return errMessageNotFound
	}
	return nil
}

// relinkSQL keeps other members' branches whole when a user's turns go with the user
// (turns.user_id cascades, and a message's children cascade with it): in the sessions that stay
// (others' group sessions), every message, turn and active pointer that followed one of the
// user's messages follows that message's nearest ancestor that stays instead.
const relinkSQL = `
WITH RECURSIVE gone AS (
    SELECT m.id, m.parent_id FROM messages m
    JOIN turns t ON t.id = m.turn_id
    JOIN chat_sessions s ON s.id = m.session_id
    WHERE t.user_id = @uid AND s.owner_id <> @uid
), up AS (
    SELECT g.id AS start, g.parent_id AS anc FROM gone g
    UNION ALL
    SELECT u.start, g.parent_id FROM up u JOIN gone g ON g.id = u.anc
), kept AS (
    SELECT start, anc FROM up WHERE anc IS NULL OR anc NOT IN (SELECT id FROM gone)
), m AS (
    UPDATE messages c SET parent_id = k.anc FROM kept k
    WHERE c.parent_id = k.start AND c.id NOT IN (SELECT id FROM gone)
), t AS (
    UPDATE turns x SET parent_message_id = k.anc FROM kept k
    WHERE x.parent_message_id = k.start AND x.user_id <> @uid
)
UPDATE chat_sessions x SET active_message_id = k.anc FROM kept k
WHERE x.active_message_id = k.start AND x.owner_id <> @uid`

// relinkAround runs relinkSQL for userID (DeleteAccount, in its transaction).
func (s *Store) relinkAround(ctx context.Context, userID uuid.UUID) error {
	return translate(s.q(ctx).Exec(relinkSQL, map[string]any{"uid": userID}).Error)
}
