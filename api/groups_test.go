package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGroups(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	admin, _ := e.signup("gadmin")
	member, _ := e.signup("gmember")
	outsider, _ := e.signup("goutsider")

	r := admin.do("POST", "/v1/groups", map[string]any{"name": "Engineering", "description": "builders"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	g := r.JSON(t)
	gid := g["id"].(string)
	require.Equal(t, "admin", g["role"])
	dup := outsider.do("POST", "/v1/groups", map[string]any{"name": "engineering"})
	require.Equal(t, http.StatusConflict, dup.Status)
	require.Equal(t, "GROUP_NAME_TAKEN", dup.errCode(t))

	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/groups/"+gid+"/members", map[string]any{"username": "gmember", "role": "member"}).Status)
	again := admin.do("POST", "/v1/groups/"+gid+"/members", map[string]any{"username": "gmember", "role": "member"})
	require.Equal(t, http.StatusConflict, again.Status)
	require.Equal(t, http.StatusBadRequest, admin.do("POST", "/v1/groups/"+gid+"/members", map[string]any{"username": "gmember", "role": "owner"}).Status)
	require.Equal(t, http.StatusNotFound, admin.do("POST", "/v1/groups/"+gid+"/members", map[string]any{"username": "nobody", "role": "member"}).Status)

	mine := member.do("GET", "/v1/groups/me", nil).JSON(t)["items"].([]any)
	require.Len(t, mine, 1)
	require.Equal(t, "member", mine[0].(map[string]any)["role"])
	view := member.do("GET", "/v1/groups/"+gid, nil)
	require.Equal(t, http.StatusOK, view.Status)
	require.Len(t, view.JSON(t)["members"], 2)
	me := member.do("GET", "/v1/auth/me", nil).JSON(t)
	require.Equal(t, "Engineering", me["groups"].([]any)[0].(map[string]any)["name"])

	// Members may not administer; outsiders do not even see the group.
	require.Equal(t, http.StatusForbidden, member.do("PUT", "/v1/groups/"+gid, map[string]any{"name": "Hijacked"}).Status)
	require.Equal(t, http.StatusForbidden, member.do("GET", "/v1/groups/"+gid+"/audit", nil).Status)
	require.Equal(t, http.StatusNotFound, outsider.do("GET", "/v1/groups/"+gid, nil).Status)
	require.Equal(t, http.StatusNotFound, outsider.do("DELETE", "/v1/groups/"+gid, nil).Status)

	// The last admin can neither be demoted nor leave; after promoting someone they can.
	adminID := admin.do("GET", "/v1/auth/me", nil).JSON(t)["id"].(string)
	memberID := me["id"].(string)
	last := admin.do("PUT", "/v1/groups/"+gid+"/members/"+adminID, map[string]any{"role": "member"})
	require.Equal(t, http.StatusConflict, last.Status)
	require.Equal(t, "LAST_ADMIN", last.errCode(t))
	require.Equal(t, http.StatusConflict, admin.do("DELETE", "/v1/groups/"+gid+"/members/"+adminID, nil).Status)
	require.Equal(t, http.StatusOK, admin.do("PUT", "/v1/groups/"+gid+"/members/"+memberID, map[string]any{"role": "admin"}).Status)
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/v1/groups/"+gid+"/members/"+adminID, nil).Status, "leaving")
	require.Equal(t, http.StatusNotFound, admin.do("GET", "/v1/groups/"+gid, nil).Status, "no longer a member")

	audit := member.do("GET", "/v1/groups/"+gid+"/audit", nil)
	require.Equal(t, http.StatusOK, audit.Status)
	var actions []string
	for _, it := range audit.JSON(t)["items"].([]any) {
		actions = append(actions, it.(map[string]any)["action"].(string))
	}
	require.Contains(t, actions, "group.create")
	require.Contains(t, actions, "group.member.add")
	require.Contains(t, actions, "group.member.role")
	require.Contains(t, actions, "group.member.remove")

	own := admin.do("GET", "/v1/account/audit", nil).JSON(t)["items"].([]any)
	require.NotEmpty(t, own)
	for _, it := range own {
		require.Equal(t, adminID, it.(map[string]any)["actor_id"], "only the caller's own entries")
	}
}
