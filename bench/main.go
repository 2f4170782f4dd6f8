// Command bench measures what the platform adds to what Temporal itself costs. It starts private
// Postgres and Temporal (fast dispatch), the Ollama stand-in, and the real youworker API and
// worker processes, then compares, in one run:
//
//   - a chat turn through the API (POST with Accept: text/event-stream until turn.completed), its
//     time to the first token event, and turns/s with 16 concurrent sessions, against
//   - the floor: a bare workflow with one regular activity calling the stand-in directly.
//
// It also prints where the time and the CPU go: POST to response headers against the floor's start
// RPC, and CPU milliseconds per turn by process (postgres, temporal, youworker api and worker, and
// this process: client, stand-in and floor worker). BENCH_PHASES=1 adds when each event of the
// sequential turns was written and the Temporal history of the last turn and floor run.
//
// The analytics suite (-suite analytics, bench/analytics.go) seeds 1M turns into a private Postgres
// and explains every analytics statement with and without migration 00012's indexes.
//
// Usage: go run ./bench [-suite all] [-n 60] [-concurrency 16] [-out bench/results] (make bench).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	ollamaapi "github.com/ollama/ollama/api"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/apitest"
	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/standin/ollama"
	"github.com/youworker/youworker/workflows"

	"database/sql"

	_ "github.com/jackc/pgx/v5/stdlib"
)

const replyTokens = 20

