package models

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Turn statuses.
const (
	TurnRunning         = "running"
	TurnWaitingApproval = "waiting_approval"
	TurnCompleted       = "completed"
	TurnFailed          = "failed"
	TurnCancelled       = "cancelled"
)

// Message roles and statuses.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleSystem    = "system"

	MessageComplete  = "complete"
	MessageCancelled = "cancelled"
)

// ChatSession is a conversation. SystemPrompt is ciphertext (encryption.Box), bound to the row.
type ChatSession struct {
	ID           uuid.UUID  `gorm:"type:uuid;primaryKey"`
	OwnerID      uuid.UUID  `gorm:"type:uuid"`
	GroupID      *uuid.UUID `gorm:"type:uuid"`
	Title        string
	Model        string
	SystemPrompt []byte
	Tools        Strings `gorm:"type:text[]"`
	// ClientTools is ciphertext (bound to the row) of the JSON []ClientTool an OpenAI-compatible
	// client offered the model; nil for sessions of the native API.
	ClientTools []byte
	// ResponseFormat is ciphertext (bound to the row) of the format an OpenAI-compatible request
	// asked the model's answers to take: Ollama's format value, "json" or a JSON Schema; nil: free text.
	ResponseFormat []byte
	// OneToolCall keeps one tool call (the first) of each model message: an OpenAI-compatible
	// request's parallel_tool_calls false.
	OneToolCall bool
	// EndUser is the OpenAI request's `user` field: the client's own id of its end user.
	EndUser string
	// ActiveMessageID is where the session's active branch is found from (store/branches.go):
	// the message last posted, regenerated from or chosen; nil: the newest first message.
	ActiveMessageID *uuid.UUID `gorm:"type:uuid"`
	LastTurnAt      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Turn is one durable agent turn (one ChatTurn workflow).
type Turn struct {
	ID               uuid.UUID `gorm:"type:uuid;primaryKey"`
	SessionID        uuid.UUID `gorm:"type:uuid"`
	UserID           uuid.UUID `gorm:"type:uuid"`
	WorkflowID       string
	IdempotencyKey   *string
	Status           string
	Model            string
	Steps            int
	PromptTokens     int
	CompletionTokens int
	ErrorCode        string
	ErrorMessage     string
	EventSeq         int64
	// ParentMessageID is the message the turn's first message follows (for a regenerated turn,
	// the user message it answers again); nil: the turn starts its session or a new first branch.
	ParentMessageID *uuid.UUID `gorm:"type:uuid"`
	StartedAt       time.Time
	FinishedAt      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Finished reports whether the turn reached a terminal status.
func (t *Turn) Finished() bool {
	return t.Status == TurnCompleted || t.Status == TurnFailed || t.Status == TurnCancelled
}

// Message is one chat message. Content and ToolCalls are ciphertext (encryption.Box), bound to the row.
type Message struct {
	ID        uuid.UUID  `gorm:"type:uuid;primaryKey"`
	Seq       int64      `gorm:"->"`
	SessionID uuid.UUID  `gorm:"type:uuid"`
	TurnID    *uuid.UUID `gorm:"type:uuid"`
	// ParentID is the message this one follows in the session's tree (nil: a first message).
	ParentID  *uuid.UUID `gorm:"type:uuid"`
	Step      int
	Role      string
	Content   []byte
	ToolCalls []byte
	// Images is ciphertext (bound to the row) of the JSON array of the message's images (raw
	// bytes, base64 in JSON); nil for a message without images.
	Images     []byte
	ToolCallID string
	ToolName   string
	Status     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Event is one entry of an event log (a turn's or an ingestion run's): the SSE stream. Data is
// ciphertext (encryption.Box) of the JSON payload, bound to the parent and the key.
type Event struct {
	Seq       int64
	Key       string
	Type      string
	Data      []byte
	CreatedAt time.Time
}

// Tool run statuses.
const (
	ToolRunning   = "running"
	ToolSucceeded = "succeeded"
	ToolFailed    = "failed"
	ToolDenied    = "denied"
	ToolTimedOut  = "timed_out"
	ToolCancelled = "cancelled"
)

// ToolRun is one tool execution of a turn. Arguments is ciphertext (encryption.Box) of JSON, bound to (turn, call).
type ToolRun struct {
	ID          uuid.UUID  `gorm:"type:uuid;primaryKey"`
	TurnID      uuid.UUID  `gorm:"type:uuid"`
	SessionID   uuid.UUID  `gorm:"type:uuid"`
	UserID      uuid.UUID  `gorm:"type:uuid"`
	ServerID    *uuid.UUID `gorm:"type:uuid"`
	Step        int
	CallID      string
	ServerName  string
	ToolName    string
	Arguments   []byte
	Status      string
	Error       string
	ResultBytes int
	StartedAt   time.Time
	FinishedAt  *time.Time
	DurationMS  *int `gorm:"column:duration_ms"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ToolCall is one tool call of an assistant message, as stored (encrypted, JSON) in
// messages.tool_calls.
type ToolCall struct {
	ID        string         `json:"id"`       // ours, unique in the turn: "<step>-<index>" (a client's own id when imported)
	ModelID   string         `json:"model_id"` // the model's own id, echoed back in the tool message
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
	// Client marks a call of a client-side function (ClientTool): the platform does not run it,
	// the turn ends and the client runs it.
	Client bool `json:"client,omitempty"`
}

// ClientTool is a function an OpenAI-compatible client offers the model (the request's tools):
// a call of it ends the turn with the call for the client to run.
type ClientTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // JSON Schema object of the arguments
}

// TrustedOutputMeta is the MCP _meta key by which a built-in tool server declares that a tool's
// output is the platform's own (the clock, a calculation), never text from outside: reading it
// does not taint a conversation. Registered servers cannot make that claim: it is ignored on them.
const TrustedOutputMeta = "youworker.dev/trusted-output"

// MessageID derives the id of a message of a turn from the turn and its place in it, so a
// retried write finds the row it wrote before.
func MessageID(turnID uuid.UUID, kind string, step int, callID string) uuid.UUID {
	return uuid.NewSHA1(turnID, fmt.Appendf(nil, "%s/%d/%s", kind, step, callID))
}

// TurnOutcome is how a turn ended.
type TurnOutcome struct {
	Status           string
	ErrorCode        string
	ErrorMessage     string
	Steps            int
	PromptTokens     int
	CompletionTokens int
}
