package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
)

// ToolApprovals decodes a server's tool map.
func ToolApprovals(srv *models.MCPServer) map[string]models.ToolApproval {
	out := map[string]models.ToolApproval{}
	b, _ := json.Marshal(srv.Tools)
	_ = json.Unmarshal(b, &out)
	return out
}

func encodeApprovals(m map[string]models.ToolApproval) models.JSONMap {
	b, _ := json.Marshal(m)
	var out models.JSONMap
	_ = json.Unmarshal(b, &out)
	return out
}

// errNotGroupAdmin refuses a member who would decide for a whole group which tool server its
// members' turns may call.
var errNotGroupAdmin = models.Errorf(models.ErrForbidden, "GROUP_ADMIN_REQUIRED",
	"only an admin of the group may register a tool server for it or approve its tools")

// CreateMCPServer registers a server for the caller. A group server needs a group admin: its tools
// are offered in every member's turns.
func (s *Store) CreateMCPServer(ctx context.Context, c models.Caller, srv *models.MCPServer, tools map[string]models.ToolApproval) error {
	if srv.GroupID != nil && !policy.AllowGroup(c, *srv.GroupID, policy.ViewGroup) {
		return models.NotFound("GROUP", "group")
	}
	if srv.GroupID != nil && !policy.AllowGroup(c, *srv.GroupID, policy.ManageGroup) {
		return errNotGroupAdmin
	}
	srv.ID, srv.OwnerID, srv.Enabled, srv.Tools = uuid.New(), &c.UserID, true, encodeApprovals(tools)
	err := translate(s.q(ctx).Create(srv).Error)
	if errors.Is(err, models.ErrConflict) {
		return models.Errorf(models.ErrConflict, "MCP_SERVER_NAME_TAKEN", "you already have a tool server with that name").Wrap(err)
	}
	return err
}

// MCPServers lists the registered servers the caller may use (theirs and their groups').
func (s *Store) MCPServers(ctx context.Context, c models.Caller) ([]models.MCPServer, error) {
	var out []models.MCPServer
	err := s.q(ctx).Scopes(visibleTo(c, "mcp_servers")).Where("NOT builtin").Order("name, id").Find(&out).Error
	return out, translate(err)
}

// MCPServer returns a registered server the caller may use.
func (s *Store) MCPServer(ctx context.Context, c models.Caller, id uuid.UUID) (*models.MCPServer, error) {
	var srv models.MCPServer
	err := s.q(ctx).Scopes(visibleTo(c, "mcp_servers")).Where("id = ? AND NOT builtin", id).Take(&srv).Error
	if err != nil {
		return nil, notFound(translate(err), "MCP_SERVER", "tool server")
	}
	return &srv, nil
}

func (s *Store) mcpServerForChange(ctx context.Context, c models.Caller, id uuid.UUID) (*models.MCPServer, error) {
	srv, err := s.MCPServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !policy.Allow(c, policy.Object{OwnerID: *srv.OwnerID, GroupID: srv.GroupID}, policy.Update) {
		return nil, models.Errorf(models.ErrForbidden, "FORBIDDEN", "only the owner or a group admin may change this tool server")
	}
	return srv, nil
}

// DeleteMCPServer deletes a registered server (owner or group admin).
func (s *Store) DeleteMCPServer(ctx context.Context, c models.Caller, id uuid.UUID) error {
	if _, err := s.mcpServerForChange(ctx, c, id); err != nil {
		return err
	}
	return translate(s.q(ctx).Delete(&models.MCPServer{}, "id = ?", id).Error)
}

// ApproveTool accepts a tool's changed (or new) description, the one whose hash the caller names:
// a description that changed again since the caller read it is a conflict, never approved unseen.
// A personal server's owner approves; a group server's tools need a group admin. Approving the
// description already approved changes nothing.
func (s *Store) ApproveTool(ctx context.Context, c models.Caller, id uuid.UUID, tool, sha256 string) (*models.MCPServer, error) {
	srv, err := s.mcpServerForChange(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if srv.GroupID != nil && !policy.AllowGroup(c, *srv.GroupID, policy.ManageGroup) {
		return nil, errNotGroupAdmin
	}
	err = s.InTx(ctx, func(tx *Store) error {
		var cur models.MCPServer
		if err := tx.q(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&cur).Error; err != nil {
			return err
		}
		tools := ToolApprovals(&cur)
		t, ok := tools[tool]
		switch {
		case !ok:
			return models.NotFound("TOOL", "tool")
		case t.PendingSHA256 == "" && t.ApprovedSHA256 == sha256:
			return nil
		case t.PendingSHA256 != sha256:
			return models.Errorf(models.ErrConflict, "DESCRIPTION_CHANGED",
				"the tool's pending description is not the one you approved; read it again").
				WithDetails(map[string]any{"pending_sha256": t.PendingSHA256})
		}
		t.ApprovedSHA256, t.Description, t.PendingSHA256, t.PendingText = t.PendingSHA256, t.PendingText, "", ""
		tools[tool] = t
		return tx.q(ctx).Model(&cur).Update("tools", encodeApprovals(tools)).Error
	})
	if err != nil {
		return nil, translate(err)
	}
	return s.MCPServer(ctx, c, id)
}

// NoteToolChanges records tools whose description changed (pending approval) or appeared (new
// tools are pending too: nothing a server adds later runs without its owner's consent).
func (s *Store) NoteToolChanges(ctx context.Context, id uuid.UUID, changed map[string]models.ToolApproval) error {
	if len(changed) == 0 {
		return nil
	}
	return s.InTx(ctx, func(tx *Store) error {
		var srv models.MCPServer
		if err := tx.q(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&srv).Error; err != nil {
			return err
		}
		tools := ToolApprovals(&srv)
		for name, t := range changed {
			tools[name] = t
		}
		return tx.q(ctx).Model(&srv).Update("tools", encodeApprovals(tools)).Error
	})
}

// UsableMCPServer returns a registered server if the user may use it now (worker side: read at call
// time, so a removed member loses the server's tools at once).
func (s *Store) UsableMCPServer(ctx context.Context, c models.Caller, id uuid.UUID) (*models.MCPServer, error) {
	srv, err := s.MCPServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !srv.Enabled {
		return nil, models.NotFound("MCP_SERVER", "tool server")
	}
	return srv, nil
}
