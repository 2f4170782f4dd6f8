package extract

import (
	"context"
	"errors"
	"path/filepath"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/telemetry"
)

// startToolSpan starts the span of one run of an external tool or of the sandbox, named "exec"
// and the program ("exec pdftotext", "exec youworker-extract"): where an ingestion's extraction
// time goes, page by page for OCR.
func startToolSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	program := filepath.Base(name)
	return telemetry.Tracer().Start(ctx, "exec "+program, trace.WithAttributes(attribute.String("process.executable.name", program)))
}

// endToolSpan ends a tool's span with its exit code, CPU time and output size, and with what
// stopped it when it failed to run or was stopped (error.type "limit" for a document over a
// limit, "error" otherwise). The error's text names the tool and the limit, not the document's
// content.
func endToolSpan(span trace.Span, res toolResult, err error) {
	defer span.End()
	span.SetAttributes(attribute.Int("process.exit.code", res.exitCode),
		attribute.Int64("youworker.process.cpu_ms", res.cpu.Milliseconds()),
		attribute.Int("youworker.process.stdout_bytes", len(res.stdout)))
	if res.truncated {
		span.SetAttributes(attribute.Bool("youworker.process.stdout_truncated", true))
	}
	switch {
	case err == nil:
		// A non-zero exit is not an error here: the caller reads it (a damaged file, an
		// encrypted one), and the exit code is on the span.
		return
	case errors.Is(err, ErrLimit):
		span.SetAttributes(attribute.String("error.type", "limit"))
	default:
		span.SetAttributes(attribute.String("error.type", "error"))
	}
	span.SetStatus(codes.Error, err.Error())
}
