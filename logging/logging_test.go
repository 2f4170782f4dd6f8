package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

// A record logged with a traced context names the trace and the span next to the request id, so
// that an operator goes from a log line to its trace; one without a span names neither.
func TestRecordsCarryTheTrace(t *testing.T) {
	t.Parallel()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		trace, spn any
	}{
		{name: "traced", ctx: traced, trace: tid.String(), spn: sid.String()},
		{name: "not traced", ctx: context.Background()},
		{name: "invalid span context", ctx: trace.ContextWithSpanContext(context.Background(), trace.SpanContext{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
			log.InfoContext(With(tc.ctx, slog.String(RequestIDKey, "req-1")), "request")
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
			require.Equal(t, "req-1", rec[RequestIDKey])
			require.Equal(t, tc.trace, rec[TraceIDKey])
			require.Equal(t, tc.spn, rec[SpanIDKey])
		})
	}
}
