// Package spec is the contract between the workflows and the activities: the activities' names
// and the types that cross the boundary (inputs, results, error types). Workflows use it instead
// of importing the activities, so the workflow code (and the API, which starts workflows) does not
// depend on the store, Ollama or the other things the activities use.
package spec

import (
	"time"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/toolbox"
)

// LLMInput asks for the assistant message of one step of a turn.
type LLMInput struct {
	TurnRef
	Step  int
	Model string
	Tools []toolbox.Tool
	// Options are sampling options passed to Ollama as they are (ChatTurnInput.Options).
	Options map[string]any `json:",omitempty"`
	// LoadContext asks the activity to resolve the turn's model and tools itself and to announce
	// the turn (turn.started) with step.started; LLMResult.Context returns what it found. The
	// first step of a turn does this, so the first workflow task schedules the model call at once.
	LoadContext bool
	// Finish asks the activity to finish the turn itself when the model answers without tools:
	// the answer, the turn's outcome and turn.completed go out in the statement that stores the
	// answer (LLMResult.Finished), so the workflow has nothing left to write.
	Finish bool
	// PromptTokens and CompletionTokens are the turn's usage before this step (for Finish).
	PromptTokens, CompletionTokens int
}

// LLMResult is the outcome of one LLM step.
type LLMResult struct {
	MessageID        uuid.UUID
	ToolCalls        []ToolCallRef
	PromptTokens     int
	CompletionTokens int
	DoneReason       string
	// Context is the turn's context, when LLMInput.LoadContext asked for it.
	Context *LoadContextResult
	// MessageAnnounced reports that the answer (no tool calls) went out as the message event
	// with step.finished, so finishing the turn need not read it back.
	MessageAnnounced bool
	// Finished reports that this call finished the turn (LLMInput.Finish): completed, with
	// turn.completed appended; or failed with ErrorCode (BUDGET_EXCEEDED: the budget ran out
	// during the answer, which is kept), with turn.failed appended.
	Finished  bool
	ErrorCode string `json:",omitempty"`
	// Tainted reports that the conversation the model read holds untrusted content (the output of
	// a tool whose output is not the platform's own: web pages, documents, a registered server):
	// its tool calls may follow instructions planted there, so every outbound one waits for the
	// user's approval. Always false unless LLM.TaintApproval.
	Tainted bool
}

// ToolResult is the outcome of a call; its content stays in Postgres (encrypted).
type ToolResult struct {
	Status    string
	Bytes     int
	Truncated bool
}

// SliceInput is a range of chunks [From, To) of a document of Total chunks.
type SliceInput struct {
	RunRef
	From, To, Total int
	// Announce: the activity announces its stage (embed, index) first, as BeginStage does: the
	// first slice of each stage of runs whose activities announce their stages.
	Announce bool
}

// ToolOutcome records a tool call that did not run or did not finish: the model sees Text as the
// tool's result, the run is recorded with Status.
type ToolOutcome struct {
	TurnRef
	Step   int
	CallID string
	Tool   string
	Status string // models.ToolDenied, ToolFailed, ToolTimedOut, ToolCancelled
	Text   string
}

// PrepareResult is what the fetch, extract and chunk stages found.
type PrepareResult struct {
	DuplicateOf *uuid.UUID // identical content the owner already has ready in the same scope
	Chunks      int
}

// ToolCallRef is a tool call the model made; its arguments stay in Postgres (encrypted).
type ToolCallRef struct {
	CallID string
	Name   string
}

// IndexResult reports the embedding dimension the slice was indexed with.
type IndexResult struct {
	Dim int
}

// AccountInput names the account being deleted.
type AccountInput struct {
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
}

// FinishRunInput is how the workflow ended a run.
type FinishRunInput struct {
	RunRef
	Status      string // models.RunCompleted, RunFailed, RunCancelled
	ErrorCode   string
	Message     string
	Chunks      int
	DuplicateOf *uuid.UUID
}

// FinishInput is how the workflow ended a turn.
type FinishInput struct {
	TurnRef
	Outcome   models.TurnOutcome
	MessageID uuid.UUID // the final assistant message, when completed or cancelled with a partial answer
	// MessageAnnounced: the LLM activity announced MessageID already (LLMResult.MessageAnnounced).
	MessageAnnounced bool
}

// ToolInput is one tool call of a turn. The arguments are read from the stored assistant message.
type ToolInput struct {
	TurnRef
	Step   int
	CallID string
	Server string
	Tool   string
}

// RunRef identifies an ingestion run and its document.
type RunRef struct {
	RunID      uuid.UUID
	DocumentID uuid.UUID
	OwnerID    uuid.UUID
}

