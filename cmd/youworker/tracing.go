package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/youworker/youworker/telemetry"
)

// flushTimeout bounds how long a stopping process waits for its last spans to be exported.
const flushTimeout = 5 * time.Second

// startTracing turns tracing on for service when the OTEL_* variables ask for it (see package
// telemetry); stop flushes the spans still buffered. Call it before the clients are built: they
// are instrumented only when tracing is on by then.
func startTracing(ctx context.Context, service string, log *slog.Logger) (stop func(), err error) {
	shutdown, err := telemetry.Setup(ctx, telemetry.Options{Service: service, Version: version, Logger: log})
	if err != nil {
		return nil, err
	}
	if telemetry.Enabled() {
		log.Info("tracing on: exporting spans over OTLP", "service", service)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("flushing the last spans failed", "error", err)
		}
	}, nil
}
