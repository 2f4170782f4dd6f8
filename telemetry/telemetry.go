// Package telemetry is YouWorker's tracing: OpenTelemetry set up from the standard OTEL_*
// environment variables, and the instrumentation of each dependency's client (Ollama and MCP over
// HTTP, Qdrant over gRPC, Postgres through pgx, Temporal through its interceptors).
//
// Tracing is on when the environment names an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or asks for OTLP (OTEL_TRACES_EXPORTER=otlp), and neither
// OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none says otherwise. Off, Setup installs nothing:
// the global tracer provider stays OpenTelemetry's no-op one, no exporter exists, and the helpers
// below hand back what they were given, unwrapped.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"google.golang.org/grpc"
)

// Service names, the default service.name of each process (OTEL_SERVICE_NAME overrides it).
const (
	ServiceAPI    = "youworker-api"
	ServiceWorker = "youworker-worker"
	// ServiceDev is `youworker dev`, which runs the API, the worker and the MCP servers in one process.
	ServiceDev = "youworker-dev"
)

// ServiceMCP is the service name of the built-in MCP server name.
func ServiceMCP(name string) string { return "youworker-mcp-" + name }

// ScopeName is the instrumentation scope of the spans YouWorker's own code starts.
const ScopeName = "github.com/youworker/youworker"

var enabled atomic.Bool

// Enabled reports whether Setup turned tracing on in this process.
func Enabled() bool { return enabled.Load() }

// Options configure Setup.
type Options struct {
	// Service is the service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES set one.
	Service string
	// Version is the service.version.
	Version string
	// Logger receives export errors (a collector that does not answer). Default slog.Default().
	Logger *slog.Logger
	// Exporter, when set, receives every span synchronously instead of the OTLP exporter the
	// environment describes, and turns tracing on whatever the environment says (tests give
	// tracetest.NewInMemoryExporter()).
	Exporter sdktrace.SpanExporter
}

// newExporter builds the OTLP exporter for protocol; a variable so that a test can see whether
// one was built at all.
var newExporter = otlpExporter

// Setup turns tracing on when the environment asks for it: it installs the global tracer provider
// (batching spans to the OTLP exporter, sampling as OTEL_TRACES_SAMPLER says) and the propagators
// OTEL_PROPAGATORS names (default: W3C trace context and baggage). The returned shutdown flushes what is buffered and stops the
// exporter; call it on exit. When tracing stays off, shutdown does nothing.
func Setup(ctx context.Context, opts Options) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var exp sdktrace.SpanExporter
	var spans sdktrace.TracerProviderOption
	if opts.Exporter != nil {
		exp, spans = opts.Exporter, sdktrace.WithSyncer(opts.Exporter)
	} else {
		protocol, on, err := fromEnv(os.Getenv)
		if err != nil || !on {
			return noop, err
		}
		if exp, err = newExporter(ctx, protocol); err != nil {
			return noop, fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
		}
		spans = sdktrace.WithBatcher(exp) // OTEL_BSP_* tune it
	}
	prop, err := propagatorFromEnv(os.Getenv)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return noop, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(opts.Service), semconv.ServiceVersion(opts.Version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win over the defaults above
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return noop, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default
	// parentbased_always_on: a request that arrives sampled or not stays so across every process).
	tp := sdktrace.NewTracerProvider(spans, sdktrace.WithResource(res))
	log := opts.Logger.With("component", "telemetry")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing error", "error", err) }))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	enabled.Store(true)
	return tp.Shutdown, nil
}

// propagatorFromEnv is the propagator OTEL_PROPAGATORS names, comma-separated (tracecontext,
// baggage, b3, b3multi, jaeger, xray, ottrace, none); unset, W3C trace context and baggage. A name
// it does not know is an error: a process that would drop its callers' trace context says so at
// start.
func propagatorFromEnv(getenv func(string) string) (propagation.TextMapPropagator, error) {
	v := strings.TrimSpace(getenv("OTEL_PROPAGATORS"))
	if v == "" {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), nil
	}
	var names []string
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTEL_PROPAGATORS=%q: %w", v, err)
	}
	return p, nil
}

