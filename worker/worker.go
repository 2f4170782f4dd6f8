// Package worker registers YouWorker's workflows and activities on a Temporal worker and runs it.
// Wiring only: what the workflows and activities do lives in their packages.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	ollama "github.com/ollama/ollama/api"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/youworker/youworker/account"
	"github.com/youworker/youworker/activities"
	"github.com/youworker/youworker/chat"
	"github.com/youworker/youworker/chunk"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/extract"
	"github.com/youworker/youworker/intake"
	"github.com/youworker/youworker/metrics"
	"github.com/youworker/youworker/policy"
	"github.com/youworker/youworker/ssrf"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/toolbox"
	"github.com/youworker/youworker/vectors"
	"github.com/youworker/youworker/workflows"
)

// Deps are the worker's dependencies, wired in cmd/youworker; New builds every activity from them.
type Deps struct {
	Client      client.Client
	TaskQueue   string
	StopTimeout time.Duration // how long running activities may finish after a stop
	// HeartbeatThrottle is the longest gap between heartbeats sent to Temporal; a cancel reaches
	// a running activity on the answer to its next heartbeat.
	HeartbeatThrottle time.Duration
	Store             *store.Store
	Box               *encryption.Box
	Ollama            *ollama.Client
	Catalog           *toolbox.Catalog
	Remote            *activities.Remote
	ToolRules         policy.ToolRules
	// TaintApproval: once the model has read untrusted content, outbound calls need approval.
	TaintApproval bool
	TokenFlush    time.Duration
	HistoryLimit  int
	// BudgetOutput is the output a model call under a budget reserves (activities.LLM).
	BudgetOutput int64
	// Ingestion: where documents come from and go to, and how they are cut and embedded.
	Ingest IngestDeps
	// ReaperGrace is how long a turn may run without a workflow before the reaper fails it.
	ReaperGrace time.Duration
	// Intake stops an account's runs and deletes its documents (DeleteAccount).
	Intake *intake.Service
	// Health follows the worker's state (NewHealth; Run updates it).
	Health *Health
	// Deployment, when its Name is set, runs the worker versioned (Temporal Worker Deployments).
	Deployment Deployment
	// Metrics records what the activities do (nil: nothing).
	Metrics *metrics.Worker
	Logger  *slog.Logger
}

// IngestDeps are what the ingestion activities need besides the store, the box and Ollama.
type IngestDeps struct {
	Blobs            *store.Blobs
	Guard            *ssrf.Guard
	Extractor        *extract.Extractor
	Vectors          vectors.Store
	Chunking         chunk.Options
	EmbedModel       string
	EmbedBatch       int
	EmbedConcurrency int
	TempDir          string
}

// Deployment names the Temporal Worker Deployment version a worker runs. A versioned worker pins
// turns and ingestions to the build they started on (they finish on the code that began them,
// however the code changed since); the reaper and key rotation follow the current build.
type Deployment struct {
	Name, BuildID string
}

// Versioned says whether the worker runs versioned.
func (d Deployment) Versioned() bool { return d.Name != "" }

