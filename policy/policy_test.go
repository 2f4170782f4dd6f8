package policy

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
)

func TestAllow(t *testing.T) {
	t.Parallel()
	owner, member, admin, outsider := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	group, otherGroup := uuid.New(), uuid.New()
	callers := map[string]models.Caller{
		"owner":          {UserID: owner, Groups: map[uuid.UUID]models.Role{group: models.RoleMember}},
		"member":         {UserID: member, Groups: map[uuid.UUID]models.Role{group: models.RoleMember}},
		"admin":          {UserID: admin, Groups: map[uuid.UUID]models.Role{group: models.RoleAdmin}},
		"outsider":       {UserID: outsider, Groups: map[uuid.UUID]models.Role{otherGroup: models.RoleAdmin}},
		"removed member": {UserID: member, Groups: map[uuid.UUID]models.Role{}},
		"anonymous":      {},
	}
	personal := Object{OwnerID: owner}
	shared := Object{OwnerID: owner, GroupID: &group}
	cases := []struct {
		subject string
		object  Object
		action  Action
		allow   bool
	}{
		{"owner", personal, Read, true}, {"owner", personal, Use, true}, {"owner", personal, Update, true}, {"owner", personal, Delete, true},
		{"member", personal, Read, false}, {"member", personal, Delete, false},
		{"admin", personal, Read, false}, {"admin", personal, Update, false},
		{"outsider", personal, Read, false},
		{"owner", shared, Delete, true},
		{"member", shared, Read, true}, {"member", shared, Use, true}, {"member", shared, Update, false}, {"member", shared, Delete, false},
		{"admin", shared, Read, true}, {"admin", shared, Update, true}, {"admin", shared, Delete, true},
		{"outsider", shared, Read, false}, {"outsider", shared, Use, false}, {"outsider", shared, Delete, false},
		{"removed member", shared, Read, false}, {"removed member", shared, Use, false},
		{"anonymous", shared, Read, false}, {"anonymous", personal, Read, false},
		{"owner", personal, ManageGroup, false},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s %s %v", tc.subject, tc.action, tc.object.GroupID != nil)
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.allow, Allow(callers[tc.subject], tc.object, tc.action))
		})
	}
}

func TestAllowGroup(t *testing.T) {
	t.Parallel()
	group := uuid.New()
	member := models.Caller{UserID: uuid.New(), Groups: map[uuid.UUID]models.Role{group: models.RoleMember}}
	admin := models.Caller{UserID: uuid.New(), Groups: map[uuid.UUID]models.Role{group: models.RoleAdmin}}
	outsider := models.Caller{UserID: uuid.New(), Groups: map[uuid.UUID]models.Role{uuid.New(): models.RoleAdmin}}
	cases := []struct {
		name   string
		c      models.Caller
		action Action
		allow  bool
	}{
		{"member views", member, ViewGroup, true},
		{"member shares", member, ShareToGroup, true},
		{"member manages", member, ManageGroup, false},
		{"member manages members", member, ManageMembers, false},
		{"member reads audit", member, ViewAudit, false},
		{"member reads analytics", member, ViewAnalytics, false},
		{"admin manages", admin, ManageGroup, true},
		{"admin manages members", admin, ManageMembers, true},
		{"admin reads audit", admin, ViewAudit, true},
		{"admin reads analytics", admin, ViewAnalytics, true},
		{"outsider reads analytics", outsider, ViewAnalytics, false},
		{"outsider views", outsider, ViewGroup, false},
		{"outsider admin of another group manages", outsider, ManageMembers, false},
		{"object action on a group", admin, Read, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.allow, AllowGroup(tc.c, group, tc.action))
		})
	}
}

func TestToolRulesNeedsApproval(t *testing.T) {
	t.Parallel()
	rules := ToolRules{Require: []string{"time_now"}, AutoApprove: []string{"fetch_url", " Search "}}
	for _, c := range []struct {
		tool Tool
		want bool
	}{
		{Tool{Name: "knowledge_search"}, false},                               // read-only, closed world
		{Tool{Name: "ingest_url", Outbound: true}, true},                      // outbound: approval by default
		{Tool{Name: "fetch_url", Outbound: true}, false},                      // the operator auto-approved it
		{Tool{Name: "search", Outbound: true}, false},                         // names compare case- and space-insensitively
		{Tool{Name: "time_now"}, true},                                        // the operator asks approval for it
		{Tool{Name: "weather__forecast", Outbound: true}, true},               // a registered server's tool
		{Tool{Name: "fetch_url", ServerRequires: true, Outbound: true}, true}, // its server asks
	} {
		require.Equal(t, c.want, rules.NeedsApproval(c.tool), "%+v", c.tool)
	}
	all := ToolRules{AutoApprove: []string{"*"}}
	require.False(t, all.NeedsApproval(Tool{Name: "weather__forecast", Outbound: true}))
	require.True(t, all.NeedsApproval(Tool{Name: "weather__forecast", Outbound: true, ServerRequires: true}))
}
