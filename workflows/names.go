// Package workflows holds YouWorker's Temporal workflows, their input and output types, and the
// names shared with the API and the worker: task queues, queries, signals and workflow ids.
// Workflow code here is deterministic; `make lint` runs workflowcheck over it.
package workflows

// DefaultTaskQueue is the task queue of the YouWorker worker unless TEMPORAL_TASK_QUEUE says otherwise.
const DefaultTaskQueue = "youworker"

// Custom search attributes set on YouWorker workflows so operators can list runs per user,
// group, session, document, model and status in the Temporal UI. They are registered on the dev
// server by `make dev` and the test harness, and by `youworker migrate up` in production (see
// docs/operations.md, "Finding a user's runs"). Their values are ids and statuses, never content.
const (
	AttrUserID    = "YwUserId"
	AttrGroupID   = "YwGroupId" // turns of a group's sessions, ingestions of a group's documents
	AttrSessionID = "YwSessionId"
	AttrModel     = "YwModel"
	AttrStatus    = "YwStatus"
	AttrDocument  = "YwDocumentId"
)

// SearchAttributes maps each custom search attribute onto its Temporal type.
func SearchAttributes() map[string]string {
	return map[string]string{
		AttrUserID:    "Keyword",
		AttrGroupID:   "Keyword",
		AttrSessionID: "Keyword",
		AttrModel:     "Keyword",
		AttrStatus:    "Keyword",
		AttrDocument:  "Keyword",
	}
}

// Query and signal names of ChatTurn.
const (
	QueryProgress  = "progress"
	SignalCancel   = "cancel"
	SignalApprove  = "approve"
	ChatTurnName   = "ChatTurn"
	ChatTurnPrefix = "chat-turn"
)

// ChatTurnID is the workflow id of a turn: derived from the session and the turn, so the same
// turn can never start twice.
func ChatTurnID(sessionID, turnID string) string {
	return ChatTurnPrefix + "/" + sessionID + "/" + turnID
}

// IngestDocument names.
const (
	IngestPrefix     = "ingest"
	QueryRunProgress = "progress"
	SignalCancelRun  = "cancel"
)

// IngestID is the workflow id of an ingestion run.
func IngestID(runID string) string { return IngestPrefix + "/" + runID }
