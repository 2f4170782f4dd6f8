package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/mcpservers"
	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/toolbox"
)

// A worker that dies while a tool runs is noticed within the tool heartbeat timeout (not after the
// whole tool timeout), and the call is retried on another worker with the same idempotency key,
// so a server with side effects can act once.
func TestDeadWorkerMidToolCallIsRetriedWithTheSameKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	entered := make(chan struct{}, 4)
	s := server.NewMCPServer("slow", "1", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("work", mcp.WithDescription("does slow work")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		mu.Lock()
		keys = append(keys, toolbox.IdempotencyKeyFrom(req))
		first := len(keys) == 1
		mu.Unlock()
		entered <- struct{}{}
		if first {
			<-ctx.Done() // the first call hangs until its worker dies
			return nil, ctx.Err()
		}
		return mcp.NewToolResultText("work done"), nil
	})
	srv := httptest.NewServer(mcpservers.Mount(s, quiet))
	defer srv.Close()

	p := newPlatform(t, map[string]string{"MCP_ALLOWED_HOSTS": "127.0.0.1", "TOOLS_AUTO_APPROVE": "slow__work",
		"TOOL_TIMEOUT": "5m", "TOOL_HEARTBEAT_TIMEOUT": "2s"})
	worker := p.startWorker()
	p.startAPI()
	u := p.signup("tilda")
	require.Equal(t, http.StatusCreated, u.do("POST", "/v1/mcp-servers", map[string]any{"name": "slow", "url": srv.URL + "/mcp"}).status)
	sid := u.newSession([]string{"*"})
	_, events := u.send(sid, `call slow__work {}`)
	ch := must(u.stream(context.Background(), events, 0))
	select {
	case <-entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the tool was never called")
	}
	worker.kill()
	p.startWorker()
	evs := collect(t, ch, 60*time.Second) // without a heartbeat timeout the retry waits for TOOL_TIMEOUT (5 min)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
	var result sseEvent
	for _, e := range evs {
		if e.Type == "tool.result" {
			result = e
		}
	}
	require.Equal(t, "succeeded", result.Data["status"])
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, keys, 2)
	require.NotEmpty(t, keys[0])
	require.Equal(t, keys[0], keys[1], "the retry carries the same idempotency key")
}

// wedge stores a turn that claims to run but has no workflow, as a crash between storing a turn
// and starting its workflow leaves it, started the given time ago.
func wedge(t *testing.T, p *platform, u *user, sid string, ago time.Duration) string {
	t.Helper()
	id := uuid.NewString()
	_, err := openDB(t, p).Exec(`INSERT INTO turns (id, session_id, user_id, workflow_id, status, model, started_at)
		VALUES ($1, $2, $3, $4, 'running', 'llama3.1:8b', now() - $5 * interval '1 second')`,
		id, sid, u.id, "chat-turn/"+sid+"/"+id, int(ago.Seconds()))
	require.NoError(t, err)
	return id
}

