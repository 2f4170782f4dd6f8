package chat

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// Imported is a message of the history an OpenAI-style request sends, in the clear.
type Imported struct {
	Role       string
	Content    string
	Images     [][]byte
	ToolCalls  []models.ToolCall
	ToolCallID string
	ToolName   string
}

// Completion is the session an OpenAI-compatible request runs in: a new session of its own with
// the request's model, system messages, client-side functions and end user, holding the
// request's earlier messages.
type Completion struct {
	Model       string
	System      []string
	ClientTools []models.ClientTool
	// ResponseFormat is the format every answer of the session takes (Ollama's format value:
	// "json" or a JSON Schema); nil: free text.
	ResponseFormat json.RawMessage
	// OneToolCall keeps one tool call of each model message (parallel_tool_calls false).
	OneToolCall bool
	EndUser     string
	History     []Imported
}

// OpenCompletion stores the session of a completion (system prompt, client tools and response
// format sealed) and its history, and returns the session; Post then starts the turn in it.
func (s *Service) OpenCompletion(ctx context.Context, caller models.Caller, c Completion) (*models.ChatSession, error) {
	// A completion's session is personal: only the caller's budget applies, and a spent one
	// refuses the request before its session is stored (Post would refuse it after).
	if err := s.Store.CheckBudget(ctx, caller.UserID, uuid.Nil, s.Now()); err != nil {
		return nil, err
	}
	history := make([]models.Message, 0, len(c.History))
	for _, im := range c.History {
		m, err := s.sealImported(im)
		if err != nil {
			return nil, err
		}
		history = append(history, m)
	}
	cs := &models.ChatSession{ID: uuid.New(), Title: "chat completion", Model: c.Model, Tools: []string{}, EndUser: c.EndUser,
		OneToolCall: c.OneToolCall}
	if len(c.System) > 0 {
		sealed, err := s.Box.EncryptString(store.SessionPrompt(cs.ID), strings.Join(c.System, "\n\n"))
		if err != nil {
			return nil, err
		}
		cs.SystemPrompt = sealed
	}
	var err error
	if cs.ClientTools, err = store.SealClientTools(s.Box, cs.ID, c.ClientTools); err != nil {
		return nil, err
	}
	if cs.ResponseFormat, err = store.SealResponseFormat(s.Box, cs.ID, c.ResponseFormat); err != nil {
		return nil, err
	}
	if err := s.Store.CreateSession(ctx, caller, cs); err != nil {
		return nil, err
	}
	if err := s.Store.ImportMessages(ctx, cs.ID, history); err != nil {
		return nil, err
	}
	return cs, nil
}

// sealImported is the stored form of a message of a request's history.
func (s *Service) sealImported(im Imported) (models.Message, error) {
	m := models.Message{ID: uuid.New(), Role: im.Role, ToolCallID: im.ToolCallID, ToolName: im.ToolName}
	var err error
	if m.Content, err = s.Box.EncryptString(store.MessageContent(m.ID), im.Content); err != nil {
		return m, err
	}
	if len(im.ToolCalls) > 0 {
		raw, err := json.Marshal(im.ToolCalls)
		if err != nil {
			return m, err
		}
		if m.ToolCalls, err = s.Box.Encrypt(store.MessageToolCalls(m.ID), raw); err != nil {
			return m, err
		}
	}
	m.Images, err = store.SealImages(s.Box, m.ID, im.Images)
	return m, err
}
