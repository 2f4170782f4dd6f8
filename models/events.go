package models

import "github.com/google/uuid"

// Turn event types: the SSE event names of the API contract, written by the worker (and by the
// API and the reaper for turns whose workflow is gone), read by the API's streams.
const (
	EventTurnStarted      = "turn.started"
	EventStepStarted      = "step.started"
	EventStepFinished     = "step.finished"
	EventToken            = "token"
	EventToolCall         = "tool.call"
	EventToolResult       = "tool.result"
	EventApprovalRequired = "approval.required"
	EventMessage          = "message"
	EventTurnCompleted    = "turn.completed"
	EventTurnFailed       = "turn.failed"
	EventTurnCancelled    = "turn.cancelled"
)

// Ingestion run event types: the SSE event names of GET /v1/ingestion-runs/:id/events, written
// by the ingestion activities, read by the API's streams.
const (
	EventRunStarted   = "run.started"
	EventStage        = "stage"
	EventProgress     = "progress"
	EventPage         = "page" // one page of a scanned PDF OCRed
	EventRunCompleted = "run.completed"
	EventRunFailed    = "run.failed"
	EventRunCancelled = "run.cancelled"
)

// TerminalKey is the event-log key of a turn's terminal event: whoever writes it (the workflow,
// the API, the reaper), a turn has at most one.
const TerminalKey = "terminal"

// Terminal is the one event that ends a turn: turn.completed, turn.failed or turn.cancelled, with
// the outcome's summary.
func Terminal(turnID uuid.UUID, o TurnOutcome) (typ string, data map[string]any) {
	data = map[string]any{"turn_id": turnID, "status": o.Status, "steps": o.Steps,
		"usage": map[string]int{"prompt_tokens": o.PromptTokens, "completion_tokens": o.CompletionTokens}}
	typ = EventTurnCompleted
	switch o.Status {
	case TurnFailed:
		typ = EventTurnFailed
		data["error"] = map[string]string{"code": o.ErrorCode, "message": o.ErrorMessage}
	case TurnCancelled:
		typ = EventTurnCancelled
	}
	return typ, data
}