// LoadContextResult is what the workflow needs to run the agent loop. Message content is not in
// it: the LLM activity reads the history itself, so plaintext stays out of workflow history.
type LoadContextResult struct {
	Model string
	// Tools are the tools the session allows that the catalog offers now.
	Tools []toolbox.Tool
	// Unavailable lists allowed tools no server offers at the moment.
	Unavailable []string
}

// ApprovalRequest announces a tool call that waits for the user.
type ApprovalRequest struct {
	TurnRef
	Step      int
	CallID    string
	Tool      string
	ExpiresAt time.Time
	Reason    string // why the call needs approval: "policy" or "untrusted_content"
}

// TurnRef identifies a turn.
type TurnRef struct {
	TurnID    uuid.UUID
	SessionID uuid.UUID
	UserID    uuid.UUID
	// StartedAt is when the turn's workflow started, for the turn duration and time-to-first-token
	// metrics; zero in inputs recorded before it existed (no figure then).
	StartedAt time.Time `json:",omitzero"`
}

// ReapResult is what one reaper run did.
type ReapResult struct {
	Reaped int // turns failed with TURN_LOST
}

// ProbeResult is what a worker reports to the Probe workflow.
type ProbeResult struct {
	Host           string `json:"host"`
	PostgresOK     bool   `json:"postgres_ok"`
	PostgresError  string `json:"postgres_error,omitempty"`
	PostgresMillis int64  `json:"postgres_ms"`
}

// StageInput announces a stage.
type StageInput struct {
	RunRef
	Stage string
	// Progress, when set, goes with the stage event.
	Done, Total int
}

// RekeyResult is a batch's outcome; Next is nil when the table is done.
type RekeyResult struct {
	Next      []string
	Scanned   int
	Rewritten int
}

// RekeyInput is one batch of one table.
type RekeyInput struct {
	Table string   // a store.SealedTables name, or "document_blobs" for extracted texts
	After []string // cursor; nil = from the start
	Limit int
}

// FetchResult says what the fetch stage found.
type FetchResult struct {
	DuplicateOf *uuid.UUID // identical content the owner already has ready in the same scope
}

// Error types of the activities' non-retryable failures; the workflows branch on them.
const (
	ErrTypeBadDocument      = "BAD_DOCUMENT"     // corrupt, encrypted, empty: never retried
	ErrTypeUnsupported      = "UNSUPPORTED_TYPE" // unknown media type: never retried
	ErrTypeNoAudio          = "AUDIO_NOT_CONFIGURED"
	ErrTypeFetchBlocked     = "FETCH_BLOCKED" // the SSRF guard refused the URL
	ErrTypeFetchFailed      = "FETCH_FAILED"
	ErrTypeEmbedFailed      = "EMBEDDING_UNAVAILABLE"
	ErrTypeLLMUnavailable   = "LLM_UNAVAILABLE"
	ErrTypeLLMModelNotFound = "LLM_MODEL_NOT_FOUND"
	ErrTypeLLMBadRequest    = "LLM_BAD_REQUEST"
	ErrTypeToolRejected     = "TOOL_REJECTED"
)

// The activities' names, as the worker registers them (the method names of the activities'
// structs): the workflows schedule activities by these.
const (
	AuditAccountDeletion = "AuditAccountDeletion"
	BeginStage           = "BeginStage"
	CallTool             = "CallTool"
	CancelAccountTurns   = "CancelAccountTurns"
	Chunk                = "Chunk"
	DeleteAccountData    = "DeleteAccountData"
	Embed                = "Embed"
	EmbedAndIndex        = "EmbedAndIndex"
	Extract              = "Extract"
	Fetch                = "Fetch"
	FinishRun            = "FinishRun"
	FinishTurn           = "FinishTurn"
	Generate             = "Generate"
	Index                = "Index"
	LoadContext          = "LoadContext"
	LockAccount          = "LockAccount"
	Prepare              = "Prepare"
	Probe                = "Probe"
	ReapLostTurns        = "ReapLostTurns"
	RecordToolOutcome    = "RecordToolOutcome"
	ReencryptBatch       = "ReencryptBatch"
	RequestApproval      = "RequestApproval"
	Resume               = "Resume"
)

// OCRProgress is the heartbeat detail of an extraction OCRing a scanned PDF, page by page (the
// pending activity's "last heartbeat details" in the Temporal UI). The pages done are kept in
// Postgres; a retry resumes from there, not from this detail.
type OCRProgress struct {
	Stage      string `json:"stage"`
	PagesDone  int    `json:"pages_done"`
	PagesTotal int    `json:"pages_total"`
	LastPage   int    `json:"last_page"`
}
