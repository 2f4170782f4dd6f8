package api

import (
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/logging"
	"github.com/youworker/youworker/models"
)

// audit records a successful security-relevant action. A failure to write the audit log is
// logged, not returned: the action itself already happened.
func (s *Server) audit(c *gin.Context, actor *uuid.UUID, action, resourceType, resourceID string, details map[string]any) {
	s.writeAudit(c, &models.AuditEntry{ActorID: actor, Action: action, ResourceType: resourceType, ResourceID: resourceID,
		Details: details, Outcome: "success"})
}

// auditGroup records a successful action on a group, visible in the group's audit log.
func (s *Server) auditGroup(c *gin.Context, groupID uuid.UUID, action, resourceType, resourceID string, details map[string]any) {
	actor := callerOf(c).UserID
	s.writeAudit(c, &models.AuditEntry{ActorID: &actor, GroupID: &groupID, Action: action, ResourceType: resourceType,
		ResourceID: resourceID, Details: details, Outcome: "success"})
}

// auditFailure records a refused action (failed login, token reuse).
func (s *Server) auditFailure(c *gin.Context, actor *uuid.UUID, action string, details map[string]any) {
	s.writeAudit(c, &models.AuditEntry{ActorID: actor, Action: action, Details: details, Outcome: "failure"})
}

func (s *Server) writeAudit(c *gin.Context, e *models.AuditEntry) {
	ctx := c.Request.Context()
	e.IP = c.ClientIP()
	e.UserAgent = truncate(c.Request.UserAgent(), 300)
	e.RequestID = logging.RequestID(ctx)
	if err := s.store.Audit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit log write failed", "action", e.Action, "error", err)
	}
}
