package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/models"
)

// userID is the id of the user a client is logged in as.
func (c *apiClient) userID() string {
	c.e.t.Helper()
	r := c.do("GET", "/v1/auth/me", nil)
	require.Equal(c.e.t, http.StatusOK, r.Status, "%s", r.Body)
	return r.JSON(c.e.t)["id"].(string)
}

// seedTurn stores a finished turn of user in session, started now, with the tokens given.
func (e *apiEnv) seedTurn(session, user string, prompt, completion int) {
	e.t.Helper()
	tid := uuid.New()
	_, err := e.store.SQL().Exec(`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, prompt_tokens, completion_tokens, finished_at)
		VALUES ($1, $2, $3, $4, 'completed', 'llama', $5, $6, now())`, tid, session, user, "wf/"+tid.String(), prompt, completion)
	require.NoError(e.t, err)
}

// auditActions are the entries of an audit list as "action resource_type resource_id".
func auditActions(t *testing.T, r response) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var out []string
	for _, it := range r.JSON(t)["items"].([]any) {
		m := it.(map[string]any)
		out = append(out, m["action"].(string)+" "+m["resource_type"].(string)+" "+m["resource_id"].(string))
	}
	return out
}

// A platform administrator sets, replaces and removes a user's budget; the answer is the budget
// with what its windows spent (the month's earlier turns count from the start) and have left. The
// user reads it, nobody else does; other callers may not set it; every change is audited.
func TestUserBudget(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	admin := e.admin("bursar")
	user, _ := e.signup("spender")
	other, _ := e.signup("neighbour")
	uid := user.userID()
	s := user.do("POST", "/v1/sessions", map[string]any{"title": "before the budget"})
	require.Equal(t, http.StatusCreated, s.Status, "%s", s.Body)
	e.seedTurn(s.JSON(t)["id"].(string), uid, 30, 12)
	path := "/v1/budgets/users/" + uid

	r := user.do("GET", "/v1/budgets/me", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, []any{}, r.JSON(t)["budgets"], "no budget: an empty list")
	r = admin.do("GET", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "BUDGET_NOT_FOUND", r.errCode(t))

	for _, cl := range []*apiClient{user, other} {
		r = cl.do("PUT", path, map[string]any{"daily_tokens": 1_000_000})
		require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
		require.Equal(t, "FORBIDDEN", r.errCode(t))
	}

	now := time.Now().UTC()
	r = admin.do("PUT", path, map[string]any{"daily_tokens": 1000, "monthly_turns": 50, "daily_turns": nil})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	b := r.JSON(t)
	require.Equal(t, uid, b["user_id"])
	require.NotContains(t, b, "group_id")
	require.Equal(t, 1000.0, b["daily_tokens"])
	require.Nil(t, b["monthly_tokens"])
	require.Nil(t, b["daily_turns"])
	require.Equal(t, 50.0, b["monthly_turns"])
	require.Equal(t, map[string]any{"tokens": 42.0, "turns": 1.0}, b["day"], "the turn before the budget counts")
	require.Equal(t, map[string]any{"tokens": 42.0, "turns": 1.0}, b["month"])
	require.Equal(t, map[string]any{"tokens": 958.0, "turns": 49.0}, b["remaining"])
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	require.Equal(t, day.AddDate(0, 0, 1).Format(time.RFC3339), b["day_resets_at"])
	require.Equal(t, time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0).Format(time.RFC3339), b["month_resets_at"])

	// The user reads it; anyone else finds nothing there, budget or not.
	r = user.do("GET", path, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, 958.0, r.JSON(t)["remaining"].(map[string]any)["tokens"])
	r = user.do("GET", "/v1/budgets/me", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	mine := r.JSON(t)["budgets"].([]any)
	require.Len(t, mine, 1)
	require.Equal(t, uid, mine[0].(map[string]any)["user_id"])
	r = other.do("GET", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "BUDGET_NOT_FOUND", r.errCode(t))
	r = other.do("GET", "/v1/budgets/me", nil)
	require.Equal(t, []any{}, r.JSON(t)["budgets"], "another user's budget is not the neighbour's")

	// PUT replaces the whole budget: what is absent is no cap. The month's turns are not counted twice.
	r = admin.do("PUT", path, map[string]any{"daily_turns": 3})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	b = r.JSON(t)
	require.Nil(t, b["daily_tokens"])
	require.Nil(t, b["monthly_turns"])
	require.Equal(t, 3.0, b["daily_turns"])
	require.Equal(t, map[string]any{"tokens": nil, "turns": 2.0}, b["remaining"])

	r = admin.do("PUT", "/v1/budgets/users/"+uuid.NewString(), map[string]any{"daily_turns": 3})
	require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	require.Equal(t, "USER_NOT_FOUND", r.errCode(t))
	r = admin.do("PUT", "/v1/budgets/users/nobody", map[string]any{"daily_turns": 3})
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "USER_NOT_FOUND", r.errCode(t))

	r = user.do("DELETE", path, nil)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", path, nil).Status)
	r = user.do("GET", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "BUDGET_NOT_FOUND", r.errCode(t))
	r = admin.do("DELETE", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "BUDGET_NOT_FOUND", r.errCode(t))

	require.Equal(t, []string{"budget.delete user " + uid, "budget.set user " + uid, "budget.set user " + uid},
		filterBudget(auditActions(t, admin.do("GET", "/v1/account/audit", nil))), "the administrator's changes, newest first")
	var raw []byte
	var details map[string]any
	require.NoError(t, e.store.SQL().QueryRow(`SELECT details FROM audit_log WHERE action = 'budget.set' ORDER BY id LIMIT 1`).Scan(&raw))
	require.NoError(t, json.Unmarshal(raw, &details))
	require.Equal(t, map[string]any{"daily_tokens": 1000.0, "monthly_tokens": nil, "daily_turns": nil, "monthly_turns": 50.0}, details)
	require.Empty(t, filterBudget(auditActions(t, user.do("GET", "/v1/account/audit", nil))), "refused attempts change nothing")
}

