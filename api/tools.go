package api

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/policy"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
)

var serverNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

type mcpServerJSON struct {
	ID               uuid.UUID        `json:"id"`
	Name             string           `json:"name"`
	URL              string           `json:"url"`
	GroupID          *uuid.UUID       `json:"group_id"`
	IsOwner          bool             `json:"is_owner"`
	RequiresApproval bool             `json:"requires_approval"`
	TimeoutMS        int              `json:"timeout_ms"`
	Tools            []serverToolJSON `json:"tools"`
	CreatedAt        time.Time        `json:"created_at"`
}

type serverToolJSON struct {
	Name              string `json:"name"`
	Description       string `json:"description"`
	DescriptionSHA256 string `json:"description_sha256,omitempty"`
	Enabled           bool   `json:"enabled"`
	PendingApproval   bool   `json:"pending_approval"`
	NewDescription    string `json:"new_description,omitempty"`
	// NewDescriptionSHA256 is what an approval must name: it approves exactly this description.
	NewDescriptionSHA256 string `json:"new_description_sha256,omitempty"`
}

func toMCPServerJSON(c models.Caller, srv *models.MCPServer) mcpServerJSON {
	out := mcpServerJSON{ID: srv.ID, Name: srv.Name, URL: srv.URL, GroupID: srv.GroupID, IsOwner: srv.OwnerID != nil && *srv.OwnerID == c.UserID,
		RequiresApproval: srv.RequiresApproval, TimeoutMS: srv.TimeoutMS, CreatedAt: srv.CreatedAt, Tools: []serverToolJSON{}}
	approvals := store.ToolApprovals(srv)
	names := make([]string, 0, len(approvals))
	for n := range approvals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := approvals[n]
		out.Tools = append(out.Tools, serverToolJSON{Name: n, Description: a.Description, DescriptionSHA256: a.ApprovedSHA256,
			Enabled: a.PendingSHA256 == "" && a.ApprovedSHA256 != "", PendingApproval: a.PendingSHA256 != "",
			NewDescription: a.PendingText, NewDescriptionSHA256: a.PendingSHA256})
	}
	return out
}

type registerServerRequest struct {
	Name             string     `json:"name" binding:"required,max=63"`
	URL              string     `json:"url" binding:"required,max=2048"`
	GroupID          *uuid.UUID `json:"group_id"`
	RequiresApproval bool       `json:"requires_approval"`
	TimeoutMS        int        `json:"timeout_ms" binding:"omitempty,min=100,max=600000"`
}

// registerMCPServer registers a streamable-HTTP MCP server: the URL goes through the SSRF guard
// (unless an operator allowlisted its host), its tools are listed through the guard and their
// descriptions hashed; a later change of description disables the tool until approved again.
func (s *Server) registerMCPServer(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	var req registerServerRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if !serverNamePattern.MatchString(req.Name) {
		s.fail(c, models.Invalid("name", "name must be lower-case letters, digits, '-' or '_' (it prefixes the server's tool names)"))
		return
	}
	u, err := s.mcpGuard.CheckURL(req.URL)
	if err != nil {
		s.fail(c, models.Invalid("url", "this URL cannot be used: %v", err))
		return
	}
	timeout := req.TimeoutMS
	if timeout == 0 {
		timeout = 30000
	}
	listCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cat := toolbox.NewCatalog([]toolbox.Server{{ID: "registering", Name: req.Name, URL: u.String(), Timeout: 15 * time.Second}},
		toolbox.Options{HTTPClient: s.mcpGuard.Client(), Logger: s.log})
	defer cat.Close()
	listed, err := cat.Tools(listCtx)
	if err != nil {
		s.log.InfoContext(ctx, "registering an MCP server failed", "error", err)
		s.fail(c, models.Invalid("url", "no MCP server answered at this URL over streamable HTTP (or it is not allowed)"))
		return
	}
	if lerr := s.toolLimits.Check(listed); lerr != nil {
		s.fail(c, models.Errorf(models.ErrInvalid, "MCP_SERVER_OVER_LIMIT", "this server cannot be registered: %s", lerr.Error()).
			WithDetails(map[string]any{"tool": lerr.Tool, "limit": lerr.What, "actual": lerr.Actual, "max": lerr.Limit}))
		return
	}
	tools := map[string]models.ToolApproval{}
	for _, t := range listed {
		tools[t.Name] = models.ToolApproval{Description: t.Description, ApprovedSHA256: toolbox.DescriptionHash(t)}
	}
	srv := &models.MCPServer{Name: req.Name, URL: u.String(), GroupID: req.GroupID, RequiresApproval: req.RequiresApproval, TimeoutMS: timeout}
	if err := s.store.CreateMCPServer(ctx, caller, srv, tools); err != nil {
		s.fail(c, err)
		return
	}
	details := map[string]any{"url": srv.URL, "tools": len(tools)}
	if srv.GroupID != nil {
		s.auditGroup(c, *srv.GroupID, "mcp_server.register", "mcp_server", srv.ID.String(), details)
	} else {
		s.audit(c, &caller.UserID, "mcp_server.register", "mcp_server", srv.ID.String(), details)
	}
	c.JSON(http.StatusCreated, toMCPServerJSON(caller, srv))
}

