package testenv

import (
	"context"
	"go.temporal.io/sdk/client"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/youworker/youworker/devservices"
)

// SearchAttributes are registered on the dev server (name → type, e.g. "Keyword"). Set them
// before the first call to Temporal, typically in TestMain before testenv.Main.
var SearchAttributes = map[string]string{}

var (
	temporalMu         sync.Mutex
	temporal           *devservices.Temporal
	temporalErr        error
	temporalAttributes map[string]string // what the running server registered
)

// Temporal returns the test binary's Temporal dev server — headless, in memory, with
// devservices.FastDispatchArgs and SearchAttributes — starting it on first use. Tests share it;
// give each test its own task queue (TaskQueue) and workflow IDs.
func Temporal(t testing.TB) *devservices.Temporal {
	t.Helper()
	requireMain(t)
	temporalMu.Lock()
	defer temporalMu.Unlock()
	if temporal == nil && temporalErr == nil {
		temporalAttributes = maps.Clone(SearchAttributes)
		temporal, temporalErr = startTemporal(temporalAttributes)
	}
	if temporalErr != nil {
		t.Fatalf("testenv: start the temporal dev server: %v", temporalErr)
	}
	if !maps.Equal(SearchAttributes, temporalAttributes) {
		t.Fatalf("testenv: SearchAttributes changed after the dev server started with %v; set them in TestMain", temporalAttributes)
	}
	return temporal
}

func startedTemporal() *devservices.Temporal {
	temporalMu.Lock()
	defer temporalMu.Unlock()
	return temporal
}

func startTemporal(searchAttributes map[string]string) (*devservices.Temporal, error) {
	root, err := workDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return devservices.StartTemporal(ctx, devservices.TemporalOptions{
		Headless:         true,
		SearchAttributes: searchAttributes,
		ExtraArgs:        devservices.FastDispatchArgs(),
		LogFile:          filepath.Join(root, "temporal.log"),
		Logger:           logger,
	})
}

// TaskQueue returns a task queue name unique to t, so tests sharing the dev server never poll
// each other's tasks.
func TaskQueue(t testing.TB) string {
	return "test-" + sanitize(t.Name(), '-', 100) + "-" + randomHex(4)
}

// TemporalClient is a client of the test binary's dev server (Temporal), closed after the test.
func TemporalClient(t testing.TB) client.Client {
	t.Helper()
	srv := Temporal(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace})
	if err != nil {
		t.Fatalf("testenv: dial temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
