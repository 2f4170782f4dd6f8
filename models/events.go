package models

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
	EventRunCompleted = "run.completed"
	EventRunFailed    = "run.failed"
	EventRunCancelled = "run.cancelled"
)
