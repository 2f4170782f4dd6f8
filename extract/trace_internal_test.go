package extract

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/telemetry/telemetrytest"
)

// TestToolRunsAreTraced: every run of an external program is a span under its caller's, with
// the exit code, and a run stopped at a limit is an error of type "limit".
func TestToolRunsAreTraced(t *testing.T) {
	spans := telemetrytest.Record(t)
	e := New(Options{Timeout: 300 * time.Millisecond})

	for _, tc := range []struct {
		name      string
		argv      []string
		exit      string
		errorType string
	}{
		{"exits 0", []string{"sh", "-c", "echo text"}, "0", ""},
		{"exits 3", []string{"sh", "-c", "exit 3"}, "3", ""},
		{"over the time limit", []string{"sleep", "5"}, "-1", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, parent := telemetry.Tracer().Start(context.Background(), "caller")
			_, err := e.run(ctx, nil, tc.argv[0], tc.argv[1:]...)
			parent.End()
			require.Equal(t, tc.errorType == "", err == nil, "run error: %v", err)
			span := telemetrytest.Child(spans, parent)
			require.Equal(t, "exec "+tc.argv[0], span.Name, "the run's span is the caller's child")
			attrs := telemetrytest.Attributes(span)
			require.Equal(t, tc.exit, attrs["process.exit.code"])
			if tc.errorType == "" {
				require.Equal(t, codes.Unset, span.Status.Code)
				return
			}
			require.Equal(t, codes.Error, span.Status.Code)
			require.Equal(t, tc.errorType, attrs["error.type"])
			require.Contains(t, span.Status.Description, "did not finish within")
		})
	}
}
