package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/youworker/youworker/account"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

// accountExporter writes an account's export (account.Exporter).
type accountExporter interface {
	Write(ctx context.Context, caller models.Caller, u *models.User, w io.Writer, sh account.Shapes) error
}

// accountCloser starts deleting an account (account.Closer).
type accountCloser interface {
	Close(ctx context.Context, caller models.Caller) (workflowID string, err error)
}

// exportAccount streams everything the caller owns as one JSON document (a download): profile,
// groups, API keys (never secrets), sessions with their messages decrypted, tool runs, documents with
// their text, and the caller's audit log.
func (s *Server) exportAccount(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	u, err := s.store.UserByID(ctx, caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "account.export", "user", caller.UserID.String(), nil)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="youworker-export-%s.json"`, u.ID))
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	// One consistent snapshot, streamed page by page (account.Exporter), in the API's shapes.
	if err := s.exporter.Write(ctx, caller, u, c.Writer, s.exportShapes()); err != nil {
		s.log.ErrorContext(ctx, "account export failed midway", "user_id", caller.UserID, "error", err)
	}
}

// exportShapes are the API's JSON shapes, for the account export.
func (s *Server) exportShapes() account.Shapes {
	return account.Shapes{
		User:  func(u *models.User) any { return toUserJSON(u) },
		Group: func(g store.GroupRole) any { return userGroupJSON{ID: g.ID, Name: g.Name, Role: g.Role} },
		APIKey: func(k *models.APIKey) any {
			return toAPIKeyJSON(k)
		},
		Session: s.exportSession,
		Message: s.exportMessage,
		ToolRun: func(r *models.ToolRun) (any, error) {
			j := toToolRunJSON(r)
			if len(r.Arguments) > 0 {
				raw, err := s.box.Decrypt(store.ToolRunArguments(r.TurnID, r.CallID), r.Arguments)
				if err != nil {
					return nil, err
				}
				if err := json.Unmarshal(raw, &j.Arguments); err != nil {
					return nil, fmt.Errorf("tool run %s: arguments: %w", r.ID, err)
				}
			}
			return j, nil
		},
		Document: func(c models.Caller, d *models.Document) any { return toDocumentJSON(c, d) },
		Audit:    func(a []models.AuditEntry) any { return toAuditJSON(a) },
	}
}

// exportSessionJSON is a session as the export shows it: the API's shape plus the client-side
// functions and the response format an OpenAI-compatible client gave it (stored encrypted; the
// API shows them nowhere else).
type exportSessionJSON struct {
	sessionJSON
	ClientTools    []models.ClientTool `json:"client_tools,omitempty"`
	ResponseFormat json.RawMessage     `json:"response_format,omitempty"`
}

func (s *Server) exportSession(c models.Caller, cs *models.ChatSession) (any, error) {
	j, err := s.toSessionJSON(c, cs)
	if err != nil {
		return nil, err
	}
	tools, err := store.OpenClientTools(s.box, cs.ID, cs.ClientTools)
	if err != nil {
		return nil, err
	}
	format, err := store.OpenResponseFormat(s.box, cs.ID, cs.ResponseFormat)
	return exportSessionJSON{sessionJSON: j, ClientTools: tools, ResponseFormat: format}, err
}

// exportMessageJSON is a message as the export shows it: the API's shape plus the images sent
// with it (each the image's bytes, base64), which the session view leaves out for size.
type exportMessageJSON struct {
	messageJSON
	Images [][]byte `json:"images,omitempty"`
}

func (s *Server) exportMessage(m *models.Message) (any, error) {
	j, err := s.toMessageJSON(m)
	if err != nil {
		return nil, err
	}
	images, err := store.OpenImages(s.box, m.ID, m.Images)
	return exportMessageJSON{messageJSON: j, Images: images}, err
}

func (s *Server) deleteAccount(c *gin.Context) {
	caller := callerOf(c)
	// The deletion is a workflow (resumable, visible in the Temporal UI): cancelling turns and
	// stopping ingestion runs can take a while, and no step may be left half done.
	id, err := s.closer.Close(c.Request.Context(), caller)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeAudit(c, &models.AuditEntry{ActorID: &caller.UserID, Action: "account.delete", ResourceType: "user", ResourceID: caller.UserID.String(),
		Details: map[string]any{"username": caller.Username, "workflow_id": id}, Outcome: "success"})
	s.clearAuthCookies(c)
	c.JSON(http.StatusAccepted, gin.H{"status": "deleting", "workflow_id": id})
}