func filterBudget(actions []string) []string {
	var out []string
	for _, a := range actions {
		if strings.HasPrefix(a, "budget.") {
			out = append(out, a)
		}
	}
	return out
}

// Bodies of PUT …/budget: every cap a non-negative integer or null, at least one set, nothing
// else. Errors are 400s naming the field, and nothing is stored.
func TestBudgetValidation(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	admin := e.admin("auditor")
	user, _ := e.signup("subject")
	uid := user.userID()
	g := user.do("POST", "/v1/groups", map[string]any{"name": "checked"})
	require.Equal(t, http.StatusCreated, g.Status, "%s", g.Body)
	gid := g.JSON(t)["id"].(string)
	cases := []struct {
		name  string
		body  any
		code  string
		field string
	}{
		{"a negative daily_tokens", map[string]any{"daily_tokens": -1}, "VALIDATION_ERROR", "daily_tokens"},
		{"a negative monthly_turns beside a good cap", map[string]any{"daily_tokens": 5, "monthly_turns": -3}, "VALIDATION_ERROR", "monthly_turns"},
		{"more turns than the column holds", map[string]any{"daily_turns": 1 << 31}, "VALIDATION_ERROR", "daily_turns"},
		{"a string", `{"monthly_tokens": "100"}`, "VALIDATION_ERROR", "monthly_tokens"},
		{"a fraction", `{"daily_turns": 1.5}`, "VALIDATION_ERROR", "daily_turns"},
		{"a boolean", `{"daily_tokens": true}`, "VALIDATION_ERROR", "daily_tokens"},
		{"an unknown field", map[string]any{"daily_tokens": 5, "weekly_tokens": 9}, "VALIDATION_ERROR", "weekly_tokens"},
		{"the caller's own field", map[string]any{"daily_tokens": 5, "user_id": uid}, "VALIDATION_ERROR", "user_id"},
		{"not an object", `[1]`, "MALFORMED_JSON", ""},
	}
	for _, tc := range cases {
		for _, path := range []string{"/v1/budgets/users/" + uid, "/v1/groups/" + gid + "/budget"} {
			r := admin.do("PUT", path, tc.body)
			require.Equal(t, http.StatusBadRequest, r.Status, "%s %s: %s", tc.name, path, r.Body)
			require.Equal(t, tc.code, r.errCode(t), tc.name)
			if tc.field != "" {
				require.Equal(t, tc.field, errDetails(t, r)["field"], tc.name)
			}
		}
	}
	for _, body := range []any{map[string]any{}, map[string]any{"daily_tokens": nil, "monthly_tokens": nil, "daily_turns": nil, "monthly_turns": nil}} {
		r := admin.do("PUT", "/v1/budgets/users/"+uid, body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", body, r.Body)
		require.Equal(t, "VALIDATION_ERROR", r.errCode(t))
		require.Equal(t, []any{"daily_tokens", "monthly_tokens", "daily_turns", "monthly_turns"}, errDetails(t, r)["fields"])
	}
	var n int
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM budgets`).Scan(&n))
	require.Zero(t, n, "no bad request stored a budget")

	r := admin.do("PUT", "/v1/budgets/users/"+uid, map[string]any{"daily_tokens": 0, "daily_turns": 1<<31 - 1})
	require.Equal(t, http.StatusOK, r.Status, "zero and the largest turn count are caps: %s", r.Body)
	require.Equal(t, map[string]any{"tokens": 0.0, "turns": float64(1<<31 - 1)}, r.JSON(t)["remaining"])
}

// A group's budget: set and removed by platform administrators only (not the group's own admins),
// read by its members and by platform administrators; everyone else finds no group.
func TestGroupBudget(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	platform := e.admin("root")
	lead, _ := e.signup("lead")
	member, _ := e.signup("member")
	outsider, _ := e.signup("outsider")
	g := lead.do("POST", "/v1/groups", map[string]any{"name": "team"})
	require.Equal(t, http.StatusCreated, g.Status, "%s", g.Body)
	gid := g.JSON(t)["id"].(string)
	require.Equal(t, http.StatusCreated, lead.do("POST", "/v1/groups/"+gid+"/members", map[string]any{"username": "member", "role": "member"}).Status)
	path := "/v1/groups/" + gid + "/budget"

	r := member.do("GET", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "BUDGET_NOT_FOUND", r.errCode(t))

	for name, cl := range map[string]*apiClient{"the group's admin": lead, "a member": member, "an outsider": outsider} {
		r = cl.do("PUT", path, map[string]any{"monthly_tokens": 1_000_000})
		require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", name, r.Body)
		require.Equal(t, "FORBIDDEN", r.errCode(t), name)
		r = cl.do("DELETE", path, nil)
		require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", name, r.Body)
	}

	r = platform.do("PUT", path, map[string]any{"monthly_tokens": 5000, "daily_turns": 20})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	b := r.JSON(t)
	require.Equal(t, gid, b["group_id"])
	require.NotContains(t, b, "user_id")
	require.Equal(t, 5000.0, b["monthly_tokens"])
	require.Equal(t, map[string]any{"tokens": 5000.0, "turns": 20.0}, b["remaining"])

	for name, cl := range map[string]*apiClient{"the group's admin": lead, "a member": member, "a platform admin outside the group": platform} {
		r = cl.do("GET", path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", name, r.Body)
		require.Equal(t, gid, r.JSON(t)["group_id"], name)
		require.Equal(t, 20.0, r.JSON(t)["daily_turns"], name)
	}
	r = outsider.do("GET", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "GROUP_NOT_FOUND", r.errCode(t))

	mine := member.do("GET", "/v1/budgets/me", nil).JSON(t)["budgets"].([]any)
	require.Len(t, mine, 1, "the group's budget applies to its members' turns")
	require.Equal(t, gid, mine[0].(map[string]any)["group_id"])
	require.Equal(t, []any{}, outsider.do("GET", "/v1/budgets/me", nil).JSON(t)["budgets"])

	r = platform.do("PUT", "/v1/groups/"+uuid.NewString()+"/budget", map[string]any{"daily_turns": 1})
	require.Equal(t, http.StatusNotFound, r.Status, "%s", r.Body)
	require.Equal(t, "GROUP_NOT_FOUND", r.errCode(t))

	require.Equal(t, http.StatusNoContent, platform.do("DELETE", path, nil).Status)
	r = member.do("GET", path, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "BUDGET_NOT_FOUND", r.errCode(t))

	// The group's admins see the changes in the group's audit log.
	require.Equal(t, []string{"budget.delete group " + gid, "budget.set group " + gid},
		filterBudget(auditActions(t, lead.do("GET", "/v1/groups/"+gid+"/audit", nil))))
}

// API keys: reading budgets takes what other reads take (a chat key reads its own); setting one
// takes the admin scope, on top of a platform administrator.
func TestBudgetScopes(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	admin := e.admin("keyholder")
	uid := admin.userID()
	path := "/v1/budgets/users/" + uid
	require.Equal(t, http.StatusOK, admin.do("PUT", path, map[string]any{"daily_turns": 9}).Status)

	chatKey, _ := admin.mintKey(map[string]any{"name": "chat", "scopes": []string{"chat"}})
	readKey, _ := admin.mintKey(map[string]any{"name": "read", "scopes": []string{"read"}})
	adminKey, _ := admin.mintKey(map[string]any{"name": "admin", "scopes": []string{"admin"}})
	cases := []struct {
		name, key, method, path string
		body                    any
		status                  int
	}{
		{"a chat key reads its own budgets", chatKey, "GET", "/v1/budgets/me", nil, 200},
		{"a read key reads its own budgets", readKey, "GET", "/v1/budgets/me", nil, 200},
		{"a read key reads a user's budget", readKey, "GET", path, nil, 200},
		{"a chat key does not read a user's budget", chatKey, "GET", path, nil, 403},
		{"a read key does not set one", readKey, "PUT", path, map[string]any{"daily_turns": 1}, 403},
		{"a chat key does not remove one", chatKey, "DELETE", path, nil, 403},
		{"an admin key sets one", adminKey, "PUT", path, map[string]any{"daily_turns": 1}, 200},
		{"an admin key removes one", adminKey, "DELETE", path, nil, 204},
	}
	for _, tc := range cases {
		r := e.keyClient(tc.key).do(tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, r.Status, "%s: %s", tc.name, r.Body)
		if tc.status == http.StatusForbidden {
			require.Equal(t, "INSUFFICIENT_SCOPE", r.errCode(t), tc.name)
		}
	}
}

// A spent budget refuses a new turn at the post: 429 BUDGET_EXCEEDED (no Retry-After: waiting a
// moment does not help), nothing stored; the OpenAI-compatible route answers OpenAI's
// insufficient_quota.
func TestSpentBudgetRefusesTurns(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	admin := e.admin("warden")
	user, _ := e.signup("broke")
	lead, _ := e.signup("teamlead")
	uid := user.userID()
	s := user.do("POST", "/v1/sessions", map[string]any{"title": "no turns left"})
	require.Equal(t, http.StatusCreated, s.Status, "%s", s.Body)
	sid := s.JSON(t)["id"].(string)
	require.Equal(t, http.StatusOK, admin.do("PUT", "/v1/budgets/users/"+uid, map[string]any{"daily_turns": 0}).Status)

	count := func(table, session string) int {
		var n int
		require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM `+table+` WHERE session_id = $1`, session).Scan(&n))
		return n
	}
	r := user.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": "one more"})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.Equal(t, models.CodeBudgetExceeded, r.errCode(t))
	require.Equal(t, "your turn budget is spent", r.JSON(t)["error"].(map[string]any)["message"])
	require.Empty(t, r.Header.Get("Retry-After"))
	require.Zero(t, count("messages", sid), "the message is not stored")
	require.Zero(t, count("turns", sid), "no turn is stored")
	got := user.do("GET", "/v1/sessions/"+sid, nil)
	require.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	require.Empty(t, got.JSON(t)["messages"])

	r = user.do("POST", "/v1/chat/completions", map[string]any{"messages": []any{map[string]any{"role": "user", "content": "hi"}}})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	oe := r.JSON(t)["error"].(map[string]any)
	require.Equal(t, "insufficient_quota", oe["type"])
	require.Equal(t, "budget_exceeded", oe["code"])
	require.Empty(t, r.Header.Get("Retry-After"))
	var sessions int
	require.NoError(t, e.store.SQL().QueryRow(`SELECT count(*) FROM chat_sessions WHERE owner_id = $1`, uid).Scan(&sessions))
	require.Equal(t, 1, sessions, "a refused completion leaves no session behind")

	// A group's spent budget refuses its members' turns in the group's sessions.
	g := lead.do("POST", "/v1/groups", map[string]any{"name": "thrifty"})
	require.Equal(t, http.StatusCreated, g.Status, "%s", g.Body)
	gid := g.JSON(t)["id"].(string)
	gs := lead.do("POST", "/v1/sessions", map[string]any{"title": "shared", "group_id": gid})
	require.Equal(t, http.StatusCreated, gs.Status, "%s", gs.Body)
	gsid := gs.JSON(t)["id"].(string)
	require.Equal(t, http.StatusOK, admin.do("PUT", "/v1/groups/"+gid+"/budget", map[string]any{"monthly_tokens": 0}).Status)
	r = lead.do("POST", "/v1/sessions/"+gsid+"/messages", map[string]any{"content": "anything?"})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	require.Equal(t, models.CodeBudgetExceeded, r.errCode(t))
	require.Equal(t, "the group's token budget is spent", r.JSON(t)["error"].(map[string]any)["message"])
	require.Zero(t, count("messages", gsid))
}

// A turn that ran out of budget midway fails with BUDGET_EXCEEDED; a non-streamed completion
// answers it as the refused post does: 429, OpenAI's insufficient_quota.
func TestBudgetExceededMidTurnIsInsufficientQuota(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	err := turnError(turnOutcome{Type: models.EventTurnFailed, data: map[string]any{
		"error": map[string]any{"code": models.CodeBudgetExceeded, "message": "your token budget is spent"}}})
	status, detail := e.srv.describe(t.Context(), err, completionsRoute)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, gin.H{"error": gin.H{"message": "your token budget is spent", "type": "insufficient_quota", "param": nil, "code": "budget_exceeded"}},
		openAIBody(status, detail))
}
