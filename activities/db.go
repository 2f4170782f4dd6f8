// Package activities holds YouWorker's Temporal activities: one struct per dependency holding its
// client, each activity taking one input struct. Activities are idempotent: a retry writes
// nothing twice.
package activities

import (
	"context"
	"os"
	"time"

	"github.com/youworker/youworker/activities/spec"
	"github.com/youworker/youworker/store"
)

// DB holds the activities that only need Postgres.
type DB struct {
	Store *store.Store
}

type ProbeResult = spec.ProbeResult

// Probe reports the worker's host and whether it reaches Postgres.
func (a *DB) Probe(ctx context.Context) (ProbeResult, error) {
	host, _ := os.Hostname()
	start := time.Now()
	err := a.Store.Ping(ctx)
	r := ProbeResult{Host: host, PostgresOK: err == nil, PostgresMillis: time.Since(start).Milliseconds()}
	if err != nil {
		r.PostgresError = err.Error()
	}
	return r, nil
}
