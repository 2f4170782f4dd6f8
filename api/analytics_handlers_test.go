package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/analytics"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/models"
	"github.com/youworker/youworker/store"
)

var analyticsPaths = []string{"overview", "tokens-timeline", "tool-performance", "tool-timeline", "ingestion-stats", "session-activity"}

func isTimeline(path string) bool {
	return path == "tokens-timeline" || path == "tool-timeline" || path == "session-activity"
}

// Bad ?days=, ?interval= and ?group_id= are 400s naming the field, on every analytics route.
func TestAnalyticsRequestValidation(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *config.Config, _ *[]Check) { c.AnalyticsMaxDays, c.AnalyticsMaxBuckets = 90, 240 })
	cl, _ := e.signup("val")
	cases := []struct {
		name, query, field string
		timelineOnly       bool
	}{
		{"days not a number", "days=abc", "days", false},
		{"days a fraction", "days=1.5", "days", false},
		{"days zero", "days=0", "days", false},
		{"days negative", "days=-1", "days", false},
		{"days over ANALYTICS_MAX_DAYS", "days=91", "days", false},
		{"days empty", "days=", "days", false},
		{"group_id not a UUID", "group_id=team", "group_id", false},
		{"an unknown interval", "interval=week", "interval", true},
		{"an empty interval", "interval=", "interval", true},
		{"interval in capitals", "interval=HOUR", "interval", true},
		{"more hourly buckets than ANALYTICS_MAX_BUCKETS", "days=11&interval=hour", "interval", true},
	}
	for _, tc := range cases {
		for _, p := range analyticsPaths {
			if tc.timelineOnly && !isTimeline(p) {
				continue
			}
			r := cl.do("GET", "/v1/analytics/"+p+"?"+tc.query, nil)
			require.Equal(t, http.StatusBadRequest, r.Status, "%s %s: %s", tc.name, p, r.Body)
			require.Equal(t, "VALIDATION_ERROR", r.errCode(t))
			require.Equal(t, tc.field, errDetails(t, r)["field"], "%s %s", tc.name, p)
		}
	}
	// The bounds themselves are fine: 90 days, 10 days by the hour (240 buckets).
	for _, p := range analyticsPaths {
		r := cl.do("GET", "/v1/analytics/"+p+"?days=90", nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", p, r.Body)
		require.EqualValues(t, 90, r.JSON(t)["window"].(map[string]any)["days"])
	}
	r := cl.do("GET", "/v1/analytics/tool-timeline?days=10&interval=hour", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.LessOrEqual(t, len(r.JSON(t)["buckets"].([]any)), 240)
	r = e.client().do("GET", "/v1/analytics/overview", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, "analytics need a caller")
}

// fakeAnalytics stands in for analytics.Service: what the handlers hand on and render.
type fakeAnalytics struct {
	got     []analytics.Request
	callers []models.Caller
	err     error
}

func (f *fakeAnalytics) note(c models.Caller, r analytics.Request) error {
	f.got, f.callers = append(f.got, r), append(f.callers, c)
	return f.err
}

var fakeWindow = analytics.Window{Days: 7, Start: time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)}

func (f *fakeAnalytics) Overview(_ context.Context, c models.Caller, r analytics.Request) (*analytics.Overview, error) {
	return &analytics.Overview{Window: fakeWindow, Overview: store.Overview{Tokens: store.TokenCounts{Prompt: 3, Completion: 4, Total: 7}}}, f.note(c, r)
}
func (f *fakeAnalytics) TokensTimeline(_ context.Context, c models.Caller, r analytics.Request) (*analytics.TokensTimeline, error) {
	return &analytics.TokensTimeline{Window: fakeWindow}, f.note(c, r)
}
func (f *fakeAnalytics) ToolPerformance(_ context.Context, c models.Caller, r analytics.Request) (*analytics.ToolPerformance, error) {
	return &analytics.ToolPerformance{Window: fakeWindow}, f.note(c, r)
}
func (f *fakeAnalytics) ToolTimeline(_ context.Context, c models.Caller, r analytics.Request) (*analytics.ToolTimeline, error) {
	return &analytics.ToolTimeline{Window: fakeWindow}, f.note(c, r)
}
func (f *fakeAnalytics) IngestionStats(_ context.Context, c models.Caller, r analytics.Request) (*analytics.IngestionStats, error) {
	return &analytics.IngestionStats{Window: fakeWindow}, f.note(c, r)
}
func (f *fakeAnalytics) SessionActivity(_ context.Context, c models.Caller, r analytics.Request) (*analytics.SessionActivity, error) {
	return &analytics.SessionActivity{Window: fakeWindow}, f.note(c, r)
}

