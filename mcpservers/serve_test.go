package mcpservers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers"
)

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",` +
	`"capabilities":{},"clientInfo":{"name":"origin-test","version":"1"}}}`

// The streamable HTTP transport requires servers to validate Origin (DNS rebinding): a browser
// page of a foreign site is refused, a client that sends no Origin (the worker) is not.
func TestMountChecksOrigin(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.DiscardHandler)
	h := mcpservers.Mount(mcpservers.NewServer("origin-test", "", quiet), quiet, "https://app.example", "http://localhost:3000")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name    string
		origins []string
		want    int
	}{
		{"no Origin (server-side client)", nil, http.StatusOK},
		{"allowed origin", []string{"https://app.example"}, http.StatusOK},
		{"allowed origin, other case", []string{"HTTPS://App.Example"}, http.StatusOK},
		{"foreign site", []string{"https://evil.example"}, http.StatusForbidden},
		{"rebound name of the server itself", []string{srv.URL}, http.StatusForbidden},
		{"allowed host on another port", []string{"http://localhost:3001"}, http.StatusForbidden},
		{"opaque origin", []string{"null"}, http.StatusForbidden},
		{"empty Origin", []string{""}, http.StatusForbidden},
		{"two Origins", []string{"https://app.example", "https://evil.example"}, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", srv.URL+mcpservers.EndpointPath, strings.NewReader(initialize))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for _, o := range tt.origins {
				req.Header.Add("Origin", o)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			require.Equal(t, tt.want, resp.StatusCode, "%s", body)
			if tt.want == http.StatusOK {
				require.Contains(t, string(body), `"origin-test"`, "the server answered the initialize request")
			}
		})
	}
}
