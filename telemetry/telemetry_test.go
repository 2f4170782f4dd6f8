package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/youworker/youworker/config"
)

// otelVariables are every variable Setup or the SDK reads; each test sets them all.
var otelVariables = []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PROPAGATORS"}

// setEnv sets the OTEL_* variables to vars, every other one to "" (unset, as far as the SDK and
// Setup are concerned), and undoes what Setup installed when the test ends.
func setEnv(t *testing.T, vars map[string]string) {
	for _, v := range otelVariables {
		t.Setenv(v, vars[v])
	}
	t.Cleanup(func() {
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
}

// countExporters counts the exporters Setup builds.
func countExporters(t *testing.T) *int {
	n := new(int)
	orig := newExporter
	newExporter = func(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
		*n++
		return orig(ctx, protocol)
	}
	t.Cleanup(func() { newExporter = orig })
	return n
}

type handler struct{}

func (*handler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// Without an OTLP endpoint (or with tracing switched off explicitly) Setup builds no exporter and
// installs nothing: spans do not record, no trace context leaves the process, and every
// instrumentation helper hands back what it was given.
func TestTracingIsOffWithoutOTELVariables(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{name: "nothing set"},
		{name: "only a service name", vars: map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}},
		{name: "exporter none", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{name: "SDK disabled", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "OTEL_SDK_DISABLED": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.vars)
			built := countExporters(t)
			shutdown, err := Setup(context.Background(), Options{Service: ServiceAPI})
			require.NoError(t, err)
			require.NoError(t, shutdown(context.Background()))
			require.Zero(t, *built, "an exporter was built")
			require.False(t, Enabled())
			_, sdk := otel.GetTracerProvider().(*sdktrace.TracerProvider)
			require.False(t, sdk, "a tracer provider was installed")

			_, span := Tracer().Start(context.Background(), "nothing")
			require.False(t, span.IsRecording())
			require.False(t, span.SpanContext().IsValid())
			span.End()
			h := map[string]string{}
			Inject(remoteSpan(context.Background()), h)
			require.Empty(t, h, "trace context sent while tracing is off")

			rt := &http.Transport{}
			require.Same(t, rt, Transport(rt, "ollama"))
			var hd http.Handler = &handler{}
			require.Equal(t, hd, Handler(hd, "/mcp"))
			require.Nil(t, GRPCDialOptions())
			require.Nil(t, PgxTracer())
			require.Nil(t, TemporalInterceptors())
		})
	}
}

// remoteSpan is ctx with a sampled span context from elsewhere.
func remoteSpan(ctx context.Context) context.Context {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
}

// received is what a fake OTLP collector got.
type received struct {
	mu  sync.Mutex
	req []*coltrace.ExportTraceServiceRequest
}

func (r *received) add(req *coltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.req = append(r.req, req)
}

// spans are the received spans' names by service.name.
func (r *received) spans() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, req := range r.req {
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out[service] = append(out[service], s.GetName())
				}
			}
		}
	}
	return out
}

