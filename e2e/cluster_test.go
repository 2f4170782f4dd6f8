//go:build cluster

// The kill matrix: YouWorker in its production shape — the Temporal server on Postgres (not the
// dev server), two API processes, two worker processes, the Qdrant vector path — with parts of it
// SIGKILLed or restarted mid-work. Every cell asserts from Postgres, Qdrant and Temporal, not from
// logs: one user and one assistant message per turn, one vector per chunk, nothing left running,
// every SSE stream complete with contiguous ids. `make test-cluster` runs it (build tag cluster);
// the cells share one Temporal server and run one at a time.

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/youworker/youworker/apitest"
	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/standin/qdrant"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/vectors"
)

var (
	tsOnce sync.Once
	ts     *devservices.TemporalServer
	tsErr  error
)

// temporalServer is the Postgres-backed Temporal server of this test binary, on the test
// Postgres cluster, started on first use.
func temporalServer(t *testing.T) *devservices.TemporalServer {
	t.Helper()
	pg := testenv.PostgresCluster(t)
	tsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "yw-cluster-temporal-")
		if err != nil {
			tsErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		ts, tsErr = devservices.StartTemporalServer(ctx, devservices.TemporalServerOptions{
			Postgres: pg, StateDir: dir, DynamicConfig: devservices.ServerFastDispatch(), Logger: quiet,
		})
	})
	require.NoError(t, tsErr)
	return ts
}

// cluster is one YouWorker deployment on the Temporal server: two APIs, two workers.
type cluster struct {
	*platform
	srv     *devservices.TemporalServer
	qdrant  *qdrant.Server
	apis    []*proc
	urls    []string // of apis, by index
	workers []*proc
	tc      client.Client
}

func newCluster(t *testing.T, extra map[string]string) *cluster {
	t.Helper()
	return newClusterOf(t, extra, 2)
}

// newClusterOf is newCluster with the given number of workers.
func newClusterOf(t *testing.T, extra map[string]string, workers int) *cluster {
	t.Helper()
	srv := temporalServer(t)
	qs, err := qdrant.Listen(qdrant.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(qs.Stop)
	env := map[string]string{"QDRANT_URL": "http://" + qs.Addr()}
	for k, v := range extra {
		env[k] = v
	}
	c := &cluster{platform: newPlatformOn(t, srv.Address, "default", env), srv: srv, qdrant: qs}
	// What a deploy's migrate job does: the schema (already there), the namespace and the search
	// attributes, through the operator API of the real server.
	migrate := exec.Command(binary, "migrate", "up")
	for k, v := range c.env {
		migrate.Env = append(migrate.Env, k+"="+v)
	}
	out, err := migrate.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "search attributes")

	c.tc, err = client.Dial(client.Options{HostPort: srv.Address, Namespace: "default", Logger: sdklog.NewStructuredLogger(quiet)})
	require.NoError(t, err)
	t.Cleanup(c.tc.Close)
	for range workers {
		c.workers = append(c.workers, c.startWorker())
	}
	for range 2 {
		c.apis = append(c.apis, c.startAPI())
		c.urls = append(c.urls, c.apiURL)
	}
	return c
}

// on points the platform's requests (every user's) at API i.
func (c *cluster) on(i int) *cluster {
	c.apiURL = c.urls[i]
	return c
}

