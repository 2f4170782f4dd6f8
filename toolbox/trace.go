package toolbox

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/telemetry"
)

// startSpan starts the client span of one MCP request to srv, named as OpenTelemetry's MCP
// conventions name it ("tools/call time_now"). The span's context travels to the server in the
// traceparent header (conn.headers), so the server's own span is its child.
func startSpan(ctx context.Context, method, target string, srv Server) (context.Context, trace.Span) {
	name := method
	attrs := []attribute.KeyValue{attribute.String("mcp.method.name", method), attribute.String("youworker.mcp.server", srv.Name)}
	if target != "" {
		name += " " + target
		attrs = append(attrs, attribute.String("gen_ai.tool.name", target))
	}
	return telemetry.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endSpan ends span, recording err, or the tool's own error when the call succeeded with an
// error result (error.type "tool_error").
func endSpan(span trace.Span, err error, toolError bool) {
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	case toolError:
		span.SetAttributes(attribute.String("error.type", "tool_error"))
		span.SetStatus(codes.Error, "the tool answered with an error")
	}
	span.End()
}