// The handlers hand the caller, days (30 when absent), the interval (timelines only) and the
// group on to the service, render its answer, and its errors in the one envelope.
func TestAnalyticsHandlers(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	cl, login := e.signup("fakey")
	f := &fakeAnalytics{}
	e.srv.analytics = f
	gid := uuid.New()

	r := cl.do("GET", "/v1/analytics/overview", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	body := r.JSON(t)
	require.Equal(t, map[string]any{"prompt": 3.0, "completion": 4.0, "total": 7.0}, body["tokens"])
	require.Equal(t, "2025-03-04T00:00:00Z", body["window"].(map[string]any)["start"])
	require.Equal(t, login["user"].(map[string]any)["id"], f.callers[0].UserID.String())

	cl.do("GET", "/v1/analytics/tokens-timeline?days=7&interval=hour&group_id="+gid.String(), nil)
	cl.do("GET", "/v1/analytics/tool-performance?days=2&interval=hour", nil) // interval is for timelines
	cl.do("GET", "/v1/analytics/session-activity", nil)
	require.Equal(t, []analytics.Request{
		{Days: 30},
		{Days: 7, Interval: analytics.Hour, GroupID: &gid},
		{Days: 2},
		{Days: 30},
	}, f.got)

	f.err = models.Errorf(models.ErrForbidden, "GROUP_ADMIN_REQUIRED", "only a group admin may do this")
	r = cl.do("GET", "/v1/analytics/tool-timeline?group_id="+gid.String(), nil)
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "GROUP_ADMIN_REQUIRED", r.errCode(t))
	f.err = models.NotFound("GROUP", "group")
	r = cl.do("GET", "/v1/analytics/ingestion-stats?group_id="+gid.String(), nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "GROUP_NOT_FOUND", r.errCode(t))

	n := len(f.got)
	require.Equal(t, http.StatusBadRequest, cl.do("GET", "/v1/analytics/overview?days=x", nil).Status)
	require.Len(t, f.got, n, "bad requests never reach the service")
}

// analyticsTeam is a group with an admin and a member, a turn and a tool call of the member in a
// group session, and one of the admin in a private session.
type analyticsTeam struct {
	admin, member, outsider *apiClient
	groupID                 string
}

func seedAnalyticsTeam(t *testing.T, e *apiEnv) analyticsTeam {
	t.Helper()
	admin, _ := e.signup("lead")
	member, mlogin := e.signup("crew")
	outsider, _ := e.signup("alien")
	g := admin.do("POST", "/v1/groups", map[string]any{"name": "crew"})
	require.Equal(t, http.StatusCreated, g.Status, "%s", g.Body)
	gid := g.JSON(t)["id"].(string)
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/groups/"+gid+"/members", map[string]any{"username": "crew", "role": "member"}).Status)
	shared := member.do("POST", "/v1/sessions", map[string]any{"title": "shared", "group_id": gid})
	require.Equal(t, http.StatusCreated, shared.Status, "%s", shared.Body)
	private := admin.do("POST", "/v1/sessions", map[string]any{"title": "private"})
	require.Equal(t, http.StatusCreated, private.Status, "%s", private.Body)
	mid := mlogin["user"].(map[string]any)["id"].(string)
	var aid string
	require.NoError(t, e.store.SQL().QueryRow(`SELECT owner_id FROM chat_sessions WHERE id = $1`, private.JSON(t)["id"]).Scan(&aid))
	for _, row := range []struct {
		session, user, tool string
		prompt              int
	}{
		{shared.JSON(t)["id"].(string), mid, "time_now", 10},
		{private.JSON(t)["id"].(string), aid, "fetch_url", 1},
	} {
		tid := uuid.New()
		_, err := e.store.SQL().Exec(`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, prompt_tokens, completion_tokens, finished_at)
			VALUES ($1, $2, $3, $4, 'completed', 'llama', $5, 1, now())`, tid, row.session, row.user, "wf/"+tid.String(), row.prompt)
		require.NoError(t, err)
		_, err = e.store.SQL().Exec(`INSERT INTO tool_runs (id, turn_id, session_id, user_id, step, call_id, server_name, tool_name, status, duration_ms)
			VALUES ($1, $2, $3, $4, 1, 'c1', 'builtin', $5, 'succeeded', 12)`, uuid.New(), tid, row.session, row.user, row.tool)
		require.NoError(t, err)
	}
	return analyticsTeam{admin: admin, member: member, outsider: outsider, groupID: gid}
}

