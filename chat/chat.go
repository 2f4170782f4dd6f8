// Package chat holds what the chat-turn lifecycle shares between the API and the worker: the
// event that ends a turn, and the reaper that finishes turns whose workflow is gone.
package chat

import (
	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// TerminalKey is the event-log key of a turn's terminal event: whoever writes it (the workflow,
// the API, the reaper), a turn has at most one.
const TerminalKey = "terminal"

// Terminal is the one event that ends a turn: turn.completed, turn.failed or turn.cancelled, with
// the outcome's summary.
func Terminal(turnID uuid.UUID, o models.TurnOutcome) (typ string, data map[string]any) {
	data = map[string]any{"turn_id": turnID, "status": o.Status, "steps": o.Steps,
		"usage": map[string]int{"prompt_tokens": o.PromptTokens, "completion_tokens": o.CompletionTokens}}
	typ = models.EventTurnCompleted
	switch o.Status {
	case models.TurnFailed:
		typ = models.EventTurnFailed
		data["error"] = map[string]string{"code": o.ErrorCode, "message": o.ErrorMessage}
	case models.TurnCancelled:
		typ = models.EventTurnCancelled
	}
	return typ, data
}