func (s *Server) listMCPServers(c *gin.Context) {
	caller := callerOf(c)
	servers, err := s.store.MCPServers(c.Request.Context(), caller)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]mcpServerJSON, 0, len(servers))
	for i := range servers {
		out = append(out, toMCPServerJSON(caller, &servers[i]))
	}
	c.JSON(http.StatusOK, newList(out, nil))
}

func (s *Server) deleteMCPServer(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "MCP_SERVER", "tool server")
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.store.DeleteMCPServer(c.Request.Context(), caller, id); err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, &caller.UserID, "mcp_server.delete", "mcp_server", id.String(), nil)
	c.Status(http.StatusNoContent)
}

type approveToolRequest struct {
	// DescriptionSHA256 names the description approved (new_description_sha256 of the listing).
	DescriptionSHA256 string `json:"description_sha256" binding:"required,len=64,hexadecimal"`
}

// approveMCPTool accepts a registered tool's changed description: the one whose hash the request
// names (a description that changed again since is 409 DESCRIPTION_CHANGED). Group servers need a
// group admin.
func (s *Server) approveMCPTool(c *gin.Context) {
	caller := callerOf(c)
	id, err := pathID(c, "id", "MCP_SERVER", "tool server")
	if err != nil {
		s.fail(c, err)
		return
	}
	var req approveToolRequest
	if err := bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	srv, err := s.store.ApproveTool(c.Request.Context(), caller, id, c.Param("tool"), strings.ToLower(req.DescriptionSHA256))
	if err != nil {
		s.fail(c, err)
		return
	}
	details := map[string]any{"tool": c.Param("tool"), "description_sha256": strings.ToLower(req.DescriptionSHA256)}
	if srv.GroupID != nil {
		s.auditGroup(c, *srv.GroupID, "mcp_tool.approve", "mcp_server", id.String(), details)
	} else {
		s.audit(c, &caller.UserID, "mcp_tool.approve", "mcp_server", id.String(), details)
	}
	c.JSON(http.StatusOK, toMCPServerJSON(caller, srv))
}

type toolJSON struct {
	Name             string `json:"name"`
	Description      string `json:"description"`
	Server           string `json:"server"`
	ServerID         string `json:"server_id,omitempty"`
	Builtin          bool   `json:"builtin"`
	RequiresApproval bool   `json:"requires_approval"`
	// Outbound tools may send data out or change something; they need approval unless the
	// operator auto-approved them, and always once the conversation holds untrusted content.
	Outbound bool `json:"outbound"`
	// UntrustedOutput: what the tool returns may carry text from outside the platform; reading it
	// taints the conversation.
	UntrustedOutput bool `json:"untrusted_output"`
	Enabled         bool `json:"enabled"`
}

// toolCatalog is what the tool handlers need of toolbox.Catalog (a fake in their tests).
type toolCatalog interface {
	Tools(ctx context.Context) ([]toolbox.Tool, error)
}

// listTools lists the tools the caller may use: the built-in servers' and those of the registered
// servers they may use (names prefixed with the server's), with their state.
func (s *Server) listTools(c *gin.Context) {
	ctx := c.Request.Context()
	caller := callerOf(c)
	out := []toolJSON{}
	rules := s.cfg.ToolRules()
	if s.tools != nil {
		builtin, _ := s.tools.Tools(ctx)
		for _, t := range builtin {
			out = append(out, toolJSON{Name: t.Name, Description: t.Description, Server: t.Server, Builtin: true,
				RequiresApproval: rules.NeedsApproval(policy.Tool{Name: t.Name, ServerRequires: t.RequiresApproval, Outbound: t.Outbound}),
				Outbound:         t.Outbound, UntrustedOutput: t.Untrusted, Enabled: true})
		}
	}
	servers, err := s.store.MCPServers(ctx, caller)
	if err != nil {
		s.fail(c, err)
		return
	}
	for i := range servers {
		srv := toMCPServerJSON(caller, &servers[i])
		for _, t := range srv.Tools {
			name := srv.Name + toolbox.Separator + t.Name
			out = append(out, toolJSON{Name: name, Description: t.Description, Server: srv.Name, ServerID: srv.ID.String(),
				RequiresApproval: rules.NeedsApproval(policy.Tool{Name: name, ServerRequires: srv.RequiresApproval, Outbound: true}),
				Outbound:         true, UntrustedOutput: true, Enabled: t.Enabled})
		}
	}
	c.JSON(http.StatusOK, newList(out, nil))
}
