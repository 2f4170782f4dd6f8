// Package policy makes every authorization decision of YouWorker: who may read, use, change or
// delete an object, and who may administer a group. The store's SQL scopes (what a list shows)
// implement the same rules as Allow; the table-driven tests pin both.
package policy

import (
	"strings"

	"github.com/google/uuid"

	"github.com/youworker/youworker/models"
)

// Action is what a caller wants to do.
type Action string

const (
	Read   Action = "read"   // see it (a session with its messages, a document, a run, a tool server)
	Use    Action = "use"    // act with it (send a message in a session, call a server's tools)
	Update Action = "update" // change it
	Delete Action = "delete" // delete it (also: cancel a run)

	// Group actions.
	ViewGroup     Action = "group.view"      // see the group and its members
	ManageGroup   Action = "group.manage"    // rename, delete
	ManageMembers Action = "group.members"   // add, remove, change roles
	ViewAudit     Action = "group.audit"     // read the group's audit log
	ViewAnalytics Action = "group.analytics" // read the group's usage analytics (tokens, tools, ingestion)
	ShareToGroup  Action = "group.share"     // put one's own object into the group
)

// Object is a user-owned object that may belong to a group.
type Object struct {
	OwnerID uuid.UUID
	GroupID *uuid.UUID
}

// Allow decides an action on an object: owners may do anything; members of the object's group may
// read and use it; only group admins may change or delete what members shared.
func Allow(c models.Caller, o Object, a Action) bool {
	if c.UserID == uuid.Nil {
		return false
	}
	if o.OwnerID == c.UserID {
		return a == Read || a == Use || a == Update || a == Delete
	}
	if o.GroupID == nil {
		return false
	}
	role, member := c.Groups[*o.GroupID]
	switch a {
	case Read, Use:
		return member
	case Update, Delete:
		return member && role == models.RoleAdmin
	}
	return false
}

// AllowGroup decides an action on a group: members view it and share into it; admins manage it,
// its members and read its audit log and analytics.
func AllowGroup(c models.Caller, groupID uuid.UUID, a Action) bool {
	role, member := c.Groups[groupID]
	if c.UserID == uuid.Nil || !member {
		return false
	}
	switch a {
	case ViewGroup, ShareToGroup:
		return true
	case ManageGroup, ManageMembers, ViewAudit, ViewAnalytics:
		return role == models.RoleAdmin
	}
	return false
}

// ToolRules are the operator's approval rules for tool calls (TOOLS_REQUIRE_APPROVAL,
// TOOLS_AUTO_APPROVE). Names are the tools' names as the model sees them; "*" in AutoApprove
// stands for every tool.
type ToolRules struct {
	Require     []string
	AutoApprove []string
}

// Tool is what the rules look at: the tool's name, whether its server asks for approval, and
// whether the tool is outbound (it may send data out or change something: see toolbox.Tool).
type Tool struct {
	Name           string
	ServerRequires bool
	Outbound       bool
}

// NeedsApproval decides whether a call of t waits for the user's approval: the operator's list or
// the server says so, or the tool is outbound and the operator did not auto-approve it. Read-only,
// closed-world tools run without asking. On top of these rules, once a conversation holds
// untrusted content every outbound call waits for the user, auto-approved or not (the taint rule,
// applied by the ChatTurn workflow).
func (r ToolRules) NeedsApproval(t Tool) bool {
	if t.ServerRequires || listed(r.Require, t.Name) {
		return true
	}
	return t.Outbound && !listed(r.AutoApprove, t.Name) && !listed(r.AutoApprove, "*")
}

func listed(list []string, name string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), name) {
			return true
		}
	}
	return false
}
