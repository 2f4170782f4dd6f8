// Package telemetrytest records the spans a test makes, for tests of what a package traces.
package telemetrytest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/telemetry"
)

// Record turns tracing on (telemetry.Setup with an in-memory exporter) and returns the exporter,
// which receives every span as it ends. Tracing stays on for the rest of the test binary: tests
// pick their spans by parent (Child), not by position.
func Record(t testing.TB) *tracetest.InMemoryExporter {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Options{Service: "test", Exporter: spans})
	require.NoError(t, err)
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	return spans
}

// Child is the last ended span whose parent is parent (the zero stub when there is none).
func Child(spans *tracetest.InMemoryExporter, parent trace.Span) tracetest.SpanStub {
	var out tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		if s.Parent.SpanID() == parent.SpanContext().SpanID() {
			out = s
		}
	}
	return out
}

// Attributes are a span's attributes, their values as text.
func Attributes(s tracetest.SpanStub) map[string]string {
	out := make(map[string]string, len(s.Attributes))
	for _, a := range s.Attributes {
		out[string(a.Key)] = a.Value.String()
	}
	return out
}