// A group admin reads the group's analytics (the member's turn, not the admin's private one); a
// member is refused (403), anyone else finds no group (404); API keys need the read scope.
func TestAnalyticsGroupAccess(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	team := seedAnalyticsTeam(t, e)
	prompt := func(r response) float64 {
		return r.JSON(t)["tokens"].(map[string]any)["prompt"].(float64)
	}
	group := "/v1/analytics/overview?group_id=" + team.groupID

	r := team.admin.do("GET", group, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, 10.0, prompt(r), "the group's: the member's turn in the group session")
	require.Equal(t, team.groupID, r.JSON(t)["group_id"])
	r = team.admin.do("GET", "/v1/analytics/overview", nil)
	require.Equal(t, 1.0, prompt(r), "the admin's own: their private turn")
	require.Nil(t, r.JSON(t)["group_id"])
	r = team.member.do("GET", "/v1/analytics/overview", nil)
	require.Equal(t, 10.0, prompt(r), "the member's own")
	r = team.outsider.do("GET", "/v1/analytics/overview", nil)
	require.Equal(t, 0.0, prompt(r), "nothing of anyone else's")

	for _, p := range analyticsPaths {
		path := "/v1/analytics/" + p + "?group_id=" + team.groupID
		r := team.member.do("GET", path, nil)
		require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", p, r.Body)
		require.Equal(t, "GROUP_ADMIN_REQUIRED", r.errCode(t))
		r = team.outsider.do("GET", path, nil)
		require.Equal(t, http.StatusNotFound, r.Status, "%s: %s", p, r.Body)
		require.Equal(t, "GROUP_NOT_FOUND", r.errCode(t))
		r = team.admin.do("GET", path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", p, r.Body)
	}

	chatKey, _ := team.admin.mintKey(map[string]any{"name": "chat only", "scopes": []string{"chat"}})
	readKey, _ := team.admin.mintKey(map[string]any{"name": "reader", "scopes": []string{"read"}})
	r = e.keyClient(chatKey).do("GET", group, nil)
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "INSUFFICIENT_SCOPE", r.errCode(t))
	r = e.keyClient(readKey).do("GET", group, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, 10.0, prompt(r))
}

