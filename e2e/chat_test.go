package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/testenv"
)

func openDB(t *testing.T, p *platform) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", p.db.DSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// requireNoPlaintext reads the raw encrypted columns and checks that needle is nowhere in them.
func requireNoPlaintext(t *testing.T, p *platform, needle string) {
	t.Helper()
	db := openDB(t, p)
	for _, q := range []string{
		`SELECT content FROM messages`, `SELECT coalesce(tool_calls, '') FROM messages`,
		`SELECT data FROM turn_events`, `SELECT coalesce(arguments, '') FROM tool_runs`,
	} {
		rows, err := db.Query(q)
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			var b []byte
			require.NoError(t, rows.Scan(&b))
			require.NotContains(t, string(b), needle, q)
			n++
		}
		require.NoError(t, rows.Close())
	}
}

func TestTurnWithoutTools(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("alice")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "hello durable platform")

	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	evs := collect(t, ch, 30*time.Second)
	require.Equal(t, []string{"turn.started", "step.started", "token*", "step.finished", "message", "turn.completed"}, compact(evs))
	requireIDsContiguous(t, evs)
	want := "You said: hello durable platform"
	require.Equal(t, want, strings.TrimSpace(tokensOf(evs, 1, 1)))
	msg := evs[len(evs)-2]
	require.Equal(t, want, strings.TrimSpace(msg.Data["content"].(string)))

	turn := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turnID, nil)
	require.Equal(t, http.StatusOK, turn.status)
	tj := turn.json(t)
	require.Equal(t, "completed", tj["status"])
	require.EqualValues(t, 1, tj["steps"])
	require.Positive(t, tj["usage"].(map[string]any)["completion_tokens"])
	require.Equal(t, want, strings.TrimSpace(tj["final_message"].(map[string]any)["content"].(string)))

	sess := u.do("GET", "/v1/sessions/"+sid, nil).json(t)
	msgs := sess["messages"].([]any)
	require.Len(t, msgs, 2)
	require.Equal(t, "hello durable platform", msgs[0].(map[string]any)["content"])

	requireNoPlaintext(t, p, "durable platform")

	// A finished turn replays its events and closes; Last-Event-ID resumes after an event.
	again := collect(t, must(u.stream(context.Background(), events, 0)), 10*time.Second)
	require.Equal(t, types(evs), types(again))
	tail := collect(t, must(u.stream(context.Background(), events, 3)), 10*time.Second)
	require.Equal(t, evs[3:], tail)

	// The run knows its shape from its input: no version marker, no TemporalChangeVersion upsert
	// (a visibility write); the one upsert left is YwStatus at the end.
	var kinds []string
	for _, e := range workflowHistory(t, p, tj["workflow_id"].(string)).Events {
		kinds = append(kinds, e.GetEventType().String())
	}
	require.Equal(t, []string{"WorkflowExecutionStarted", "WorkflowTaskScheduled", "WorkflowTaskStarted",
		"WorkflowTaskCompleted", "ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted",
		"WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted", "UpsertWorkflowSearchAttributes",
		"WorkflowExecutionCompleted"}, kinds)
	recordHistory(t, p, tj["workflow_id"].(string), "chat_turn_plain")
}

func must(ch <-chan sseEvent, err error) <-chan sseEvent {
	if err != nil {
		panic(err)
	}
	return ch
}