// restartAPI starts API i again on its own address after it stopped.
func (c *cluster) restartAPI(i int) {
	c.t.Helper()
	addr := strings.TrimPrefix(c.urls[i], "http://")
	c.apis[i] = c.spawnWith(map[string]string{"API_ADDR": addr, "METRICS_ADDR": freeAddr(c.t)}, "api")
	require.Eventually(c.t, func() bool {
		resp, err := http.Get(c.urls[i] + "/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "API %d did not restart; logs:\n%s", i, c.logs)
}

// workerRunning returns the index of the worker whose process runs the workflow's pending
// activity of the given type (its Temporal identity is the SDK's default, pid@host@).
func (c *cluster) workerRunning(workflowID, activity string, timeout time.Duration) int {
	c.t.Helper()
	var found = -1
	require.Eventually(c.t, func() bool {
		desc, err := c.tc.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			return false
		}
		for _, a := range desc.GetPendingActivities() {
			if a.GetActivityType().GetName() != activity || a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			pid, _, _ := strings.Cut(a.GetLastWorkerIdentity(), "@")
			for i, w := range c.workers {
				if strconv.Itoa(w.cmd.Process.Pid) == pid {
					found = i
					return true
				}
			}
		}
		return false
	}, timeout, 10*time.Millisecond, "no worker of ours runs %s of %s", activity, workflowID)
	return found
}

// vectorCount counts a document's points in Qdrant.
func (c *cluster) vectorCount(docID string) int {
	c.t.Helper()
	ctx := context.Background()
	vs, err := vectors.OpenQdrant(ctx, vectors.QdrantConfig{URL: "http://" + c.qdrant.Addr()})
	require.NoError(c.t, err)
	defer vs.Close()
	n, err := vs.CountDocument(ctx, vectors.Collection{Model: "nomic-embed-text", Dim: 768}, uuid.MustParse(docID))
	require.NoError(c.t, err)
	return n
}

// requireSettled checks the invariants every cell ends with, from Postgres: no turn or run is
// left running, every turn has exactly one user message, completed turns exactly one final
// assistant message (tool-call messages aside), no step has two assistant messages and no tool
// call two results, and every ready document has one vector per chunk.
func (c *cluster) requireSettled() {
	c.t.Helper()
	db := openDB(c.t, c.platform)
	var running int
	require.NoError(c.t, db.QueryRow(`SELECT count(*) FROM turns WHERE status = 'running'`).Scan(&running))
	require.Zero(c.t, running, "turns left running")
	require.NoError(c.t, db.QueryRow(`SELECT count(*) FROM ingestion_runs WHERE status NOT IN ('completed', 'failed', 'cancelled')`).Scan(&running))
	require.Zero(c.t, running, "ingestion runs left unfinished")
	rows, err := db.Query(`SELECT t.id, t.status,
		(SELECT count(*) FROM messages m WHERE m.turn_id = t.id AND m.role = 'user'),
		(SELECT count(*) FROM messages m WHERE m.turn_id = t.id AND m.role = 'assistant' AND m.tool_calls IS NULL) FROM turns t`)
	require.NoError(c.t, err)
	defer rows.Close()
	for rows.Next() {
		var id, status string
		var users, assistants int
		require.NoError(c.t, rows.Scan(&id, &status, &users, &assistants))
		require.Equal(c.t, 1, users, "turn %s: user messages", id)
		if status == "completed" {
			require.Equal(c.t, 1, assistants, "turn %s: assistant messages", id)
		} else {
			require.LessOrEqual(c.t, assistants, 1, "turn %s (%s): assistant messages", id, status)
		}
	}
	require.NoError(c.t, rows.Err())
	var doubled int
	require.NoError(c.t, db.QueryRow(`SELECT count(*) FROM (SELECT turn_id, step FROM messages WHERE role = 'assistant'
		GROUP BY turn_id, step HAVING count(*) > 1) d`).Scan(&doubled))
	require.Zero(c.t, doubled, "steps with two assistant messages")
	require.NoError(c.t, db.QueryRow(`SELECT count(*) FROM (SELECT turn_id, tool_call_id FROM messages WHERE role = 'tool'
		GROUP BY turn_id, tool_call_id HAVING count(*) > 1) d`).Scan(&doubled))
	require.Zero(c.t, doubled, "tool calls with two results")
	docs, err := db.Query(`SELECT id, chunk_count FROM documents WHERE status = 'ready'`)
	require.NoError(c.t, err)
	defer docs.Close()
	for docs.Next() {
		var id string
		var chunks int
		require.NoError(c.t, docs.Scan(&id, &chunks))
		require.Equal(c.t, chunks, c.vectorCount(id), "document %s: one vector per chunk", id)
	}
	require.NoError(c.t, docs.Err())
}

// underWay is a streaming turn and an ingestion, both running.
type underWay struct {
	u                   *user
	sid, turnID, events string
	run                 reply
	ch                  <-chan sseEvent
	evs                 []sseEvent // read so far: up to the first token
}

// turnAndIngestionUnderWay starts, on API api, a slow turn (80 tokens at 40 ms) and the ingestion of
// a 200-paragraph text (embedding ~2 s), and returns once the turn streams and the embedding has
// begun, with both still running: the moment to break something.
func (c *cluster) turnAndIngestionUnderWay(api int, name string) underWay {
	t := c.t
	t.Helper()
	c.ollama.SetTokenDelay(40 * time.Millisecond)
	c.ollama.SetEmbedDelay(150 * time.Millisecond)
	w := underWay{u: c.on(api).signup(name)}
	w.sid = w.u.newSession([]string{})
	w.turnID, w.events = w.u.send(w.sid, "reply-tokens 80 please")
	w.run = w.u.do("POST", "/v1/ingest", map[string]any{"text": bigText(200), "title": "under way"})
	require.Equal(t, http.StatusAccepted, w.run.status, "%s", w.run.body)
	var err error
	w.ch, err = w.u.stream(context.Background(), w.events, 0)
	require.NoError(t, err)
	w.evs = until(t, w.ch, "token", 30*time.Second)
	require.Eventually(t, func() bool { return c.ollama.Stats().EmbedTexts >= 20 }, 60*time.Second, 10*time.Millisecond)
	require.Equal(t, "running", turnStatus(t, openDB(t, c.platform), w.turnID), "the break lands mid-turn")
	require.Equal(t, "running", runStatus(t, w.u, w.run), "the break lands mid-ingestion")
	return w
}

// runStatus is an ingestion run's status as the API reports it ("" while the API cannot answer).
func runStatus(t *testing.T, u *user, r reply) string {
	t.Helper()
	m := u.do("GET", "/v1/ingestion-runs/"+r.json(t)["ingestion_run_id"].(string), nil)
	if m.status != http.StatusOK {
		return ""
	}
	return m.json(t)["status"].(string)
}

// turnStatus reads a turn's status from Postgres.
func turnStatus(t *testing.T, db *sql.DB, turnID string) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(`SELECT status FROM turns WHERE id = $1`, turnID).Scan(&s))
	return s
}