// The overview carries the budgets that apply: the caller's own and their groups' (an empty list
// without any), or with ?group_id= the group's alone, with what they spent and have left.
func TestAnalyticsOverviewBudgets(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	team := seedAnalyticsTeam(t, e)
	budgets := func(cl *apiClient, query string) []any {
		t.Helper()
		r := cl.do("GET", "/v1/analytics/overview"+query, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		return r.JSON(t)["budgets"].([]any)
	}
	group := "?group_id=" + team.groupID
	require.Equal(t, []any{}, budgets(team.member, ""))
	require.Equal(t, []any{}, budgets(team.admin, group))

	mid, gid := uuid.MustParse(team.member.userID()), uuid.MustParse(team.groupID)
	turns, tokens := int64(5), int64(1000)
	_, err := e.store.SetBudget(t.Context(), &models.Budget{UserID: &mid, DailyTurns: &turns}, time.Now())
	require.NoError(t, err)
	_, err = e.store.SetBudget(t.Context(), &models.Budget{GroupID: &gid, MonthlyTokens: &tokens}, time.Now())
	require.NoError(t, err)

	mine := budgets(team.member, "")
	require.Len(t, mine, 2, "the member's own, then the group's")
	own, shared := mine[0].(map[string]any), mine[1].(map[string]any)
	require.Equal(t, mid.String(), own["user_id"])
	require.Equal(t, map[string]any{"tokens": 11.0, "turns": 1.0}, own["day"], "the member's turn in the group session")
	require.Equal(t, map[string]any{"tokens": nil, "turns": 4.0}, own["remaining"])
	require.Equal(t, team.groupID, shared["group_id"])
	require.Equal(t, map[string]any{"tokens": 989.0, "turns": nil}, shared["remaining"])

	lead := budgets(team.admin, "")
	require.Len(t, lead, 1, "the admin has no budget of their own; the group's applies to them")
	require.Equal(t, team.groupID, lead[0].(map[string]any)["group_id"])
	g := budgets(team.admin, group)
	require.Len(t, g, 1, "the group's alone")
	require.Equal(t, team.groupID, g[0].(map[string]any)["group_id"])
	require.Equal(t, map[string]any{"tokens": 11.0, "turns": 1.0}, g[0].(map[string]any)["month"])
	require.Equal(t, []any{}, budgets(team.outsider, ""))
	r := team.member.do("GET", "/v1/analytics/overview"+group, nil)
	require.Equal(t, http.StatusForbidden, r.Status, "a member reads no group analytics, budget included: %s", r.Body)
}

// Every analytics answer has the fields api/openapi.yaml documents for it and no others, down to
// the items of its lists: every property of a schema without a `required` list, the required ones
// of a schema with one.
func TestAnalyticsResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	team := seedAnalyticsTeam(t, e)
	_, err := e.store.SQL().Exec(`INSERT INTO documents (id, owner_id, source_kind, status) SELECT $1, owner_id, 'text', 'failed' FROM chat_sessions LIMIT 1`, uuid.New())
	require.NoError(t, err)
	_, err = e.store.SQL().Exec(`INSERT INTO ingestion_runs (id, document_id, owner_id, group_id, workflow_id, status, error_code)
		SELECT $1, id, owner_id, $2, 'ingest/x', 'failed', 'BAD_DOCUMENT' FROM documents`, uuid.New(), team.groupID)
	require.NoError(t, err)
	gid := uuid.MustParse(team.groupID)
	_, err = e.store.SetBudget(t.Context(), &models.Budget{GroupID: &gid, DailyTokens: new(int64(100))}, time.Now())
	require.NoError(t, err)

	r := e.client().do("GET", "/openapi.json", nil)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]schemaDoc `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &doc))
	for _, p := range analyticsPaths {
		var op struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema schemaDoc `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		}
		require.NoError(t, json.Unmarshal(doc.Paths["/v1/analytics/"+p]["get"], &op), p)
		ref := op.Responses["200"].Content["application/json"].Schema.Ref
		schema := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		require.NotEmpty(t, schema.Properties, p)

		r := team.admin.do("GET", "/v1/analytics/"+p+"?days=2&group_id="+team.groupID, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", p, r.Body)
		var body map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &body))
		requireSameKeys(t, p, schema, body, doc.Components.Schemas)
	}
}

type schemaDoc struct {
	Ref        string               `json:"$ref"`
	Type       string               `json:"type"`
	Properties map[string]schemaDoc `json:"properties"`
	Items      *schemaDoc           `json:"items"`
	Required   []string             `json:"required"`
}

func requireSameKeys(t *testing.T, where string, s schemaDoc, v any, schemas map[string]schemaDoc) {
	t.Helper()
	if s.Ref != "" {
		s = schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	switch v := v.(type) {
	case map[string]any:
		if s.Properties == nil {
			return // a free-form object
		}
		for k := range v {
			require.Contains(t, s.Properties, k, "%s: a field the schema does not document", where)
		}
		required := s.Required
		if required == nil {
			required = sortedKeys(s.Properties)
		}
		for _, k := range required {
			require.Contains(t, v, k, "%s: a documented field is missing", where)
		}
		for k, sub := range s.Properties {
			if x, ok := v[k]; ok {
				requireSameKeys(t, where+"."+k, sub, x, schemas)
			}
		}
	case []any:
		require.NotNil(t, s.Items, where)
		require.NotEmpty(t, v, "%s: seed something so the items are checked", where)
		for _, item := range v {
			requireSameKeys(t, where+"[]", *s.Items, item, schemas)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
