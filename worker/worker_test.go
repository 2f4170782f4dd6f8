package worker_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/worker"
	"github.com/youworker/youworker/workflows"
)

func healthOf(t *testing.T, h *worker.Health) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func liveOf(h *worker.Health) int {
	rec := httptest.NewRecorder()
	h.Live().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/livez", nil))
	return rec.Code
}

func TestHealthFollowsTheWorker(t *testing.T) {
	c := testenv.TemporalClient(t)
	h := worker.NewHealth()
	w := sdkworker.New(c, testenv.TaskQueue(t), sdkworker.Options{})
	w.RegisterWorkflow(workflows.Probe)

	code, body := healthOf(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"status":"starting"}`, body)
	require.Equal(t, http.StatusOK, liveOf(h), "a starting worker is alive")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, w, h, slog.Default()) }()
	require.Eventually(t, func() bool { code, _ := healthOf(t, h); return code == http.StatusOK }, 30*time.Second, 10*time.Millisecond)
	_, body = healthOf(t, h)
	require.JSONEq(t, `{"status":"running"}`, body)
	require.Equal(t, http.StatusOK, liveOf(h))

	cancel()
	require.NoError(t, <-done)
	code, body = healthOf(t, h)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.JSONEq(t, `{"status":"stopped"}`, body)
	require.Equal(t, http.StatusServiceUnavailable, liveOf(h), "a stopped worker is dead")
}
