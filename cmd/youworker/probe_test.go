package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/mcpservers/datetime"
)

// `youworker probe URL` (the image's HEALTHCHECK) succeeds only when URL answers 2xx in time.
func TestProbe(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.Handle("/mcp", datetime.Handler(datetime.Options{Logger: slog.New(slog.DiscardHandler)}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"healthy", []string{srv.URL + "/health"}, ""},
		{"unavailable", []string{srv.URL + "/down"}, "503"},
		{"not found", []string{srv.URL + "/nope"}, "404"},
		{"too slow", []string{"--timeout", "100ms", srv.URL + "/slow"}, "deadline exceeded"},
		{"nothing listening", []string{"http://127.0.0.1:1/health"}, "connection refused"},
		{"no URL", nil, "usage: youworker probe"},
		{"MCP server", []string{"--mcp", srv.URL + "/mcp"}, ""},
		{"MCP ping to a plain endpoint", []string{"--mcp", srv.URL + "/health"}, "without a result"},
		{"GET on an MCP endpoint", []string{srv.URL + "/mcp"}, "answered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"probe"}, tc.args...), &out, &errOut)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Contains(t, out.String(), "200")
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
