package activities

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/youworker/youworker/metrics"
)

// fakeSweeper fails n turns, calling beat after each.
type fakeSweeper struct{ n int }

func (f fakeSweeper) Sweep(_ context.Context, _ int, beat func()) (int, error) {
	for range f.n {
		beat()
	}
	return f.n, nil
}

// The turns the reaper fails are counted as failed turns, like the ones a workflow fails.
func TestReaperCountsTheTurnsItFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewWorker(reg, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	r := &Reaper{Chat: fakeSweeper{n: 3}, Batch: 10, Metrics: m}
	env.RegisterActivity(r)
	v, err := env.ExecuteActivity(r.ReapLostTurns)
	require.NoError(t, err)
	var res ReapResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, 3, res.Reaped)
	n, err := testutil.GatherAndCount(reg, "youworker_turns_total")
	require.NoError(t, err)
	require.Equal(t, 1, n, "one series: outcome failed")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP youworker_turns_total Chat turns finished, by outcome (completed, failed, cancelled).
# TYPE youworker_turns_total counter
youworker_turns_total{outcome="failed"} 3
`), "youworker_turns_total"))
}