func main() {
	suite := flag.String("suite", "all", "turns, ingest, cluster, analytics or all")
	n := flag.Int("n", 60, "sequential samples per turn measurement")
	conc := flag.Int("concurrency", 16, "concurrent sessions for the throughput runs")
	perWorker := flag.Int("per-session", 24, "turns per session in the throughput runs, split over interleaved rounds of turns and floor runs")
	flag.IntVar(&throughputRounds, "rounds", throughputRounds, "interleaved rounds of turns and floor runs in the throughput runs (BENCH_ROUNDS=1 prints each)")
	docs := flag.Int("docs", 2000, "documents in the ingestion corpus")
	embedDelay := flag.Duration("embed-delay", 200*time.Millisecond, "stand-in embedder latency per batch")
	searchPoints := flag.Int("search-points", 100_000, "chunks in the embedded store for the search measurement")
	sweepDocs := flag.Int("sweep-docs", 400, "documents ingested at each EMBED_CONCURRENCY of the sweep (1, 2, 4)")
	pdfRuns := flag.Int("pdf-runs", 5, "uploads of the 50-page PDF timed to searchable")
	outDir := flag.String("out", "bench/results", "where to write the results")
	analyticsData := flag.String("analytics-data", "", "keep the analytics suite's Postgres (and its 1M-turn corpus) in this directory and reuse it next time")
	bin := flag.String("bin", "bin/youworker", "the youworker binary")
	flag.Parse()
	var err error
	if *suite == "turns" || *suite == "all" {
		err = runTurns(*n, *conc, *perWorker, filepath.Join(*outDir, "turns.json"), *bin)
	}
	if err == nil && (*suite == "ingest" || *suite == "all") {
		err = runIngest(*docs, *sweepDocs, *pdfRuns, *embedDelay, *searchPoints, filepath.Join(*outDir, "ingest.json"), *bin)
	}
	if err == nil && (*suite == "cluster" || *suite == "all") {
		err = runCluster(*n, *conc, *perWorker, filepath.Join(*outDir, "cluster.json"), *bin)
	}
	if err == nil && (*suite == "analytics" || *suite == "all") {
		err = runAnalytics(filepath.Join(*outDir, "analytics.json"), *analyticsData)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type env struct {
	standin *ollama.Server
	ollama  string
	api     string
	token   string
	tc      client.Client
	dsn     string
	// sequential are the sessions of the latency runs (0 ms, then 20 ms per token).
	sequential []string
	// histories are the workflow ids of the last turn and floor samples of each latency run.
	histories []string
}

// topology says what platform runs: the Temporal CLI's dev server (the zero value) or the Temporal
// server on Postgres, and how many worker processes.
type topology struct {
	server  bool
	workers int
}

// platform starts private Postgres and Temporal (fast dispatch), the Ollama stand-in and the real
// worker and API processes with extra environment variables; stop undoes it all.
func platform(ctx context.Context, bin string, topo topology, extra ...string) (e *env, stop func(), err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir, err := os.MkdirTemp("", "yw-bench-")
	if err != nil {
		return nil, stop, err
	}
	undo = append(undo, func() { _ = os.RemoveAll(dir) })
	pg, err := devservices.StartPostgres(ctx, devservices.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Fast: true, Logger: log})
	if err != nil {
		return nil, stop, err
	}
	undo = append(undo, func() { _ = pg.Stop(context.Background()) })
	if err := pg.CreateDatabase(ctx, "bench", ""); err != nil {
		return nil, stop, err
	}
	db, err := sql.Open("pgx", pg.DSN("bench"))
	if err != nil {
		return nil, stop, err
	}
	if _, err := migrations.Up(ctx, db); err != nil {
		return nil, stop, err
	}
	db.Close()
	var temporalAddr string
	if topo.server {
		srv, err := devservices.StartTemporalServer(ctx, devservices.TemporalServerOptions{Postgres: pg, StateDir: filepath.Join(dir, "temporal"),
			DynamicConfig: devservices.ServerFastDispatch(), Logger: log})
		if err != nil {
			return nil, stop, err
		}
		undo = append(undo, func() { _ = srv.Stop(context.Background()) })
		temporalAddr = srv.Address
	} else {
		tmp, err := devservices.StartTemporal(ctx, devservices.TemporalOptions{Headless: true, ExtraArgs: devservices.FastDispatchArgs(),
			SearchAttributes: workflows.SearchAttributes(), Logger: log})
		if err != nil {
			return nil, stop, err
		}
		undo = append(undo, func() { _ = tmp.Stop(context.Background()) })
		temporalAddr = tmp.Address
	}
	st, base, shutdown, err := ollama.Start(ollama.Options{Logger: log}, "127.0.0.1:0")
	if err != nil {
		return nil, stop, err
	}
	undo = append(undo, func() { _ = shutdown(context.Background()) })
	key, _ := encryption.GenerateKey()
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, stop, err
	}
	metricsAddr, err := freeAddr() // not the default port, which a dev instance may hold
	if err != nil {
		return nil, stop, err
	}
	vars := append([]string{
		"DATABASE_URL=" + pg.DSN("bench"), "TEMPORAL_ADDRESS=" + temporalAddr, "TEMPORAL_TASK_QUEUE=bench",
		"OLLAMA_HOST=" + base, "JWT_SECRET=bench-secret-bench-secret-bench-secret", "FERNET_KEYS=" + key,
		"COOKIE_SECURE=false", "LOG_LEVEL=" + logLevel(), "API_ADDR=" + apiAddr, "METRICS_ADDR=" + metricsAddr, "PATH=" + os.Getenv("PATH"),
		"DATA_DIR=" + filepath.Join(dir, "data"),
		// Limits stay on (their cost is part of the measurement) but high enough for the load.
		"RATE_LIMIT_TURNS=1000000", "RATE_LIMIT_INGEST=1000000", "RATE_LIMIT_AUTH=1000000", "RATE_LIMIT_SEARCH=1000000",
	}, extra...)
	if topo.server { // the namespace and search attributes, as a deploy's migrate job does them
		migrate := exec.CommandContext(ctx, bin, "migrate", "up")
		migrate.Env = vars
		if out, err := migrate.CombinedOutput(); err != nil {
			return nil, stop, fmt.Errorf("migrate up: %w\n%s", err, out)
		}
	}
	procs := [][]string{{"api"}}
	for range max(topo.workers, 1) {
		procs = append([][]string{{"worker"}}, procs...)
	}
	for _, args := range procs {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stderr = vars, os.Stderr
		if args[0] == "worker" {
			ops, err := freeAddr()
			if err != nil {
				return nil, stop, err
			}
			cmd.Env = append(slices.Clone(vars), "WORKER_METRICS_ADDR="+ops)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, stop, fmt.Errorf("start %v (run make build first): %w", args, err)
		}
		undo = append(undo, func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	}
	e = &env{standin: st, ollama: base, api: "http://" + apiAddr, dsn: pg.DSN("bench")}
	if err := waitHealthy(ctx, e.api); err != nil {
		return nil, stop, err
	}
	if e.token, err = login(e.api); err != nil {
		return nil, stop, err
	}
	// The floor's client talks to Temporal as the platform's does (TEMPORAL_GRPC_GZIP off).
	if e.tc, err = client.Dial(client.Options{HostPort: temporalAddr, Logger: quietTemporal{},
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}}); err != nil {
		return nil, stop, err
	}
	undo = append(undo, e.tc.Close)
	return e, stop, nil
}