func TestTurnCallingATool(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("bob")
	sid := u.newSession([]string{"time_now"})

	// Accept: text/event-stream on the POST streams the new turn directly.
	req, err := http.NewRequest("POST", p.apiURL+"/v1/sessions/"+sid+"/messages",
		strings.NewReader(`{"content":"what time is it? call time_now {\"timezone\":\"UTC\"}"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	evs := collect(t, readSSE(resp.Body), 30*time.Second)

	require.Equal(t, []string{
		"turn.started",
		"step.started", "step.finished", "tool.call", // the model asks for the tool
		"step.started", "tool.result", "step.finished", // the tool runs
		"step.started", "token*", "step.finished", // the model answers
		"message", "turn.completed",
	}, compact(evs))
	requireIDsContiguous(t, evs)
	call := evs[3]
	require.Equal(t, "time_now", call.Data["name"])
	require.Equal(t, map[string]any{"timezone": "UTC"}, call.Data["arguments"])
	result := evs[5]
	require.Equal(t, "succeeded", result.Data["status"])
	require.Contains(t, result.Data["content"], "UTC")
	final := evs[len(evs)-2].Data["content"].(string)
	require.Contains(t, final, "Tool time_now returned:")

	runs := u.do("GET", "/v1/tool-runs", nil).json(t)["items"].([]any)
	require.Len(t, runs, 1)
	run := runs[0].(map[string]any)
	require.Equal(t, "time_now", run["tool"])
	require.Equal(t, "succeeded", run["status"])
	require.Equal(t, map[string]any{"timezone": "UTC"}, run["arguments"])

	requireNoPlaintext(t, p, "what time is it")
	requireNoPlaintext(t, p, "Tool time_now returned")
	recordHistory(t, p, turnWorkflowID(t, u, sid), "chat_turn_tool")
}

func turnWorkflowID(t *testing.T, u *user, sid string) string {
	t.Helper()
	turns := u.do("GET", "/v1/sessions/"+sid, nil).json(t)["turns"].([]any)
	return turns[len(turns)-1].(map[string]any)["workflow_id"].(string) // the latest: oldest first
}

// TestWorkerKilledMidStream SIGKILLs the worker while the model streams: a new worker retries the
// model call, the turn completes with exactly one assistant message, and the client that stayed
// connected sees a consistent stream: attempt 2 announced by a new step.started, then the whole
// answer, then turn.completed.
func TestWorkerKilledMidStream(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.ollama.SetTokenDelay(40 * time.Millisecond)
	worker := p.startWorker()
	p.startAPI()
	u := p.signup("carol")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "reply-tokens 60 please")

	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	var evs []sseEvent
	tokens := 0
	for tokens < 5 {
		ev, ok := <-ch
		require.True(t, ok, "stream ended early: %v", types(evs))
		evs = append(evs, ev)
		if ev.Type == "token" {
			tokens++
		}
	}
	worker.kill()
	p.startWorker()
	evs = append(evs, collect(t, ch, 60*time.Second)...)

	requireIDsContiguous(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
	var attempts []float64
	for _, e := range evs {
		if e.Type == "step.started" {
			attempts = append(attempts, e.Data["attempt"].(float64))
		}
	}
	require.Equal(t, []float64{1, 2}, attempts, "the retry is announced as attempt 2")
	final := evs[len(evs)-2]
	require.Equal(t, "message", final.Type)
	require.Equal(t, final.Data["content"], tokensOf(evs, 1, 2), "attempt 2 streams the whole answer")
	require.Len(t, strings.Fields(final.Data["content"].(string)), 60)

	var n int
	require.NoError(t, openDB(t, p).QueryRow(`SELECT count(*) FROM messages WHERE turn_id = $1 AND role = 'assistant'`, turnID).Scan(&n))
	require.Equal(t, 1, n, "exactly one assistant message")
}

// TestAPIKilledMidStream SIGKILLs the API process a client streams from; the client reconnects
// to a new API process with Last-Event-ID and gets the rest: nothing missing, nothing repeated.
func TestAPIKilledMidStream(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.ollama.SetTokenDelay(30 * time.Millisecond)
	p.startWorker()
	api := p.startAPI()
	u := p.signup("dave")
	sid := u.newSession([]string{})
	_, events := u.send(sid, "reply-tokens 50 now")

	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	var evs []sseEvent
	for len(evs) < 8 {
		ev, ok := <-ch
		require.True(t, ok)
		evs = append(evs, ev)
	}
	api.kill()
	// Whatever was already buffered in the dead connection still counts; then the stream ends.
	evs = append(evs, collect(t, ch, 10*time.Second)...)
	require.NotEqual(t, "turn.completed", evs[len(evs)-1].Type, "the kill happened mid-stream")

	p.startAPI()
	rest := collect(t, must(u.stream(context.Background(), events, evs[len(evs)-1].ID)), 60*time.Second)
	all := append(evs, rest...)
	requireIDsContiguous(t, all)
	require.Equal(t, "turn.completed", all[len(all)-1].Type)
	require.Len(t, strings.Fields(tokensOf(all, 1, 1)), 50)
}

func TestIdempotencyKeyGivesOneTurn(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("erin")
	sid := u.newSession([]string{})
	var wg sync.WaitGroup
	replies := make([]reply, 4)
	for i := range replies {
		wg.Go(func() {
			replies[i] = p.request("POST", "/v1/sessions/"+sid+"/messages", u.token,
				map[string]any{"content": "only once"}, map[string]string{"Idempotency-Key": "key-1"})
		})
	}
	wg.Wait()
	turnIDs := map[string]bool{}
	for _, r := range replies {
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, r.status, "%s", r.body)
		turnIDs[r.json(t)["turn_id"].(string)] = true
	}
	require.Len(t, turnIDs, 1)
	var msgs, turns int
	db := openDB(t, p)
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM messages WHERE role = 'user'`).Scan(&msgs))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM turns`).Scan(&turns))
	require.Equal(t, 1, msgs)
	require.Equal(t, 1, turns)
}

func TestSecondMessageWhileTurnRunsIsConflict(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.ollama.SetTokenDelay(50 * time.Millisecond)
	p.start()
	u := p.signup("frank")
	sid := u.newSession([]string{})
	_, events := u.send(sid, "reply-tokens 20")
	r := u.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": "me too"})
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "TURN_IN_PROGRESS")
	collect(t, must(u.stream(context.Background(), events, 0)), 30*time.Second)
	// Once the turn is done the session takes the next message.
	second, _ := u.send(sid, "now it is my turn")

	// The session lists its turns oldest first, like its messages.
	turns := u.do("GET", "/v1/sessions/"+sid, nil).json(t)["turns"].([]any)
	require.Len(t, turns, 2)
	require.Equal(t, second, turns[1].(map[string]any)["id"], "the latest turn is last")
}

func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.ollama.SetTokenDelay(50 * time.Millisecond)
	p.start()
	u := p.signup("grace")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "reply-tokens 200 slowly")
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	var evs []sseEvent
	for tokens := 0; tokens < 3; {
		ev := <-ch
		evs = append(evs, ev)
		if ev.Type == "token" {
			tokens++
		}
	}
	cancelledAt := time.Now()
	r := u.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	evs = append(evs, collect(t, ch, 30*time.Second)...)
	took := time.Since(cancelledAt)
	t.Logf("cancel to turn.cancelled: %s", took)
	require.Equal(t, "turn.cancelled", evs[len(evs)-1].Type)
	require.Less(t, took, 5*time.Second, "the running model call is cancelled, not waited for")

	partial := tokensOf(evs, 1, 1)
	require.Less(t, len(strings.Fields(partial)), 200, "the stream stopped early")
	msg := evs[len(evs)-2]
	require.Equal(t, "message", msg.Type)
	require.Equal(t, "cancelled", msg.Data["status"])
	require.Equal(t, partial, msg.Data["content"], "the partial answer is kept")
	tj := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turnID, nil).json(t)
	require.Equal(t, "cancelled", tj["status"])
	require.Equal(t, http.StatusConflict, u.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/cancel", nil).status)
	recordHistory(t, p, tj["workflow_id"].(string), "chat_turn_cancelled")
}

func TestStepCap(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"TURN_MAX_STEPS": "3"}).start()
	u := p.signup("heidi")
	sid := u.newSession([]string{"time_now"})
	_, events := u.send(sid, `loop time_now {"timezone":"UTC"}`)
	evs := collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	last := evs[len(evs)-1]
	require.Equal(t, "turn.failed", last.Type)
	require.Equal(t, "STEP_LIMIT_EXCEEDED", last.Data["error"].(map[string]any)["code"])
	recordHistory(t, p, turnWorkflowID(t, u, sid), "chat_turn_step_cap")
}

func TestLLMRecoversFromTransientFailures(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"LLM_MAX_ATTEMPTS": "4"})
	p.ollama.SetFaults("chat", ollama.Faults{FailFirst: 2})
	p.start()
	u := p.signup("ivan")
	sid := u.newSession([]string{})
	_, events := u.send(sid, "hello after failures")
	evs := collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type)
	require.Equal(t, int64(3), p.ollama.Stats().ChatCalls)
}

func TestLLMDownFailsTheTurnAndKeepsTheMessage(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"LLM_MAX_ATTEMPTS": "2"})
	p.ollama.SetFaults("chat", ollama.Faults{FailRate: 1})
	p.start()
	u := p.signup("judy")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "is anyone there")
	evs := collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	last := evs[len(evs)-1]
	require.Equal(t, "turn.failed", last.Type)
	require.Equal(t, "LLM_UNAVAILABLE", last.Data["error"].(map[string]any)["code"])
	recordHistory(t, p, turnWorkflowID(t, u, sid), "chat_turn_llm_down")
	// Operators find a user's failed turns in Temporal by search attributes (README).
	tc := testenv.TemporalClient(t)
	query := fmt.Sprintf("YwUserId = '%s' AND YwStatus = 'failed'", u.id)
	require.Eventually(t, func() bool {
		resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil || len(resp.Executions) != 1 {
			return false
		}
		var turn string
		memo := resp.Executions[0].Memo.Fields
		_, titled := memo["session_title"]
		return converter.GetDefaultDataConverter().FromPayload(memo["turn_id"], &turn) == nil && turn == turnID && !titled
	}, 10*time.Second, 100*time.Millisecond, "turn listed by %s with its id, and no session title, in the memo", query)
	tj := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turnID, nil).json(t)
	require.Equal(t, "failed", tj["status"])
	msgs := u.do("GET", "/v1/sessions/"+sid, nil).json(t)["messages"].([]any)
	require.Len(t, msgs, 1)
	require.Equal(t, "is anyone there", msgs[0].(map[string]any)["content"])
	// The session is free for the next message.
	p.ollama.ClearFaults()
	u.send(sid, "try again")
}

func TestToolApproval(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"TOOLS_REQUIRE_APPROVAL": "time_now"}).start()
	u := p.signup("kim")
	sid := u.newSession([]string{"time_now"})

	for _, approve := range []bool{true, false} {
		turnID, events := u.send(sid, `call time_now {"timezone":"UTC"}`)
		ch, err := u.stream(context.Background(), events, 0)
		require.NoError(t, err)
		var evs []sseEvent
		for len(evs) == 0 || evs[len(evs)-1].Type != "approval.required" {
			ev, ok := <-ch
			require.True(t, ok, "%v", types(evs))
			evs = append(evs, ev)
		}
		callID := evs[len(evs)-1].Data["call_id"].(string)
		tj := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turnID, nil).json(t)
		require.Equal(t, "waiting_approval", tj["status"])

		other := p.signup("kim-neighbour-" + map[bool]string{true: "a", false: "b"}[approve])
		require.Equal(t, http.StatusNotFound, other.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/approvals/"+callID,
			map[string]any{"approved": true}).status)
		require.Equal(t, http.StatusNotFound, u.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/approvals/no-such-call",
			map[string]any{"approved": true}).status)
		require.Equal(t, http.StatusBadRequest, u.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/approvals/"+callID,
			map[string]any{}).status, "approved is required")

		r := u.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/approvals/"+callID, map[string]any{"approved": approve, "reason": "test"})
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		evs = append(evs, collect(t, ch, 30*time.Second)...)
		require.Equal(t, "turn.completed", evs[len(evs)-1].Type)
		var result sseEvent
		for _, e := range evs {
			if e.Type == "tool.result" {
				result = e
			}
		}
		if approve {
			require.Equal(t, "succeeded", result.Data["status"])
			recordHistory(t, p, turnWorkflowID(t, u, sid), "chat_turn_approved")
		} else {
			require.Equal(t, "denied", result.Data["status"])
			require.Contains(t, result.Data["content"], "did not approve")
		}
	}
}

func TestOtherUsersTurnsAreNotFound(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	owner := p.signup("owner")
	sid := owner.newSession([]string{})
	turnID, events := owner.send(sid, "private words")
	collect(t, must(owner.stream(context.Background(), events, 0)), 30*time.Second)

	mallory := p.signup("mallory")
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/sessions/" + sid},
		{"PATCH", "/v1/sessions/" + sid},
		{"DELETE", "/v1/sessions/" + sid},
		{"POST", "/v1/sessions/" + sid + "/messages"},
		{"GET", "/v1/sessions/" + sid + "/turns/" + turnID},
		{"GET", events},
		{"POST", "/v1/sessions/" + sid + "/turns/" + turnID + "/cancel"},
	} {
		var body any
		if c.method == "PATCH" {
			body = map[string]any{"title": "pwned"}
		} else if c.method == "POST" && strings.HasSuffix(c.path, "/messages") {
			body = map[string]any{"content": "hi"}
		}
		r := mallory.do(c.method, c.path, body)
		require.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", c.method, c.path, r.body)
		require.NotContains(t, string(r.body), "private words")
	}
	require.Empty(t, mallory.do("GET", "/v1/sessions", nil).json(t)["items"])
	require.Equal(t, "e2e", owner.do("GET", "/v1/sessions/"+sid, nil).json(t)["session"].(map[string]any)["title"], "nothing changed")
}

// TestWorkerDrainsOnSIGTERM stops the worker in the middle of a model call: it stops polling but
// finishes the call it is running, so no retry is needed; a new worker carries the turn on.
func TestWorkerDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.ollama.SetTokenDelay(30 * time.Millisecond)
	w := p.startWorker()
	p.startAPI()
	u := p.signup("nina")
	sid := u.newSession([]string{})
	_, events := u.send(sid, "reply-tokens 40 please")
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	var evs []sseEvent
	for len(evs) < 4 {
		evs = append(evs, <-ch)
	}
	w.stop(t)
	require.Zero(t, w.cmd.ProcessState.ExitCode(), "clean exit after draining")
	p.startWorker()
	evs = append(evs, collect(t, ch, 60*time.Second)...)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type)
	for _, e := range evs {
		if e.Type == "step.started" {
			require.EqualValues(t, 1, e.Data["attempt"], "the draining worker finished the call itself")
		}
	}
	require.Len(t, strings.Fields(tokensOf(evs, 1, 1)), 40)
}

// operator GETs a path on the latest API's metrics listener.
func (p *platform) operator(path string) reply {
	p.t.Helper()
	resp, err := http.Get(p.metricsURL + path)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestHealthReportsEveryDependency(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	require.Eventually(t, func() bool {
		r := p.operator("/health/detailed")
		if r.status != http.StatusOK {
			return false
		}
		checks := r.json(t)["checks"].(map[string]any)
		for _, name := range []string{"postgres", "temporal", "worker", "llm", "mcp:datetime"} {
			c, ok := checks[name].(map[string]any)
			if !ok || c["status"] != "up" {
				return false
			}
		}
		return true
	}, 20*time.Second, 200*time.Millisecond)

	// The model going away makes the (required) llm check fail: 503 with Retry-After.
	p.env["OLLAMA_HOST"] = "http://127.0.0.1:1" // nothing listens there
	p.startAPI()
	r := p.operator("/health/detailed")
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	require.NotEmpty(t, r.header.Get("Retry-After"))
	require.Equal(t, "down", r.json(t)["checks"].(map[string]any)["llm"].(map[string]any)["status"])
}

// TestOpenAICompatibleCompletions runs chat completions (plain and streamed) as durable turns.
func TestOpenAICompatibleCompletions(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("oscar")
	r := u.do("POST", "/v1/chat/completions", map[string]any{"model": "llama3.1:8b", "messages": []map[string]any{
		{"role": "system", "content": "Be brief."}, {"role": "user", "content": "earlier question"},
		{"role": "assistant", "content": "earlier answer"}, {"role": "user", "content": "hello completions"}}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, "chat.completion", m["object"])
	msg := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	require.Equal(t, "You said: hello completions", strings.TrimSpace(msg["content"].(string)))
	require.Positive(t, m["usage"].(map[string]any)["completion_tokens"])
	sess := u.do("GET", "/v1/sessions/"+m["session_id"].(string), nil).json(t)
	require.Len(t, sess["messages"], 4, "history imported, then the turn's question and answer")

	req, err := http.NewRequest("POST", p.apiURL+"/v1/chat/completions", strings.NewReader(
		`{"stream": true, "messages": [{"role": "user", "content": "reply-tokens 5"}]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var text strings.Builder
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ch map[string]any
		require.NoError(t, json.Unmarshal([]byte(data), &ch))
		if c, ok := ch["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)["content"].(string); ok {
			text.WriteString(c)
		}
	}
	require.True(t, strings.HasSuffix(strings.TrimSpace(string(body)), "data: [DONE]"))
	require.Equal(t, "w1 w2 w3 w4 w5", strings.TrimSpace(text.String()))

	// stream_options.include_usage: a last chunk with no choices and the usage, before [DONE].
	req, err = http.NewRequest("POST", p.apiURL+"/v1/chat/completions", strings.NewReader(
		`{"stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "reply-tokens 3"}]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Content-Type", "application/json")
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	body, err = io.ReadAll(resp2.Body)
	require.NoError(t, err)
	var chunks []map[string]any
	for _, line := range strings.Split(string(body), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "[DONE]" {
			var ch map[string]any
			require.NoError(t, json.Unmarshal([]byte(data), &ch))
			chunks = append(chunks, ch)
		}
	}
	last := chunks[len(chunks)-1]
	require.Empty(t, last["choices"])
	require.Equal(t, float64(3), last["usage"].(map[string]any)["completion_tokens"], "%s", body)
	require.NotContains(t, chunks[len(chunks)-2], "usage", "only the last chunk carries it")

	// Sampling options reach the model: max_tokens is Ollama's num_predict, which the stand-in honours.
	capped := u.do("POST", "/v1/chat/completions", map[string]any{"max_tokens": 2, "temperature": 0.2, "seed": 7, "stop": "zz",
		"messages": []map[string]any{{"role": "user", "content": "reply-tokens 10"}}})
	require.Equal(t, http.StatusOK, capped.status, "%s", capped.body)
	capMsg := capped.json(t)["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	require.Equal(t, "w1 w2", strings.TrimSpace(capMsg["content"].(string)))
	for _, opts := range []map[string]any{{"temperature": 3}, {"top_p": -1}, {"max_tokens": 0}, {"stop": 5}} {
		opts["messages"] = []map[string]any{{"role": "user", "content": "x"}}
		r := u.do("POST", "/v1/chat/completions", opts)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", opts, r.body)
	}

	bad := u.do("POST", "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "assistant", "content": "x"}}})
	require.Equal(t, http.StatusBadRequest, bad.status)
}

// Both chat routes hold messages to MAX_MESSAGE_CHARS, before anything is stored: the
// OpenAI-compatible route used to skip the check.
func TestMessageLimitOnBothChatRoutes(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"MAX_MESSAGE_CHARS": "50"}).start()
	u := p.signup("lena")
	long := strings.Repeat("é", 51)

	sid := u.newSession([]string{})
	r := u.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": long})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "content is 51 characters; the limit is 50")

	r = u.do("POST", "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": long}}})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "messages[0].content is 51 characters; the limit is 50")
	r = u.do("POST", "/v1/chat/completions", map[string]any{"messages": []map[string]any{
		{"role": "user", "content": long}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "short"}}})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "messages[0].content")

	var sessions int
	require.NoError(t, openDB(t, p).QueryRow(`SELECT count(*) FROM chat_sessions`).Scan(&sessions))
	require.Equal(t, 1, sessions, "a refused completion stores no session")
	r = u.do("POST", "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": "short enough"}}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}