// fromEnv reads whether traces are exported and over which OTLP protocol. The exporters read the
// endpoint, headers, certificates, compression and timeout from the same variables themselves.
func fromEnv(getenv func(string) string) (protocol string, on bool, err error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", false, nil
	}
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "none":
		return "", false, nil
	case "otlp":
		on = true
	case "":
		on = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
	default:
		return "", false, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER: %q is not supported; use otlp or none", exporter)
	}
	if !on {
		return "", false, nil
	}
	variable := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	protocol = strings.TrimSpace(getenv(variable))
	if protocol == "" {
		variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
		protocol = strings.TrimSpace(getenv(variable))
	}
	switch protocol {
	case "":
		return "http/protobuf", true, nil // the specification's default
	case "http/protobuf", "grpc":
		return protocol, true, nil
	}
	return "", false, fmt.Errorf("telemetry: %s: %q is not supported; use http/protobuf or grpc", variable, protocol)
}

func otlpExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	if protocol == "grpc" {
		return otlptracegrpc.New(ctx)
	}
	return otlptracehttp.New(ctx)
}

// Tracer is the tracer of YouWorker's own spans (the global one: no-op while tracing is off).
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// Transport is rt with a client span per request, named "METHOD /path", and the trace context
// in its headers when tracing is on; rt itself otherwise. For APIs whose paths are few and fixed
// (Ollama's /api/chat, /api/embed): a path with ids in it would make a span name per id. peer
// names the service called (peer.service). A nil rt is http.DefaultTransport.
func Transport(rt http.RoundTripper, peer string) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
		otelhttp.WithSpanOptions(trace.WithAttributes(attribute.String("peer.service", peer))))
}

// Handler is h continuing its callers' traces when tracing is on: a server span, named
// "METHOD operation", for each request that carries a trace context (traceparent), as the child of
// the caller's span. A request without one (a health probe, a client that does not trace) is served
// untraced rather than beginning a trace of its own. h itself while tracing is off.
func Handler(h http.Handler, operation string) http.Handler {
	if !Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithFilter(func(r *http.Request) bool { return r.Header.Get("traceparent") != "" }),
		otelhttp.WithSpanNameFormatter(func(op string, r *http.Request) string { return r.Method + " " + op }))
}

// GRPCDialOptions add a client span per call and the trace context to gRPC clients when tracing
// is on; none otherwise.
func GRPCDialOptions() []grpc.DialOption {
	if !Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler())}
}

// Inject adds the trace context of ctx (traceparent, tracestate, baggage) to headers; nothing
// while tracing is off.
func Inject(ctx context.Context, headers map[string]string) {
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(headers))
}

// Detach returns ctx without its span: what runs with it is not traced as part of the request
// (a stream's periodic reads, which would add a child span every few seconds for as long as it
// is open). Values and cancellation stay.
func Detach(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, trace.SpanContext{})
}

// PgxTracer is the pgx query tracer when tracing is on (a client span per statement, under the
// span of the caller's context; none without one), nil otherwise.
func PgxTracer() pgx.QueryTracer {
	if !Enabled() {
		return nil
	}
	return otelpgx.NewTracer(otelpgx.WithQuerySpanNamePrefix()) // "query SELECT", "prepare SELECT"
}

// TemporalInterceptors are the Temporal client's interceptors when tracing is on: the SDK's
// tracing interceptor, which carries the trace context in the headers of workflow starts, signals,
// queries and activities, so that the workflow's and its activities' spans join the trace of the
// request that started it. A worker built on the client uses it too. None while tracing is off.
func TemporalInterceptors() []interceptor.ClientInterceptor {
	if !Enabled() {
		return nil
	}
	ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{TextMapPropagator: otel.GetTextMapPropagator()})
	if err != nil { // it has no failure for these options; should one appear, Temporal goes untraced
		otel.Handle(fmt.Errorf("telemetry: temporal tracing interceptor: %w", err))
		return nil
	}
	return []interceptor.ClientInterceptor{ti}
}
