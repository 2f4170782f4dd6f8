// Package worker registers YouWorker's workflows and activities on a Temporal worker and runs it.
// Wiring only: what the workflows and activities do lives in their packages.
package worker

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/youworker/youworker/activities"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/workflows"
)

// Deps are the worker's dependencies, wired in cmd/youworker.
type Deps struct {
	Client      client.Client
	TaskQueue   string
	StopTimeout time.Duration // how long running activities may finish after a stop
	Store       *store.Store
	Logger      *slog.Logger
}

// New builds a worker with every workflow and activity registered.
func New(d Deps) sdkworker.Worker {
	w := sdkworker.New(d.Client, d.TaskQueue, sdkworker.Options{
		WorkerStopTimeout: d.StopTimeout,
	})
	w.RegisterWorkflow(workflows.Probe)
	w.RegisterActivity(&activities.DB{Store: d.Store})
	return w
}

// Run runs w until ctx is cancelled, then stops polling and waits up to the stop timeout for
// running activities to finish (a SIGTERM during a deploy drains instead of dropping work;
// whatever does not finish is retried by Temporal on another worker).
func Run(ctx context.Context, w sdkworker.Worker, log *slog.Logger) error {
	stop := make(chan any)
	go func() {
		<-ctx.Done()
		log.Info("worker draining")
		close(stop)
	}()
	err := w.Run(stop)
	log.Info("worker stopped")
	return err
}
