package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// event is one turn event before it is sealed: key makes the write idempotent.
type event struct {
	key  string
	typ  string
	data any
}

// eventLog appends sealed events to a turn's or a run's log (the SSE side channel).
type eventLog struct {
	store *store.Store
	box   *encryption.Box
	log   store.EventLog // zero value: the turn log
}

func (l eventLog) emit(ctx context.Context, id uuid.UUID, events ...event) error {
	return l.emitWith(ctx, id, nil, events...)
}

// emitWith appends events, storing msg (when set) in the same statement (turn logs only).
func (l eventLog) emitWith(ctx context.Context, id uuid.UUID, msg *models.Message, events ...event) error {
	rows, err := l.seal(id, events...)
	if err != nil {
		return err
	}
	if msg != nil {
		return l.store.PutMessageWithEvents(ctx, msg, rows)
	}
	_, err = l.store.AppendEvents(ctx, l.which(), id, rows)
	return err
}

// which is the log appended to.
func (l eventLog) which() store.EventLog {
	if l.log == (store.EventLog{}) {
		return store.TurnLog
	}
	return l.log
}

// finishWith stores msg, the final message of its turn, finishes the turn with outcome o and
// appends events, in one statement; it reports whether this call finished the turn.
func (l eventLog) finishWith(ctx context.Context, msg *models.Message, o models.TurnOutcome, events ...event) (bool, error) {
	if msg.TurnID == nil {
		return false, fmt.Errorf("message %s has no turn", msg.ID)
	}
	rows, err := l.seal(*msg.TurnID, events...)
	if err != nil {
		return false, err
	}
	return l.store.FinishTurnWithMessage(ctx, msg, o, time.Now().UTC(), rows)
}

// terminalEvent is the one event that ends a turn (models.Terminal).
func terminalEvent(turnID uuid.UUID, o models.TurnOutcome) event {
	typ, data := models.Terminal(turnID, o)
	return event{key: models.TerminalKey, typ: typ, data: data}
}

// seal encodes and encrypts events of the log of parent id into log rows, each bound to its key.
func (l eventLog) seal(id uuid.UUID, events ...event) ([]models.Event, error) {
	rows := make([]models.Event, 0, len(events))
	for _, e := range events {
		b, err := json.Marshal(e.data)
		if err != nil {
			return nil, fmt.Errorf("encode %s event: %w", e.typ, err)
		}
		sealed, err := l.box.Encrypt(l.which().EventData(id, e.key), b)
		if err != nil {
			return nil, err
		}
		rows = append(rows, models.Event{Key: e.key, Type: e.typ, Data: sealed})
	}
	return rows, nil
}

// messageEvent announces a stored message of a turn (the final answer, or a cancelled partial one).
func messageEvent(id uuid.UUID, role, content, status string) event {
	return event{key: "message", typ: models.EventMessage, data: map[string]any{
		"message_id": id, "role": role, "content": content, "status": status,
	}}
}