// New builds a worker with every workflow and activity registered.
func New(d Deps) sdkworker.Worker {
	opts := sdkworker.Options{
		WorkerStopTimeout:                d.StopTimeout,
		MaxHeartbeatThrottleInterval:     d.HeartbeatThrottle,
		DefaultHeartbeatThrottleInterval: d.HeartbeatThrottle,
		Interceptors:                     []interceptor.WorkerInterceptor{&failureLogger{log: d.Logger}},
		OnFatalError:                     d.Health.onFatal,
	}
	pinned := workflow.RegisterOptions{}
	if d.Deployment.Versioned() {
		opts.DeploymentOptions = sdkworker.DeploymentOptions{
			UseVersioning:             true,
			Version:                   sdkworker.WorkerDeploymentVersion{DeploymentName: d.Deployment.Name, BuildID: d.Deployment.BuildID},
			DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
		}
		pinned.VersioningBehavior = workflow.VersioningBehaviorPinned
	}
	w := sdkworker.New(d.Client, d.TaskQueue, opts)
	w.RegisterWorkflow(workflows.Probe)
	w.RegisterWorkflowWithOptions(workflows.ChatTurn, pinned)
	w.RegisterActivity(&activities.DB{Store: d.Store})
	turns := &activities.Turns{Store: d.Store, Box: d.Box, Catalog: d.Catalog, Remote: d.Remote, Rules: d.ToolRules, Metrics: d.Metrics}
	w.RegisterActivity(turns)
	w.RegisterActivity(&activities.LLM{Ollama: d.Ollama, Store: d.Store, Box: d.Box, FlushInterval: d.TokenFlush,
		HistoryLimit: d.HistoryLimit, HeartbeatEvery: min(d.HeartbeatThrottle/2, 250*time.Millisecond),
		HeartbeatAfter: d.HeartbeatThrottle, Turns: turns, TaintApproval: d.TaintApproval, Metrics: d.Metrics,
		BudgetOutput: d.BudgetOutput})
	w.RegisterActivity(&activities.Tools{Catalog: d.Catalog, Remote: d.Remote, Store: d.Store, Box: d.Box,
		HeartbeatEvery: min(d.HeartbeatThrottle/2, 250*time.Millisecond), Metrics: d.Metrics})
	w.RegisterWorkflowWithOptions(workflows.IngestDocument, pinned)
	in := d.Ingest
	w.RegisterActivity(&activities.Ingest{Store: d.Store, Blobs: in.Blobs, Box: d.Box, Guard: in.Guard, Extractor: in.Extractor,
		Chunking: in.Chunking, Ollama: d.Ollama, Vectors: in.Vectors, EmbedModel: in.EmbedModel, EmbedBatch: in.EmbedBatch,
		EmbedConcurrency: in.EmbedConcurrency, TempDir: in.TempDir, Metrics: d.Metrics})
	w.RegisterWorkflow(workflows.ReapTurns)
	// The turns the reaper fails count as failed turns (no duration: their end is not known).
	reaper := &chat.Reaper{Store: d.Store, Box: d.Box, Temporal: d.Client, Grace: d.ReaperGrace, Logger: d.Logger,
		Finished: func(status string) { d.Metrics.TurnFinished(status, time.Time{}) }}
	w.RegisterActivity(&activities.Reaper{Chat: reaper, Batch: 500})
	w.RegisterWorkflowWithOptions(workflows.DeleteAccount, pinned)
	w.RegisterActivity(&activities.Account{Deleter: &account.Deleter{Store: d.Store, Intake: d.Intake, Temporal: d.Client, Log: d.Logger}})
	w.RegisterWorkflow(workflows.RotateKeys)
	w.RegisterActivity(&activities.Rekey{Store: d.Store, Blobs: in.Blobs, Box: d.Box})
	return w
}

// Run runs w until ctx is cancelled, then stops polling and waits up to the stop timeout for
// running activities to finish (a SIGTERM during a deploy drains instead of dropping work;
// whatever does not finish is retried by Temporal on another worker). health, when not nil,
// follows the worker's state for the operator endpoint; it must be the Health given to New.
func Run(ctx context.Context, w sdkworker.Worker, health *Health, log *slog.Logger) error {
	if err := w.Start(); err != nil {
		return err
	}
	health.set(stateRunning)
	select {
	case <-ctx.Done():
	case err := <-health.fatal:
		// The SDK has stopped the worker already (e.g. its namespace was deleted).
		health.set(stateStopped)
		return fmt.Errorf("worker stopped: %w", err)
	}
	health.set(stateDraining)
	log.Info("worker draining")
	w.Stop()
	health.set(stateStopped)
	log.Info("worker stopped")
	return nil
}

// Worker states reported by Health.
const (
	stateStarting int32 = iota
	stateRunning
	stateDraining
	stateStopped
)

var stateNames = [...]string{"starting", "running", "draining", "stopped"}

// Health is a worker's state as its operator endpoint GET /health reports it: 200 while the
// worker polls its task queue, 503 while it starts, drains (after SIGTERM) or has stopped, so a
// readiness probe takes a draining worker out of rotation and a liveness probe sees a hung start.
type Health struct {
	state atomic.Int32
	fatal chan error
}

// NewHealth returns the Health of a worker that is starting.
func NewHealth() *Health { return &Health{fatal: make(chan error, 1)} }

func (h *Health) set(s int32) { h.state.Store(s) }

// onFatal is the SDK's OnFatalError: the worker has stopped for good.
func (h *Health) onFatal(err error) {
	select {
	case h.fatal <- err:
	default:
	}
}

// Live is the liveness endpoint (GET /livez): 200 while the process has a worker that starts,
// runs or drains, 503 once it stopped for good. A liveness probe on /health would restart a
// worker in the middle of its drain.
func (h *Health) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := h.state.Load()
		writeState(w, s, s != stateStopped)
	})
}

// ServeHTTP answers {"status": "running"} with 200, or the other state with 503.
func (h *Health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s := h.state.Load()
	writeState(w, s, s == stateRunning)
}

// writeState answers {"status": <state>}: 200 when ok, else 503.
func writeState(w http.ResponseWriter, s int32, ok bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprintf(w, "{\"status\":%q}\n", stateNames[s])
}
