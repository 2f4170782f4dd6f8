package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// branchService is what the branch handlers need of chat.Service (a fake in their tests).
type branchService interface {
	Regenerate(ctx context.Context, caller models.Caller, sessionID, turnID uuid.UUID, idempotencyKey string) (*models.Turn, bool, error)
	Edit(ctx context.Context, caller models.Caller, sessionID, messageID uuid.UUID, content, idempotencyKey string) (*models.Turn, bool, error)
}

// regenerateTurn starts a turn that answers the same user message as the turn of the path again
// (POST /v1/sessions/:id/turns/:turn_id/regenerate): its answer is a sibling of the old one, on
// the branch that becomes the active one.
func (s *Server) regenerateTurn(c *gin.Context) {
	begun := time.Now()
	sessionID, err := pathID(c, "id", "TURN", "turn")
	if err != nil {
		s.fail(c, err)
		return
	}
	turnID, err := pathID(c, "turn_id", "TURN", "turn")
	if err != nil {
		s.fail(c, err)
		return
	}
	t, created, err := s.branches.Regenerate(c.Request.Context(), callerOf(c), sessionID, turnID, c.GetHeader("Idempotency-Key"))
	s.respondStarted(c, "regenerate", begun, t, created, err)
}

type editMessageRequest struct {
	Content string `json:"content" binding:"required"`
}

// editMessage sends a new version of a user message (POST /v1/sessions/:id/messages/:message_id/edit):
// the new message follows what the old one followed, and its turn runs on the new branch, which
// becomes the active one.
func (s *Server) editMessage(c *gin.Context) {
	begun := time.Now()
	sessionID, err := pathID(c, "id", "MESSAGE", "message")
	if err != nil {
		s.fail(c, err)
		return
	}
	messageID, err := pathID(c, "message_id", "MESSAGE", "message")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req editMessageRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	t, created, err := s.branches.Edit(c.Request.Context(), callerOf(c), sessionID, messageID, req.Content, c.GetHeader("Idempotency-Key"))
	s.respondStarted(c, "edit", begun, t, created, err)
}

// respondStarted answers a request that started (or, by its idempotency key, found) a turn like
// POST …/messages does: 202 (200 for a found turn) with the turn's ids, or its event stream.
func (s *Server) respondStarted(c *gin.Context, route string, begun time.Time, t *models.Turn, created bool, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	if created {
		s.metrics.turnStart.WithLabelValues(route).Observe(time.Since(begun).Seconds())
	}
	if wantsEventStream(c) {
		s.streamTurn(c, t.ID, 0, nil)
		return
	}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	c.JSON(status, gin.H{"turn_id": t.ID, "workflow_id": t.WorkflowID, "status": t.Status, "events_url": eventsURL(t)})
}

type activeBranchRequest struct {
	MessageID uuid.UUID `json:"message_id" binding:"required"`
}

// setActiveBranch makes the branch through a message the session's active one
// (PUT /v1/sessions/:id/active-branch): what the session shows and what the next turn continues.
func (s *Server) setActiveBranch(c *gin.Context) {
	ctx := c.Request.Context()
	sessionID, err := pathID(c, "id", "SESSION", "session")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req activeBranchRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.SetActiveMessage(ctx, callerOf(c), sessionID, req.MessageID); err != nil {
		s.fail(c, err)
		return
	}
	path, err := s.store.ActiveBranch(ctx, sessionID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, activeBranchJSON(path))
}

// branchJSON is which branch of a session is active: its messages' ids, first to last, and its
// last message (null for a session without messages).
type branchJSON struct {
	ActiveMessageID *uuid.UUID  `json:"active_message_id"`
	ActiveBranch    []uuid.UUID `json:"active_branch"`
}

func activeBranchJSON(path []uuid.UUID) branchJSON {
	out := branchJSON{ActiveBranch: path}
	if out.ActiveBranch == nil {
		out.ActiveBranch = []uuid.UUID{}
	}
	if n := len(path); n > 0 {
		out.ActiveMessageID = &path[n-1]
	}
	return out
}