// otlpHTTP is a collector receiving OTLP/HTTP protobuf at /v1/traces.
func otlpHTTP(t *testing.T) (string, *received) {
	got := &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltrace.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || err != nil || proto.Unmarshal(body, req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		got.add(req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

type collector struct {
	coltrace.UnimplementedTraceServiceServer
	got *received
}

func (c *collector) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	c.got.add(req)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

// otlpGRPC is a collector receiving OTLP over gRPC.
func otlpGRPC(t *testing.T) (string, *received) {
	got := &received{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(srv, &collector{got: got})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return "http://" + ln.Addr().String(), got
}

// With an OTLP endpoint, spans reach the collector over the protocol the variables name, under
// the process's service name (or OTEL_SERVICE_NAME's), when shutdown flushes them; the sampler is
// the one OTEL_TRACES_SAMPLER names; incoming trace context is honoured and sent on.
func TestTracingExportsOverOTLP(t *testing.T) {
	for _, tc := range []struct {
		name      string
		collector func(*testing.T) (string, *received)
		vars      map[string]string
		service   string
		sampled   bool
	}{
		{name: "http/protobuf by default", collector: otlpHTTP, service: ServiceWorker, sampled: true},
		{name: "grpc", collector: otlpGRPC, vars: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			service: ServiceWorker, sampled: true},
		{name: "service name from the environment", collector: otlpHTTP, vars: map[string]string{"OTEL_SERVICE_NAME": "yw-eu-1"},
			service: "yw-eu-1", sampled: true},
		{name: "sampler from the environment", collector: otlpHTTP, vars: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"},
			service: ServiceWorker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint, got := tc.collector(t)
			vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint} // http://: no TLS
			for k, v := range tc.vars {
				vars[k] = v
			}
			setEnv(t, vars)
			built := countExporters(t)
			shutdown, err := Setup(context.Background(), Options{Service: ServiceWorker, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			require.Equal(t, 1, *built)
			require.True(t, Enabled())

			// A request arriving with a traceparent: its span continues that trace and what it
			// sends on carries the trace id.
			ctx := otel.GetTextMapPropagator().Extract(context.Background(), propagation.MapCarrier{
				"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
			ctx, span := Tracer().Start(ctx, "work")
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", span.SpanContext().TraceID().String())
			if tc.sampled {
				out := map[string]string{}
				Inject(ctx, out)
				require.Contains(t, out["traceparent"], "4bf92f3577b34da6a3ce929d0e0e4736")
			}
			_, root := Tracer().Start(context.Background(), "alone")
			root.End()
			span.End()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, shutdown(ctx))
			if tc.sampled {
				// The one with a sampled parent, and the root the sampler kept.
				require.ElementsMatch(t, []string{"work", "alone"}, got.spans()[tc.service], "%v", got.spans())
			} else {
				require.Empty(t, got.spans(), "always_off sampled a span")
			}
		})
	}
}

// Values Setup cannot honour fail the start, naming the variable.
func TestTracingRefusesUnsupportedSettings(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{vars: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, want: "OTEL_TRACES_EXPORTER"},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			want: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"},
			want: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			setEnv(t, tc.vars)
			built := countExporters(t)
			_, err := Setup(context.Background(), Options{Service: ServiceAPI})
			require.ErrorContains(t, err, tc.want)
			require.Zero(t, *built)
			require.False(t, Enabled())
		})
	}
}

// Every variable Setup reads is in the configuration table (config.TracingVariables), so the
// README and the deployment checks know it.
func TestTracingVariablesAreDocumented(t *testing.T) {
	t.Parallel()
	documented := map[string]bool{}
	for _, v := range config.TracingVariables() {
		documented[v.Name] = true
	}
	read := map[string]bool{}
	getenv := func(vars map[string]string) func(string) string {
		return func(name string) string { read[name] = true; return vars[name] }
	}
	for _, vars := range []map[string]string{
		{}, {"OTEL_TRACES_EXPORTER": "otlp"}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
	} {
		_, _, err := fromEnv(getenv(vars))
		require.NoError(t, err)
	}
	require.NotEmpty(t, read)
	for name := range read {
		require.True(t, documented[name], "%s is read but not in config.TracingVariables", name)
	}
	for _, name := range otelVariables {
		require.True(t, documented[name], "%s is set by the tests but not in config.TracingVariables", name)
	}
}

// A handler continues a caller's trace, with the caller's span as the parent of its own, and
// begins none: a request without a traceparent (a probe) makes no span.
func TestHandlerContinuesTracesOnly(t *testing.T) {
	setEnv(t, nil)
	spans := tracetest.NewInMemoryExporter()
	shutdown, err := Setup(context.Background(), Options{Service: ServiceMCP("datetime"), Exporter: spans})
	require.NoError(t, err)
	defer func() { require.NoError(t, shutdown(context.Background())) }()
	var seen []string // the trace id each request was served in
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, trace.SpanContextFromContext(r.Context()).TraceID().String())
	}), "/mcp")

	probe := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	h.ServeHTTP(httptest.NewRecorder(), probe)
	require.Empty(t, spans.GetSpans(), "a request without a trace context began a trace")

	call := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	call.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), call)
	got := spans.GetSpans()
	require.Len(t, got, 1)
	require.Equal(t, "POST /mcp", got[0].Name)
	require.Equal(t, trace.SpanKindServer, got[0].SpanKind)
	require.Equal(t, "00f067aa0ba902b7", got[0].Parent.SpanID().String())
	require.Equal(t, []string{"00000000000000000000000000000000", "4bf92f3577b34da6a3ce929d0e0e4736"}, seen)
}

// OTEL_PROPAGATORS picks the propagators (default W3C trace context and baggage); a name it does
// not know stops the process at start rather than dropping its callers' trace context.
func TestPropagatorsFromEnvironment(t *testing.T) {
	for _, tt := range []struct {
		env    string
		fields []string
	}{
		{"", []string{"traceparent", "tracestate", "baggage"}},
		{"b3", []string{"b3"}},
		{"tracecontext, b3multi", []string{"traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"}},
		{"none", nil},
	} {
		t.Run(tt.env, func(t *testing.T) {
			setEnv(t, map[string]string{"OTEL_PROPAGATORS": tt.env})
			shutdown, err := Setup(context.Background(), Options{Service: "t", Exporter: tracetest.NewInMemoryExporter()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = shutdown(context.Background()) })
			require.ElementsMatch(t, tt.fields, otel.GetTextMapPropagator().Fields())
		})
	}
	setEnv(t, map[string]string{"OTEL_PROPAGATORS": "tracecontext,zipkin"})
	_, err := Setup(context.Background(), Options{Service: "t", Exporter: tracetest.NewInMemoryExporter()})
	require.ErrorContains(t, err, "OTEL_PROPAGATORS")
	require.ErrorContains(t, err, "zipkin")
}
