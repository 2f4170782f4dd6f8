package metrics

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestWorkerMetricsMoveWithTheirCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	waiting, fail := int64(3), false
	m, err := NewWorker(reg, func(context.Context) (int64, error) {
		if fail {
			return 0, errors.New("database down")
		}
		return waiting, nil
	}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	started := time.Now().Add(-2 * time.Second)
	m.TurnFinished("completed", started)
	m.TurnFinished("failed", time.Time{}) // no start known: counted, no duration
	m.FirstToken(started)
	m.FirstToken(time.Time{})
	m.Tokens("llama3", 12, 34)
	m.ToolCall("datetime/time_now", "succeeded", 5*time.Millisecond)
	m.RunFinished("completed")
	m.Stage("embed", time.Second)
	m.ChunksIndexed(7)
	m.Embedding(10 * time.Millisecond)

	require.Equal(t, 1.0, testutil.ToFloat64(m.turns.WithLabelValues("completed")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.turns.WithLabelValues("failed")))
	require.Equal(t, 1, testutil.CollectAndCount(m.turnDuration), "one duration: the failed turn's start was unknown")
	require.Equal(t, 12.0, testutil.ToFloat64(m.tokens.WithLabelValues("llama3", "in")))
	require.Equal(t, 34.0, testutil.ToFloat64(m.tokens.WithLabelValues("llama3", "out")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.toolCalls.WithLabelValues("datetime/time_now", "succeeded")))
	require.Equal(t, 7.0, testutil.ToFloat64(m.chunksIndexed))
	fams, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, f := range fams {
		for _, s := range f.Metric {
			if s.Histogram != nil {
				counts[f.GetName()] += s.Histogram.GetSampleCount()
			}
			if f.GetName() == "youworker_approvals_waiting" {
				require.Equal(t, 3.0, s.Gauge.GetValue())
			}
		}
	}
	require.Equal(t, map[string]uint64{"youworker_turn_duration_seconds": 1, "youworker_turn_first_token_seconds": 1,
		"youworker_tool_call_duration_seconds": 1, "youworker_ingestion_stage_duration_seconds": 1,
		"youworker_embedding_duration_seconds": 1}, counts)

	fail = true
	require.Equal(t, -1.0, gaugeValue(t, reg, "youworker_approvals_waiting"), "a failed count shows as -1, not as 0 waiting")

	_, err = NewWorker(reg, nil, slog.New(slog.DiscardHandler))
	require.Error(t, err, "registering twice on one registry fails")
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name {
			return f.Metric[0].Gauge.GetValue()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}

// A nil *Worker (activities built without metrics) records nothing and does not panic.
func TestNilWorkerRecordsNothing(t *testing.T) {
	var m *Worker
	m.TurnFinished("completed", time.Now())
	m.FirstToken(time.Now())
	m.Tokens("m", 1, 1)
	m.ToolCall("t", "succeeded", time.Second)
	m.RunFinished("completed")
	m.Stage("embed", time.Second)
	m.ChunksIndexed(1)
	m.Embedding(time.Second)
}

// The Temporal handler registers the SDK's metrics on the registry under Prometheus names.
func TestTemporalHandlerNamesMetricsForPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, closer := Temporal(reg, slog.New(slog.DiscardHandler))
	h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_workflow_completed").Inc(2)
	h.Timer("temporal_request_latency").Record(30 * time.Millisecond)
	require.NoError(t, closer.Close()) // flushes the reporter
	fams, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	require.True(t, names["temporal_workflow_completed_total"], "%v", names)
	require.True(t, names["temporal_request_latency_seconds"], "%v", names)
}
