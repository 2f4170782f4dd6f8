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
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// `youworker probe --worker` is healthy only while a worker of its own container (host) polls:
// another container's poller or a stale one does not count.
func TestProbeWorkerPollingFrom(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	poller := func(identity string, ago time.Duration) *taskqueuepb.PollerInfo {
		return &taskqueuepb.PollerInfo{Identity: identity, LastAccessTime: timestamppb.New(now.Add(-ago))}
	}
	cases := []struct {
		name    string
		pollers []*taskqueuepb.PollerInfo
		healthy bool
	}{
		{"this host polls", []*taskqueuepb.PollerInfo{poller("7@other@youworker", time.Second), poller("1@c0ffee@youworker", 2*time.Second)}, true},
		{"only another host polls", []*taskqueuepb.PollerInfo{poller("1@c0ffee2@youworker", time.Second)}, false},
		{"this host stopped polling", []*taskqueuepb.PollerInfo{poller("1@c0ffee@youworker", 2*time.Minute)}, false},
		{"nobody polls", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := pollingFrom(&workflowservice.DescribeTaskQueueResponse{Pollers: tc.pollers}, "c0ffee", now)
			if tc.healthy {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, "no worker on c0ffee")
			}
		})
	}
}