// A turn whose workflow is gone never blocks its session for good: the reaper (a Temporal
// schedule) fails it, and a new message, a cancel or a delete deal with it at once.
func TestWedgedTurnsAreReaped(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"TURN_REAPER_INTERVAL": "1s", "TURN_REAPER_GRACE": "3s"}).start()
	u := p.signup("wanda")

	// The reaper fails it by itself within a bounded time.
	sid := u.newSession([]string{})
	turn := wedge(t, p, u, sid, 0)
	require.Equal(t, http.StatusConflict, u.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": "hello?"}).status,
		"within the grace period the turn may still be starting its workflow")
	require.Eventually(t, func() bool {
		return u.do("GET", "/v1/sessions/"+sid+"/turns/"+turn, nil).json(t)["status"] == "failed"
	}, 30*time.Second, 200*time.Millisecond, "the reaper fails the lost turn")
	tj := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turn, nil).json(t)
	require.Equal(t, "TURN_LOST", tj["error"].(map[string]any)["code"])
	recordReaperRun(t, p)
	evs := collect(t, must(u.stream(context.Background(), "/v1/sessions/"+sid+"/turns/"+turn+"/events", 0)), 10*time.Second)
	require.Equal(t, []string{"turn.failed"}, types(evs), "a stream following it ends")
	_, events := u.send(sid, "hello again")
	last := collect(t, must(u.stream(context.Background(), events, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", last[len(last)-1].Type)

	// A message, a cancel and a delete do not wait for the reaper.
	sid = u.newSession([]string{})
	wedge(t, p, u, sid, time.Minute)
	r := u.do("POST", "/v1/sessions/"+sid+"/messages", map[string]any{"content": "anyone?"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	collect(t, must(u.stream(context.Background(), r.json(t)["events_url"].(string), 0)), 60*time.Second)

	sid = u.newSession([]string{})
	turn = wedge(t, p, u, sid, time.Minute)
	r = u.do("POST", "/v1/sessions/"+sid+"/turns/"+turn+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Equal(t, "cancelled", r.json(t)["status"])
	require.Equal(t, "cancelled", u.do("GET", "/v1/sessions/"+sid+"/turns/"+turn, nil).json(t)["status"])
	// Each lost turn counts once in youworker_turns_total, from whichever process finished it: the
	// worker's reaper, or the API when a message or a cancel found the turn first.
	api, worker := scrape(t, p.metricsURL), scrape(t, p.workerMetricsURL)
	count := func(outcome string) float64 {
		want := map[string]string{"outcome": outcome}
		return value(api, "youworker_turns_total", want) + value(worker, "youworker_turns_total", want)
	}
	require.Equal(t, 2.0, count("failed"), "the turn the reaper failed and the one a message found")
	require.Equal(t, 1.0, value(api, "youworker_turns_total", map[string]string{"outcome": "cancelled"}), "the lost turn its user cancelled")

	sid = u.newSession([]string{})
	wedge(t, p, u, sid, time.Minute)
	require.Equal(t, http.StatusNoContent, u.do("DELETE", "/v1/sessions/"+sid, nil).status)
}

// Postgres stops for 70 s in the middle of a turn: the turn still ends (its bookkeeping retries
// until Postgres is back instead of giving up after a minute) and the session takes the next
// message.
func TestPostgresOutageMidTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		require.NoError(t, os.Chmod(d, 0o755)) // the server may run as the postgres user
	}
	pg, err := devservices.StartPostgres(ctx, devservices.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Fast: true, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	require.NoError(t, pg.CreateDatabase(ctx, "youworker", ""))
	db, err := sql.Open("pgx", pg.DSN("youworker"))
	require.NoError(t, err)
	_, err = migrations.Up(ctx, db)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	p := newPlatform(t, map[string]string{"DATABASE_URL": pg.DSN("youworker"), "TURN_REAPER_INTERVAL": "1h"})
	p.ollama.SetTokenDelay(100 * time.Millisecond)
	p.start()
	u := p.signup("otto")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "reply-tokens 100 slowly")
	ch := must(u.stream(ctx, events, 0))
	until(t, ch, "token", 30*time.Second)

	require.NoError(t, pg.Stop(ctx))
	time.Sleep(70 * time.Second)
	require.NoError(t, pg.Start(ctx))

	var status string
	require.Eventually(t, func() bool {
		r := u.do("GET", "/v1/sessions/"+sid+"/turns/"+turnID, nil)
		if r.status != http.StatusOK {
			return false
		}
		status, _ = r.json(t)["status"].(string)
		return status == "completed" || status == "failed"
	}, 90*time.Second, time.Second, "the turn ends once Postgres is back; logs:\n%s", p.logs)
	t.Logf("the turn ended %s", status)
	_, events = u.send(sid, "are you back?")
	evs := collect(t, must(u.stream(ctx, events, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", types(evs))
}

// recordReaperRun records the history of a finished ReapTurns run of the platform's task queue.
func recordReaperRun(t *testing.T, p *platform) {
	t.Helper()
	if os.Getenv("YW_RECORD_HISTORIES") != "1" {
		return
	}
	c := testenv.TemporalClient(t)
	q := fmt.Sprintf("WorkflowType = 'ReapTurns' AND TaskQueue = '%s' AND ExecutionStatus = 'Completed'", p.env["TEMPORAL_TASK_QUEUE"])
	var id string
	require.Eventually(t, func() bool {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		if err != nil || len(resp.GetExecutions()) == 0 {
			return false
		}
		id = resp.GetExecutions()[0].GetExecution().GetWorkflowId()
		return true
	}, 30*time.Second, 200*time.Millisecond)
	recordHistory(t, p, id, "reap_turns")
}
