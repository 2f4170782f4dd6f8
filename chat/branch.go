package chat

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// Regenerate starts a new turn that answers the user message of turnID again (a turn without
// one, e.g. one answering a client's tool results, answers what it answered again): its answer is
// a sibling of the earlier one, and the new branch becomes the active one. Like Post it takes an
// idempotency key, and it is a 409 while a turn of the session runs.
func (s *Service) Regenerate(ctx context.Context, caller models.Caller, sessionID, turnID uuid.UUID, idempotencyKey string) (*models.Turn, bool, error) {
	orig, err := s.Store.TurnOf(ctx, caller, sessionID, turnID)
	if err != nil {
		return nil, false, err
	}
	anchor := orig.ParentMessageID
	if u, err := s.Store.MessageOf(ctx, caller, sessionID, models.MessageID(orig.ID, models.RoleUser, 0, "")); err == nil {
		anchor = &u.ID
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, false, err
	}
	if anchor == nil {
		return nil, false, models.Errorf(models.ErrConflict, "NOTHING_TO_ANSWER", "this turn answered no message")
	}
	return s.Post(ctx, caller, Message{SessionID: sessionID, Continue: true, IdempotencyKey: idempotencyKey,
		Branch: store.Branch{At: true, Anchor: anchor, Active: anchor}})
}

// Edit starts a turn on a new branch: content is a new user message in place of messageID (a
// sibling of it, after the same message), and the new branch becomes the active one. Only a
// user's message can be edited; like Post it takes an idempotency key and is a 409 while a turn of
// the session runs.
func (s *Service) Edit(ctx context.Context, caller models.Caller, sessionID, messageID uuid.UUID, content, idempotencyKey string) (*models.Turn, bool, error) {
	m, err := s.Store.MessageOf(ctx, caller, sessionID, messageID)
	if err != nil {
		return nil, false, err
	}
	if m.Role != models.RoleUser {
		return nil, false, models.Invalid("message_id", "only a user message can be edited; regenerate the turn to get another answer")
	}
	return s.Post(ctx, caller, Message{SessionID: sessionID, Content: content, IdempotencyKey: idempotencyKey,
		Branch: store.Branch{At: true, Anchor: m.ParentID}})
}
