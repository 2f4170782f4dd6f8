package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/youworker/youworker/testenv"
)

// groupWithSession makes a group of admin with member in it, and a group session of member's
// that may call time_now.
func groupWithSession(t *testing.T, admin, member *user) (groupID, sessionID string) {
	t.Helper()
	r := admin.do("POST", "/v1/groups", map[string]any{"name": "team-" + admin.id[:8]})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	groupID = r.json(t)["id"].(string)
	r = admin.do("POST", "/v1/groups/"+groupID+"/members", map[string]any{"user_id": member.id, "role": "member"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r = member.do("POST", "/v1/sessions", map[string]any{"title": "quarterly layoffs plan", "group_id": groupID, "tools": []string{"time_now"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return groupID, r.json(t)["id"].(string)
}

// A real turn with a tool call in a group session and a group document's ingestion show up in
// the analytics of the member who made them and of the group's admin, in the right buckets.
func TestAnalyticsOfRealTurns(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	admin, member := p.signup("ana-admin"), p.signup("ana-member")
	groupID, sid := groupWithSession(t, admin, member)
	_, events := member.send(sid, `what time is it? call time_now {"timezone":"UTC"}`)
	evs := collect(t, must(member.stream(context.Background(), events, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type)
	_, last := member.ingested(member.do("POST", "/v1/ingest", map[string]any{"title": "rota", "text": "The rota for the team.", "group_id": groupID}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)

	for _, tc := range []struct {
		name  string
		u     *user
		query string
	}{
		{"the member's own", member, ""},
		{"the group, for its admin", admin, "&group_id=" + groupID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.u.do("GET", "/v1/analytics/overview?days=1"+tc.query, nil)
			require.Equal(t, http.StatusOK, o.status, "%s", o.body)
			body := o.json(t)
			turns := body["turns"].(map[string]any)
			require.Equal(t, 1.0, turns["completed"])
			require.Positive(t, turns["avg_duration_ms"])
			require.Positive(t, body["tokens"].(map[string]any)["completion"])
			require.Equal(t, map[string]any{"runs": 1.0, "completed": 1.0, "failed": 0.0}, body["ingestion"])

			tp := tc.u.do("GET", "/v1/analytics/tool-performance?days=1"+tc.query, nil).json(t)["tools"].([]any)
			require.Len(t, tp, 1)
			require.Equal(t, "time_now", tp[0].(map[string]any)["tool_name"])
			require.Equal(t, 1.0, tp[0].(map[string]any)["succeeded"])

			tl := tc.u.do("GET", "/v1/analytics/tokens-timeline?days=1&interval=hour"+tc.query, nil).json(t)
			buckets := tl["buckets"].([]any)
			now := time.Now().UTC()
			require.Len(t, buckets, now.Hour()+1, "one bucket per hour of today, up to this one")
			lastBucket := buckets[len(buckets)-1].(map[string]any)
			require.Equal(t, now.Truncate(time.Hour).Format(time.RFC3339), lastBucket["start"])
			require.Equal(t, 1.0, lastBucket["turns"])
		})
	}
	r := member.do("GET", "/v1/analytics/session-activity?group_id="+groupID, nil)
	require.Equal(t, http.StatusForbidden, r.status, "a member does not see the group's analytics: %s", r.body)
	r = admin.do("GET", "/v1/analytics/overview?days=1", nil)
	require.Equal(t, 0.0, r.json(t)["turns"].(map[string]any)["total"], "the admin's own data holds none of the member's")
}

// Operators find every run of a group in Temporal by YwGroupId: the turn of a group session and
// the ingestion of a group document, not the same user's private ones; the memos hold ids, never
// the session's or the document's title.
func TestGroupRunsFoundByYwGroupId(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	admin, member := p.signup("ops-admin"), p.signup("ops-member")
	groupID, sid := groupWithSession(t, admin, member)
	turnID, events := member.send(sid, "hello team")
	evs := collect(t, must(member.stream(context.Background(), events, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type)
	docID, last := member.ingested(member.do("POST", "/v1/ingest", map[string]any{"title": "salary bands", "text": "Bands for the team.", "group_id": groupID}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	// The same member's private turn and document carry no group.
	private := member.newSession([]string{})
	_, ev2 := member.send(private, "just me")
	collect(t, must(member.stream(context.Background(), ev2, 0)), 60*time.Second)
	_, last = member.ingested(member.do("POST", "/v1/ingest", map[string]any{"title": "diary", "text": "Mine alone."}), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)

	tc := testenv.TemporalClient(t)
	list := func(query string) []*workflowExecution {
		var out []*workflowExecution
		require.Eventually(t, func() bool {
			resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			if err != nil {
				return false
			}
			out = out[:0]
			for _, e := range resp.Executions {
				out = append(out, &workflowExecution{id: e.Execution.WorkflowId, typ: e.Type.Name, memo: slices.Sorted(maps.Keys(e.Memo.GetFields()))})
			}
			return len(out) == 2
		}, 15*time.Second, 200*time.Millisecond, "two runs listed by %s", query)
		return out
	}
	byGroup := list(fmt.Sprintf("YwGroupId = '%s'", groupID))
	types := []string{byGroup[0].typ, byGroup[1].typ}
	slices.Sort(types)
	require.Equal(t, []string{"ChatTurn", "IngestDocument"}, types)
	for _, e := range byGroup {
		switch e.typ {
		case "ChatTurn":
			require.Contains(t, e.id, turnID)
			require.Equal(t, []string{"turn_id"}, e.memo, "no session title in the memo")
		case "IngestDocument":
			require.Equal(t, []string{"source"}, e.memo, "no document title in the memo")
		}
	}
	// The filters of docs/operations.md, "Finding a user's runs".
	require.Len(t, list(fmt.Sprintf("YwGroupId = '%s' AND ExecutionStatus = 'Completed'", groupID)), 2)
	require.Len(t, list(fmt.Sprintf("YwUserId = '%s' AND WorkflowType = 'ChatTurn'", member.id)), 2)
	require.Len(t, list(fmt.Sprintf("YwUserId = '%s' AND WorkflowType = 'IngestDocument'", member.id)), 2)
	doc := list(fmt.Sprintf("YwDocumentId = '%s' OR YwSessionId = '%s'", docID, sid))
	require.ElementsMatch(t, types, []string{doc[0].typ, doc[1].typ})
}

type workflowExecution struct {
	id, typ string
	memo    []string
}