func runTurns(n, conc, perSession int, out, bin string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// BENCH_ENV: extra settings for the API and worker, e.g. "TOKEN_FLUSH_INTERVAL=60ms".
	e, stop, err := platform(ctx, bin, topology{}, strings.Fields(os.Getenv("BENCH_ENV"))...)
	if err != nil {
		return err
	}
	defer stop()
	st := e.standin
	fw := worker.New(e.tc, "bench-floor", worker.Options{})
	fw.RegisterWorkflow(FloorWorkflow)
	fw.RegisterActivity(&Floor{Base: e.ollama})
	if err := fw.Start(); err != nil {
		return err
	}
	defer fw.Stop()

	results := map[string]any{}
	var table [][]string
	for _, delay := range []time.Duration{0, 20 * time.Millisecond} {
		st.SetTokenDelay(delay)
		r, err := e.measure(ctx, n, conc, perSession)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("delay_%dms", delay.Milliseconds())
		results[label] = r
		table = append(table, []string{label, f(r.TurnP50), f(r.TurnP95), f(r.FloorP50), ratio(r.TurnOverhead),
			f(r.TTFTP50), f(r.FloorTTFTP50), ratio(r.TTFTOverhead), f(r.TurnsPerS), f(r.FloorPerS), ratio(r.ThroughputRatio)})
		if delay > 0 {
			// The headline numbers: a streaming model (20 ms per token, 20 tokens).
			b, _ := json.Marshal(r)
			_ = json.Unmarshal(b, &results)
		}
	}
	fmt.Printf("\n%-11s %13s %12s   %s\n", "run", "turn headers", "floor start", "CPU ms per turn in the throughput runs (turn | floor)")
	for _, label := range []string{"delay_0ms", "delay_20ms"} {
		r := results[label].(Result)
		fmt.Printf("%-11s %13s %12s   %s | %s\n", label, f(r.TurnHeadP50), f(r.FloorStartP50), cpuLine(r.TurnCPU), cpuLine(r.FloorCPU))
		fmt.Printf("%-11s CPU ratio %.2f (rounds %v); postgres per turn: %v\n", "", r.CPURatio, r.CPURatioRounds, r.TurnPostgres)
	}
	if os.Getenv("BENCH_PHASES") == "1" {
		printPhases(e.dsn, e.sequential)
		for _, id := range e.histories {
			printHistory(ctx, e.tc, id)
		}
	}
	results["reply_tokens"] = replyTokens
	results["concurrency"] = conc
	results["commit"] = gitCommit()
	results["measured_at"] = time.Now().UTC().Format(time.RFC3339)
	results["cores"] = runtime.NumCPU()
	results["note"] = "top-level numbers are the 20 ms/token run; delay_0ms is the stand-in answering instantly"
	fmt.Printf("\n%-11s %9s %9s %9s %7s %9s %9s %7s %8s %8s %7s\n", "run", "turn p50", "turn p95", "floor p50", "ratio",
		"ttft p50", "floor", "ratio", "turns/s", "floor/s", "ratio")
	for _, row := range table {
		fmt.Printf("%-11s %9s %9s %9s %7s %9s %9s %7s %8s %8s %7s\n", toAny(row)...)
	}
	return writeResults(out, results)
}

