package ssrf

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/youworker/youworker/telemetry"
	"github.com/youworker/youworker/telemetry/telemetrytest"
)

// TestFetchIsTracedWithoutTheURL: each fetch is a client span under the caller's, naming the host
// and the outcome, never the path or query (what a user fetches), and sending no trace context to
// the host.
func TestFetchIsTracedWithoutTheURL(t *testing.T) {
	spans := telemetrytest.Record(t)

	var traceparents []string
	port := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		if strings.HasPrefix(r.URL.Path, "/missing") {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("hello"))
	}))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := strconv.Itoa(closed.Addr().(*net.TCPAddr).Port)
	require.NoError(t, closed.Close())
	g := newGuard(t, Options{Allow: []string{"allowed.test"}})

	for _, tc := range []struct {
		name, url, errorType string
		status               int
	}{
		{"fetched", "http://allowed.test:" + port + "/secret-doc?token=secret", "", 200},
		{"not found", "http://allowed.test:" + port + "/missing-secret?token=secret", "status", 404},
		{"blocked", "http://private.example:" + port + "/secret", "blocked", 0},
		{"refused", "http://allowed.test:" + closedPort + "/secret?token=secret", "transport", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, parent := telemetry.Tracer().Start(context.Background(), "caller")
			_, err := g.Fetch(ctx, tc.url)
			parent.End()
			require.Equal(t, tc.errorType == "", err == nil, "fetch error: %v", err)

			span := telemetrytest.Child(spans, parent)
			require.Equal(t, "GET", span.Name, "the fetch's span is the caller's child")
			require.Equal(t, trace.SpanKindClient, span.SpanKind)
			attrs := telemetrytest.Attributes(span)
			for k, v := range attrs {
				require.NotContains(t, v, "secret", "attribute %s carries the URL", k)
			}
			require.NotContains(t, span.Status.Description, "secret")
			host := "allowed.test"
			if tc.errorType == "blocked" {
				host = "private.example"
			}
			require.Equal(t, host, attrs["server.address"])
			if tc.status != 0 {
				require.Equal(t, strconv.Itoa(tc.status), attrs["http.response.status_code"])
			}
			if tc.errorType == "" {
				require.Equal(t, codes.Unset, span.Status.Code)
				require.Equal(t, "5", attrs["http.response.body.size"])
				return
			}
			require.Equal(t, codes.Error, span.Status.Code)
			require.Equal(t, tc.errorType, attrs["error.type"])
		})
	}
	require.Equal(t, []string{"", ""}, traceparents, "no trace context goes to the fetched host")
}