// TestClusterStreamResumesOnTheOtherAPI: a turn posted to API 1 is followed on API 2; the
// client drops, API 1 is SIGKILLed, and the stream resumes on API 2 with Last-Event-ID.
func TestClusterStreamResumesOnTheOtherAPI(t *testing.T) {
	c := newCluster(t, nil)
	c.ollama.SetTokenDelay(30 * time.Millisecond)
	u := c.on(0).signup("ada")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "reply-tokens 60 please")

	ctx, drop := context.WithCancel(context.Background())
	c.on(1)
	ch, err := u.stream(ctx, events, 0)
	require.NoError(t, err)
	var evs []sseEvent
	for len(evs) < 10 {
		ev, ok := <-ch
		require.True(t, ok, "stream ended early: %v", types(evs))
		evs = append(evs, ev)
	}
	drop()
	c.apis[0].kill()

	rest := collect(t, must(u.stream(context.Background(), events, evs[len(evs)-1].ID)), 60*time.Second) // still on API 2
	all := append(evs, rest...)
	requireIDsContiguous(t, all)
	require.Equal(t, "turn.completed", all[len(all)-1].Type)
	require.Len(t, strings.Fields(tokensOf(all, 1, 1)), 60)
	require.Equal(t, "completed", turnStatus(t, openDB(t, c.platform), turnID))
	c.requireSettled()
}