// Result is one run's measurements (milliseconds, per second, ratios).
type Result struct {
	TurnP50         float64 `json:"turn_p50_ms"`
	TurnP95         float64 `json:"turn_p95_ms"`
	FloorP50        float64 `json:"floor_p50_ms"`
	FloorP95        float64 `json:"floor_p95_ms"`
	TurnOverhead    float64 `json:"turn_overhead_ratio"`
	TTFTP50         float64 `json:"ttft_p50_ms"`
	FloorTTFTP50    float64 `json:"floor_ttft_p50_ms"`
	TTFTOverhead    float64 `json:"ttft_overhead_ratio"`
	TurnsPerS       float64 `json:"turns_per_s"`
	FloorPerS       float64 `json:"floor_per_s"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	// Where the time goes before the work starts: POST to response headers (auth, storing the
	// turn, starting its workflow) against the floor's start RPC.
	TurnHeadP50   float64 `json:"turn_headers_p50_ms"`
	FloorStartP50 float64 `json:"floor_start_p50_ms"`
	// CPU milliseconds per turn in the throughput runs, by process.
	TurnCPU  map[string]float64 `json:"turn_cpu_ms"`
	FloorCPU map[string]float64 `json:"floor_cpu_ms"`
	// CPURatio is the turns' CPU over the floor's (all processes, all rounds); CPURatioRounds is
	// that ratio in each interleaved round, to show how far it moves within one run.
	CPURatio       float64   `json:"cpu_ratio"`
	CPURatioRounds []float64 `json:"cpu_ratio_rounds"`
	// Postgres work per turn in the throughput run: connections opened, transactions committed
	// (the bench's own counter reads included), rows inserted and updated.
	TurnPostgres map[string]float64 `json:"turn_postgres"`
}

func (e *env) measure(ctx context.Context, n, conc, perSession int) (Result, error) {
	var r Result
	sess, err := e.session()
	if err != nil {
		return r, err
	}
	e.sequential = append(e.sequential, sess)
	for range 5 { // warm up both paths
		if _, err := e.turn(sess); err != nil {
			return r, err
		}
		if _, err := e.floor(ctx); err != nil {
			return r, err
		}
	}
	var turnLat, turnTTFT, turnHead, floorLat, floorTTFT, floorHead []float64
	var lastTurn, lastFloor string
	for range n {
		// Interleave so that drift on a shared machine hits both alike.
		sm, err := e.turn(sess)
		if err != nil {
			return r, err
		}
		turnLat, turnTTFT, turnHead = append(turnLat, ms(sm.total)), append(turnTTFT, ms(sm.ttft)), append(turnHead, ms(sm.head))
		lastTurn = sm.workflowID
		sm, err = e.floor(ctx)
		if err != nil {
			return r, err
		}
		floorLat, floorTTFT, floorHead = append(floorLat, ms(sm.total)), append(floorTTFT, ms(sm.ttft)), append(floorHead, ms(sm.head))
		lastFloor = sm.workflowID
	}
	e.histories = append(e.histories, lastTurn, lastFloor)
	r.TurnP50, r.TurnP95 = pct(turnLat, 50), pct(turnLat, 95)
	r.FloorP50, r.FloorP95 = pct(floorLat, 50), pct(floorLat, 95)
	r.TTFTP50, r.FloorTTFTP50 = pct(turnTTFT, 50), pct(floorTTFT, 50)
	r.TurnHeadP50, r.FloorStartP50 = pct(turnHead, 50), pct(floorHead, 50)
	r.TurnOverhead, r.TTFTOverhead = r.TurnP50/r.FloorP50, r.TTFTP50/r.FloorTTFTP50

	sessions := make([]string, conc)
	for i := range sessions {
		if sessions[i], err = e.session(); err != nil {
			return r, err
		}
	}
	// Throughput and CPU in interleaved rounds (turns, floor, turns, floor, …), so that the
	// machine's drift during the run hits both alike; CPU is summed over the rounds.
	var turnTime, floorTime time.Duration
	turnCPU, floorCPU, turnPG := cpuSample{}, cpuSample{}, cpuSample{}
	each := max(1, perSession/throughputRounds)
	for range throughputRounds {
		p0, c0 := pgCounters(e.dsn), sampleCPU()
		t0 := time.Now()
		if err := throughput(conc, each, func(i int) error { _, err := e.turn(sessions[i]); return err }); err != nil {
			return r, err
		}
		turnTime += time.Since(t0)
		c1, p1 := sampleCPU(), pgCounters(e.dsn)
		t1 := time.Now()
		if err := throughput(conc, each, func(int) error { _, err := e.floor(ctx); return err }); err != nil {
			return r, err
		}
		floorTime += time.Since(t1)
		c2 := sampleCPU()
		turnCPU.add(c0, c1)
		floorCPU.add(c1, c2)
		turnPG.add(p0, p1)
		r.CPURatioRounds = append(r.CPURatioRounds, roundRatio(cpuRatio(c0, c1, c1, c2)))
		if os.Getenv("BENCH_ROUNDS") == "1" {
			fmt.Printf("round %d: turns %s | floor %s\n", len(r.CPURatioRounds),
				cpuLine(perUnit(c0, c1, msPerTick, conc*each)), cpuLine(perUnit(c1, c2, msPerTick, conc*each)))
		}
	}
	units := conc * each * throughputRounds
	r.TurnsPerS, r.FloorPerS = float64(units)/turnTime.Seconds(), float64(units)/floorTime.Seconds()
	r.TurnCPU, r.FloorCPU = perUnit(cpuSample{}, turnCPU, msPerTick, units), perUnit(cpuSample{}, floorCPU, msPerTick, units)
	r.TurnPostgres = perUnit(cpuSample{}, turnPG, 1, units)
	r.CPURatio = roundRatio(cpuRatio(cpuSample{}, turnCPU, cpuSample{}, floorCPU))
	r.ThroughputRatio = r.TurnsPerS / r.FloorPerS
	return r, nil
}

func throughput(conc, each int, do func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for i := range conc {
		wg.Go(func() {
			for range each {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// sample is one measured run: from the request to its end and to its first token; head is the
// part before the work is under way (a turn: POST until the response headers, which the API
// sends once the turn is stored and its workflow started; the floor: the start RPC).
type sample struct {
	total, ttft, head time.Duration
	workflowID        string
}

// turn sends one message with Accept: text/event-stream and reads until turn.completed.
func (e *env) turn(session string) (sm sample, err error) {
	body := fmt.Sprintf(`{"content":"reply-tokens %d"}`, replyTokens)
	req, _ := http.NewRequest("POST", e.api+"/v1/sessions/"+session+"/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sm, err
	}
	sm.head = time.Since(start)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return sm, fmt.Errorf("post message: %d %s", resp.StatusCode, b)
	}
	sm.workflowID = workflows.ChatTurnID(session, resp.Header.Get("X-Turn-ID"))
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "event: token" && sm.ttft == 0:
			sm.ttft = time.Since(start)
		case line == "event: turn.completed":
			sm.total = time.Since(start)
			return sm, nil
		case line == "event: turn.failed" || line == "event: turn.cancelled":
			return sm, errors.New("turn did not complete: " + line)
		}
	}
	return sm, fmt.Errorf("stream ended early: %v", sc.Err())
}

func (e *env) floor(ctx context.Context) (sm sample, err error) {
	start := time.Now()
	sm.workflowID = "floor-" + uuid.NewString()
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: sm.workflowID, TaskQueue: "bench-floor"},
		FloorWorkflow, fmt.Sprintf("reply-tokens %d", replyTokens))
	if err != nil {
		return sm, err
	}
	sm.head = time.Since(start)
	var first time.Time
	if err := run.Get(ctx, &first); err != nil {
		return sm, err
	}
	sm.total, sm.ttft = time.Since(start), first.Sub(start)
	return sm, nil
}

// FloorWorkflow is the bare minimum the platform is compared with: one regular activity that
// streams a reply from the stand-in and returns when its first token arrived.
func FloorWorkflow(ctx workflow.Context, prompt string) (time.Time, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	var f *Floor
	var first time.Time
	err := workflow.ExecuteActivity(ctx, f.Chat, prompt).Get(ctx, &first)
	return first, err
}

// Floor calls the stand-in with the real Ollama client.
type Floor struct{ Base string }

// Chat streams one reply and returns when its first token arrived.
func (f *Floor) Chat(ctx context.Context, prompt string) (time.Time, error) {
	u, _ := url.Parse(f.Base)
	c := ollamaapi.NewClient(u, http.DefaultClient)
	var first time.Time
	stream := true
	err := c.Chat(ctx, &ollamaapi.ChatRequest{Model: "llama3.1:8b", Stream: &stream,
		Messages: []ollamaapi.Message{{Role: "user", Content: prompt}}}, func(r ollamaapi.ChatResponse) error {
		if first.IsZero() && r.Message.Content != "" {
			first = time.Now()
		}
		return nil
	})
	return first, err
}

func (e *env) session() (string, error) {
	b, err := e.post("/v1/sessions", `{"title":"bench","tools":[]}`)
	if err != nil {
		return "", err
	}
	var m struct{ ID string }
	return m.ID, json.Unmarshal(b, &m)
}

func (e *env) post(path, body string) ([]byte, error) {
	return answer(path)(e.client().Do(context.Background(), http.MethodPost, path, body, nil))
}

// upload posts a document as multipart (the file field) to /v1/documents.
func (e *env) upload(name string, data []byte) ([]byte, error) {
	return answer("/v1/documents")(e.client().Upload(context.Background(), "/v1/documents", name, data, nil, nil))
}

// client is the API client of the bench user.
func (e *env) client() *apitest.Client { return &apitest.Client{Base: e.api, Token: e.token} }

// answer turns a response of path into its body; a status of 300 or more is an error.
func answer(path string) func(apitest.Response, error) ([]byte, error) {
	return func(r apitest.Response, err error) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		if r.Status >= 300 {
			return nil, fmt.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
		return r.Body, nil
	}
}

func login(api string) (string, error) {
	e := &env{api: api}
	creds := `{"username":"bench","password":"bench-password-123"}`
	if _, err := e.post("/v1/auth/register", creds); err != nil {
		return "", err
	}
	b, err := e.post("/v1/auth/login", creds)
	if err != nil {
		return "", err
	}
	var m struct {
		AccessToken string `json:"access_token"`
	}
	return m.AccessToken, json.Unmarshal(b, &m)
}

func waitHealthy(ctx context.Context, api string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(api + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("API did not become healthy")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(xs []float64, p int) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func f(x float64) string     { return fmt.Sprintf("%.1f", x) }
func ratio(x float64) string { return fmt.Sprintf("%.2f", x) }

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// quietTemporal drops the SDK's logs.
type quietTemporal struct{}

func (quietTemporal) Debug(string, ...any) {}
func (quietTemporal) Info(string, ...any)  {}
func (quietTemporal) Warn(string, ...any)  {}
func (quietTemporal) Error(string, ...any) {}

func logLevel() string {
	if v := os.Getenv("BENCH_LOG_LEVEL"); v != "" {
		return v
	}
	return "warn"
}

// runCluster measures turns on the production shape: the Temporal server on Postgres (not the dev
// server) with 1, then 2 worker processes, at 20 ms per token, against the floor on the same
// server. The results go to out (bench/results/cluster.json).
func runCluster(n, conc, perSession int, out, bin string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := map[string]any{}
	var table [][]string
	for _, workers := range []int{1, 2} {
		r, err := measureOn(ctx, bin, topology{server: true, workers: workers}, n, conc, perSession)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("workers_%d", workers)
		results[label] = r
		table = append(table, []string{label, f(r.TurnP50), f(r.TurnP95), f(r.FloorP50), ratio(r.TurnOverhead),
			f(r.TTFTP50), f(r.FloorTTFTP50), ratio(r.TTFTOverhead), f(r.TurnsPerS), f(r.FloorPerS), ratio(r.ThroughputRatio)})
		fmt.Printf("%s CPU ms per turn (turn | floor): %s | %s\n", label, cpuLine(r.TurnCPU), cpuLine(r.FloorCPU))
	}
	results["reply_tokens"] = replyTokens
	results["token_delay_ms"] = 20
	results["concurrency"] = conc
	results["temporal"] = "Temporal server v1.31.0 on Postgres 15 (persistence and visibility), fast-dispatch dynamic config, 4 history shards"
	results["commit"] = gitCommit()
	results["measured_at"] = time.Now().UTC().Format(time.RFC3339)
	results["cores"] = runtime.NumCPU()
	fmt.Printf("\n%-11s %9s %9s %9s %7s %9s %9s %7s %8s %8s %7s\n", "run", "turn p50", "turn p95", "floor p50", "ratio",
		"ttft p50", "floor", "ratio", "turns/s", "floor/s", "ratio")
	for _, row := range table {
		fmt.Printf("%-11s %9s %9s %9s %7s %9s %9s %7s %8s %8s %7s\n", toAny(row)...)
	}
	return writeResults(out, results)
}

// measureOn starts a platform of the given shape with the floor's worker and measures turns at
// 20 ms per token.
func measureOn(ctx context.Context, bin string, topo topology, n, conc, perSession int) (Result, error) {
	e, stop, err := platform(ctx, bin, topo, strings.Fields(os.Getenv("BENCH_ENV"))...)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	fw := worker.New(e.tc, "bench-floor", worker.Options{})
	fw.RegisterWorkflow(FloorWorkflow)
	fw.RegisterActivity(&Floor{Base: e.ollama})
	if err := fw.Start(); err != nil {
		return Result{}, err
	}
	defer fw.Stop()
	e.standin.SetTokenDelay(20 * time.Millisecond)
	return e.measure(ctx, n, conc, perSession)
}

// writeResults writes v as indented JSON to out (creating its directory) and says so.
func writeResults(out string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println("\nwrote", out)
	return nil
}
