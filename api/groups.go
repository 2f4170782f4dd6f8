package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

type groupJSON struct {
	ID          uuid.UUID         `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Role        models.Role       `json:"role,omitempty"`
	Members     []groupMemberJSON `json:"members,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

type groupMemberJSON struct {
	UserID   uuid.UUID   `json:"user_id"`
	Username string      `json:"username"`
	Role     models.Role `json:"role"`
}

func toGroupJSON(c models.Caller, g *models.Group) groupJSON {
	return groupJSON{ID: g.ID, Name: g.Name, Description: g.Description, Role: c.Groups[g.ID], CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

type createGroupRequest struct {
	Name        string `json:"name" binding:"required,min=1,max=128"`
	Description string `json:"description" binding:"max=2000"`
}

func (s *Server) createGroup(c *gin.Context) {
	caller := callerOf(c)
	var req createGroupRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	g := &models.Group{Name: strings.TrimSpace(req.Name), Description: req.Description}
	if g.Name == "" {
		s.fail(c, models.Invalid("name", "name must not be blank"))
		return
	}
	if err := s.store.CreateGroup(c.Request.Context(), caller, g); err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, g.ID, "group.create", "group", g.ID.String(), map[string]any{"name": g.Name})
	out := toGroupJSON(caller, g)
	out.Role = models.RoleAdmin
	c.JSON(http.StatusCreated, out)
}

func (s *Server) myGroups(c *gin.Context) {
	caller := callerOf(c)
	groups, err := s.store.GroupsOf(c.Request.Context(), caller.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]groupJSON, 0, len(groups))
	for _, g := range groups {
		j := toGroupJSON(caller, &g.Group)
		j.Role = g.Role
		out = append(out, j)
	}
	c.JSON(http.StatusOK, newList(out, nil))
}

func (s *Server) getGroup(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	g, err := s.store.Group(c.Request.Context(), caller, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	members, err := s.store.GroupMembers(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := toGroupJSON(caller, g)
	out.Members = make([]groupMemberJSON, 0, len(members))
	for _, m := range members {
		out.Members = append(out.Members, groupMemberJSON{UserID: m.UserID, Username: m.Username, Role: m.Role})
	}
	c.JSON(http.StatusOK, out)
}

type updateGroupRequest struct {
	Name        *string `json:"name" binding:"omitempty,min=1,max=128"`
	Description *string `json:"description" binding:"omitempty,max=2000"`
}

func (s *Server) updateGroup(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req updateGroupRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	g, err := s.store.UpdateGroup(c.Request.Context(), caller, id, req.Name, req.Description)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, id, "group.update", "group", id.String(), nil)
	c.JSON(http.StatusOK, toGroupJSON(caller, g))
}

func (s *Server) deleteGroup(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.DeleteGroup(c.Request.Context(), caller, id); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "group.delete", "group", id.String(), nil)
	c.Status(http.StatusNoContent)
}

type addMemberRequest struct {
	UserID   *uuid.UUID  `json:"user_id"`
	Username string      `json:"username" binding:"max=64"`
	Role     models.Role `json:"role" binding:"required,oneof=admin member"`
}

func (s *Server) addMember(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req addMemberRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	var userID uuid.UUID
	switch {
	case req.UserID != nil && req.Username != "":
		s.fail(c, models.Invalid("user_id", "send user_id or username, not both"))
		return
	case req.UserID != nil:
		userID = *req.UserID
	case req.Username != "":
		if userID, err = s.store.UserIDByName(ctx, req.Username); err != nil {
			s.fail(c, err)
			return
		}
	default:
		s.fail(c, models.Invalid("user_id", "user_id or username is required"))
		return
	}
	if err := s.store.AddMember(ctx, caller, id, userID, req.Role); err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, id, "group.member.add", "user", userID.String(), map[string]any{"role": req.Role})
	c.JSON(http.StatusCreated, gin.H{"group_id": id, "user_id": userID, "role": req.Role})
}

type memberRoleRequest struct {
	Role models.Role `json:"role" binding:"required,oneof=admin member"`
}

func memberPath(c *gin.Context) (uuid.UUID, uuid.UUID, error) {
	gid, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	uid, err := pathID(c, "user_id", "MEMBER", "member")
	return gid, uid, err
}

func (s *Server) setMemberRole(c *gin.Context) {
	caller := callerOf(c)
	gid, uid, err := memberPath(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req memberRoleRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.SetMemberRole(c.Request.Context(), caller, gid, uid, req.Role); err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, gid, "group.member.role", "user", uid.String(), map[string]any{"role": req.Role})
	c.JSON(http.StatusOK, gin.H{"group_id": gid, "user_id": uid, "role": req.Role})
}

func (s *Server) removeMember(c *gin.Context) {
	caller := callerOf(c)
	gid, uid, err := memberPath(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.RemoveMember(c.Request.Context(), caller, gid, uid); err != nil {
		s.fail(c, err)
		return
	}
	s.auditGroup(c, gid, "group.member.remove", "user", uid.String(), nil)
	c.Status(http.StatusNoContent)
}

type auditJSON struct {
	ID           int64          `json:"id"`
	ActorID      *uuid.UUID     `json:"actor_id"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	GroupID      *uuid.UUID     `json:"group_id"`
	Outcome      string         `json:"outcome"`
	IP           string         `json:"ip"`
	RequestID    string         `json:"request_id"`
	Details      map[string]any `json:"details"`
	CreatedAt    time.Time      `json:"created_at"`
}

func auditPage(c *gin.Context) (store.AuditPage, error) {
	limit, err := limitOf(c)
	if err != nil {
		return store.AuditPage{}, err
	}
	p := store.AuditPage{Limit: limit}
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return p, models.Invalid("cursor", "cursor is malformed")
		}
		p.Before = n
	}
	return p, nil
}

func writeAudit(c *gin.Context, entries []models.AuditEntry, limit int) {
	var next *string
	if len(entries) > limit {
		entries = entries[:limit]
		cur := strconv.FormatInt(entries[limit-1].ID, 10)
		next = &cur
	}
	c.JSON(http.StatusOK, list[auditJSON]{Items: toAuditJSON(entries), NextCursor: next})
}

func toAuditJSON(entries []models.AuditEntry) []auditJSON {
	out := make([]auditJSON, 0, len(entries))
	for _, e := range entries {
		d := map[string]any(e.Details)
		if d == nil {
			d = map[string]any{}
		}
		out = append(out, auditJSON{ID: e.ID, ActorID: e.ActorID, Action: e.Action, ResourceType: e.ResourceType,
			ResourceID: e.ResourceID, GroupID: e.GroupID, Outcome: e.Outcome, IP: e.IP, RequestID: e.RequestID, Details: d, CreatedAt: e.CreatedAt})
	}
	return out
}

func (s *Server) groupAudit(c *gin.Context) {
	id, err := pathID(c, "id", "GROUP", "group")
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := auditPage(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	entries, err := s.store.GroupAudit(c.Request.Context(), callerOf(c), id, page)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeAudit(c, entries, page.Limit)
}

func (s *Server) accountAudit(c *gin.Context) {
	page, err := auditPage(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	entries, err := s.store.AccountAudit(c.Request.Context(), callerOf(c), page)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeAudit(c, entries, page.Limit)
}