// TestClusterWorkerKilledMidStream: the worker running the model call is SIGKILLed mid-stream;
// the other worker (already running) retries it and the turn completes.
func TestClusterWorkerKilledMidStream(t *testing.T) {
	c := newCluster(t, nil)
	c.ollama.SetTokenDelay(40 * time.Millisecond)
	u := c.on(0).signup("bea")
	sid := u.newSession([]string{})
	turnID, events := u.send(sid, "reply-tokens 60 please")
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	evs := until(t, ch, "token", 30*time.Second)
	victim := c.workerRunning(turnWorkflowID(t, u, sid), "Generate", 10*time.Second)
	c.workers[victim].kill()

	evs = append(evs, collect(t, ch, 90*time.Second)...)
	requireIDsContiguous(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", compact(evs))
	require.Equal(t, "completed", turnStatus(t, openDB(t, c.platform), turnID))
	c.requireSettled()
	recordHistory(t, c.platform, turnWorkflowID(t, u, sid), "cluster_chat_turn_worker_killed")
}

// TestClusterWorkerKilledAfterToolCalls: two tool calls run, then the worker that ran them is
// SIGKILLed before the model's answer; the other worker finishes the turn, and each call ran once.
func TestClusterWorkerKilledAfterToolCalls(t *testing.T) {
	c := newCluster(t, nil)
	c.ollama.SetTokenDelay(60 * time.Millisecond) // the answer streams ~2 s: the kill lands in it
	u := c.on(1).signup("cleo")
	sid := u.newSession([]string{"time_now"})
	turnID, events := u.send(sid, `what time is it? call time_now {"timezone":"UTC"} call time_now {"timezone":"Asia/Tokyo"}`)
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	evs := until(t, ch, "tool.result", 30*time.Second)
	evs = append(evs, until(t, ch, "tool.result", 30*time.Second)...)
	wid := turnWorkflowID(t, u, sid)
	victim := c.workerRunning(wid, "Generate", 10*time.Second)
	c.workers[victim].kill()

	evs = append(evs, collect(t, ch, 90*time.Second)...)
	requireIDsContiguous(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", compact(evs))
	db := openDB(t, c.platform)
	var runs, succeeded int
	require.NoError(t, db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM tool_runs WHERE turn_id = $1`, turnID).Scan(&runs, &succeeded))
	require.Equal(t, 2, runs)
	require.Equal(t, 2, succeeded)
	require.Equal(t, "completed", turnStatus(t, db, turnID))
	c.requireSettled()
	recordHistory(t, c.platform, wid, "cluster_chat_turn_tools_worker_killed")
}

// TestClusterWorkerKilledMidEmbed: the worker embedding a document is SIGKILLed; the other
// worker finishes the run with one vector per chunk in Qdrant.
func TestClusterWorkerKilledMidEmbed(t *testing.T) {
	c := newCluster(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0", "EMBED_CONCURRENCY": "1", "INGEST_SLICE_CHUNKS": "64"})
	c.ollama.SetEmbedDelay(100 * time.Millisecond) // ~2 s of embedding: the kill lands mid-run
	u := c.on(0).signup("dora")
	r := u.do("POST", "/v1/ingest", map[string]any{"text": bigText(300), "title": "killed mid-embed"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Eventually(t, func() bool { return c.ollama.Stats().EmbedTexts >= 100 }, 60*time.Second, 10*time.Millisecond)
	victim := c.workerRunning(ingestWorkflowID(t, r), "Embed", 10*time.Second)
	c.workers[victim].kill()

	c.on(1)
	id, last := u.ingested(r, 120*time.Second)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)
	chunks := int(u.do("GET", "/v1/documents/"+id, nil).json(t)["chunk_count"].(float64))
	require.Greater(t, chunks, 100)
	require.Equal(t, chunks, c.vectorCount(id))
	c.requireSettled()
	recordHistory(t, c.platform, ingestWorkflowID(t, r), "cluster_ingest_worker_killed")
}

// TestClusterTemporalKilledMidTurnAndIngestion: the Temporal server is SIGKILLed while a turn
// streams and a document is embedded, and started again: both finish.
func TestClusterTemporalKilledMidTurnAndIngestion(t *testing.T) {
	c := newCluster(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0", "EMBED_CONCURRENCY": "1"})
	w := c.turnAndIngestionUnderWay(0, "edda")
	u, sid, turnID, r, ch, evs := w.u, w.sid, w.turnID, w.run, w.ch, w.evs

	c.srv.Kill()
	time.Sleep(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, c.srv.Start(ctx))

	evs = append(evs, collect(t, ch, 2*time.Minute)...)
	requireIDsContiguous(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", compact(evs))
	_, last := u.ingested(r, 2*time.Minute)
	require.Equal(t, "run.completed", last.Type, "%v", last.Data)
	require.Equal(t, "completed", turnStatus(t, openDB(t, c.platform), turnID))
	c.requireSettled()
	recordHistory(t, c.platform, turnWorkflowID(t, u, sid), "cluster_chat_turn_temporal_killed")
	recordHistory(t, c.platform, ingestWorkflowID(t, r), "cluster_ingest_temporal_killed")
	u.send(sid, "the session takes the next message")
}

// TestClusterPostgresRestartedMidTurnAndIngestion: Postgres (YouWorker's and the Temporal
// server's) is restarted while a turn streams and a document is embedded: both end, completed or
// failed cleanly, nothing is lost or doubled, and the session takes the next message.
func TestClusterPostgresRestartedMidTurnAndIngestion(t *testing.T) {
	c := newCluster(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0", "EMBED_CONCURRENCY": "1"})
	w := c.turnAndIngestionUnderWay(1, "fern")
	u, sid, turnID, events, r, ch, evs := w.u, w.sid, w.turnID, w.events, w.run, w.ch, w.evs
	var err error
	pg := testenv.PostgresCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, pg.Stop(ctx))
	time.Sleep(3 * time.Second)
	require.NoError(t, pg.Start(ctx))

	// The stream may break while the API cannot read the events table: resume it like a client.
	evs = append(evs, collect(t, ch, 2*time.Minute)...)
	for evs[len(evs)-1].Type != "turn.completed" && evs[len(evs)-1].Type != "turn.failed" {
		var more <-chan sseEvent
		require.Eventually(t, func() bool {
			more, err = u.stream(context.Background(), events, evs[len(evs)-1].ID)
			return err == nil
		}, time.Minute, 200*time.Millisecond)
		evs = append(evs, collect(t, more, 2*time.Minute)...)
	}
	requireIDsContiguous(t, evs)
	status := turnStatus(t, openDB(t, c.platform), turnID)
	require.Contains(t, []string{"completed", "failed"}, status)
	require.Eventually(t, func() bool {
		st := runStatus(t, u, r)
		return st == "completed" || st == "failed"
	}, 3*time.Minute, 200*time.Millisecond, "the ingestion run did not end")
	c.requireSettled()
	u.send(sid, "the session takes the next message")
}

// TestClusterRollingRestart: under 8 concurrent streaming turns and 4 ingestions, both APIs and
// both workers are restarted one at a time (SIGTERM, drain, start). Clients reconnect with
// Last-Event-ID to whichever API answers, as EventSource does. Nothing is lost or duplicated and
// every stream completes.
func TestClusterRollingRestart(t *testing.T) {
	c := newCluster(t, map[string]string{"CHUNK_MAX_TOKENS": "40", "CHUNK_OVERLAP": "0"})
	c.ollama.SetTokenDelay(25 * time.Millisecond)
	c.ollama.SetEmbedDelay(20 * time.Millisecond)
	users := make([]*user, 4)
	for i := range users {
		users[i] = c.on(i % 2).signup(fmt.Sprintf("roll%d", i))
	}

	type result struct {
		turnID     string
		events     []sseEvent
		reconnects int
		err        error
	}
	results := make([]result, 8)
	var wg sync.WaitGroup
	for i := range results {
		u := users[i%len(users)]
		sid := u.newSession([]string{})
		turnID, events := u.send(sid, "reply-tokens 300 rolling")
		results[i].turnID = turnID
		wg.Go(func() {
			results[i].events, results[i].reconnects, results[i].err = c.followResuming(u, events, i%2, 4*time.Minute)
		})
	}
	var runs []reply
	for i := range 4 {
		r := users[i].do("POST", "/v1/ingest", map[string]any{"text": bigText(120), "title": fmt.Sprintf("rolling %d", i)})
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		runs = append(runs, r)
	}

	time.Sleep(time.Second)
	var running int
	db := openDB(t, c.platform)
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM turns WHERE status = 'running'`).Scan(&running))
	require.Equal(t, 8, running, "the restarts begin with every turn in flight")
	for i := range c.apis {
		c.apis[i].stop(t)
		c.restartAPI(i)
	}
	for i := range c.workers {
		c.workers[i].stop(t)
		c.workers[i] = c.startWorker()
		time.Sleep(500 * time.Millisecond)
	}
	wg.Wait()

	reconnects := 0
	for i, r := range results {
		reconnects += r.reconnects
		require.NoError(t, r.err, "turn %d", i)
		requireIDsContiguous(t, r.events)
		require.Equal(t, "turn.completed", r.events[len(r.events)-1].Type, "turn %d: %v", i, compact(r.events))
		require.Equal(t, "completed", turnStatus(t, db, r.turnID))
	}
	require.Positive(t, reconnects, "the API restarts cut streams, which resumed elsewhere")
	for i, r := range runs {
		c.on(i % 2)
		_, last := users[i].ingested(r, 3*time.Minute)
		require.Equal(t, "run.completed", last.Type, "run %d: %v", i, last.Data)
	}
	c.requireSettled()
	t.Logf("8 turns and 4 ingestions through a rolling restart of 2 APIs and 2 workers; %d stream reconnects", reconnects)
}

// followResuming follows a turn's stream to its end, reconnecting with Last-Event-ID to the
// other API whenever the connection ends early (an API drained or died), as a browser's
// EventSource would; it gives up after timeout.
func (c *cluster) followResuming(u *user, events string, api int, timeout time.Duration) ([]sseEvent, int, error) {
	deadline := time.Now().Add(timeout)
	var evs []sseEvent
	reconnects := -1
	for time.Now().Before(deadline) {
		reconnects++
		var last int64
		if len(evs) > 0 {
			last = evs[len(evs)-1].ID
		}
		ch, err := streamFrom(c.urls[api], u.token, events, last)
		api = 1 - api
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range ch {
			evs = append(evs, ev)
		}
		if n := len(evs); n > 0 && (evs[n-1].Type == "turn.completed" || evs[n-1].Type == "turn.failed") {
			return evs, reconnects, nil
		}
	}
	return evs, reconnects, fmt.Errorf("stream incomplete after %s: %v", timeout, compact(evs))
}

// streamFrom opens a turn's event stream on the API at base.
func streamFrom(base, token, path string, lastID int64) (<-chan sseEvent, error) {
	cl := apitest.Client{Base: base, Token: token}
	return cl.Stream(context.Background(), path, lastID)
}

// TestClusterWorkerVersioningPinsRunningTurns: with versioned workers (WORKER_DEPLOYMENT_NAME), a
// deploy starts workers of build b next to build a and makes b current; the turn that was
// streaming on a finishes on a, the next turn runs on b.
func TestClusterWorkerVersioningPinsRunningTurns(t *testing.T) {
	deployment := "yw-" + strings.ToLower(testenv.TaskQueue(t)[len(testenv.TaskQueue(t))-8:])
	c := newClusterOf(t, map[string]string{"WORKER_DEPLOYMENT_NAME": deployment}, 0)
	c.ollama.SetTokenDelay(40 * time.Millisecond)
	a := c.spawnWith(map[string]string{"WORKER_BUILD_ID": "a", "WORKER_METRICS_ADDR": freeAddr(t)}, "worker")
	deploymentCmd := func(args ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"deployment"}, args...)...)
		for k, v := range c.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	require.Eventually(t, func() bool { // the first build makes itself current
		out, err := deploymentCmd("status")
		return err == nil && strings.Contains(out, "current build a")
	}, time.Minute, 200*time.Millisecond)

	u := c.on(0).signup("vera")
	first := u.newSession([]string{})
	firstTurn, events := u.send(first, "reply-tokens 100 on build a")
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	evs := until(t, ch, "token", 30*time.Second)

	b := c.spawnWith(map[string]string{"WORKER_BUILD_ID": "b", "WORKER_METRICS_ADDR": freeAddr(t)}, "worker")
	var out string
	require.Eventually(t, func() bool { // b is promoted once its workers have polled
		out, err = deploymentCmd("set-current", "b")
		return err == nil
	}, time.Minute, 200*time.Millisecond, "set-current b: %s", out)
	require.Equal(t, "running", turnStatus(t, openDB(t, c.platform), firstTurn), "the deploy lands mid-turn")

	second := u.newSession([]string{})
	_, events2 := u.send(second, "reply-tokens 5 on build b")
	evs2 := collect(t, must(u.stream(context.Background(), events2, 0)), 60*time.Second)
	require.Equal(t, "turn.completed", evs2[len(evs2)-1].Type, "%v", compact(evs2))
	evs = append(evs, collect(t, ch, 60*time.Second)...)
	requireIDsContiguous(t, evs)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type, "%v", compact(evs))

	buildOf := func(sid string) string {
		desc, err := c.tc.DescribeWorkflowExecution(context.Background(), turnWorkflowID(t, u, sid), "")
		require.NoError(t, err)
		info := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
		require.Equal(t, enumspb.VERSIONING_BEHAVIOR_PINNED, info.GetBehavior())
		return info.GetDeploymentVersion().GetBuildId()
	}
	require.Equal(t, "a", buildOf(first), "the running turn stayed on the build it started on")
	require.Equal(t, "b", buildOf(second), "the next turn ran on the new current build")
	c.requireSettled()
	a.stop(t)
	b.stop(t)
}
