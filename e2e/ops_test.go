package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/youworker/youworker/activities"
	"github.com/youworker/youworker/testenv"
	"github.com/youworker/youworker/workflows"
)

// TestOperatorEndpointsOffThePublicPort: the API process serves /metrics and the detailed health
// on METRICS_ADDR; on the public port /metrics is gone and the detailed health answers
// administrators only.
func TestOperatorEndpointsOffThePublicPort(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil).start()
	u := p.signup("norma")
	admin := p.signup("osric")
	_, err := openDB(t, p).Exec(`UPDATE users SET is_admin = true WHERE username = 'osric'`)
	require.NoError(t, err)

	require.Equal(t, http.StatusNotFound, p.request("GET", "/metrics", "", nil, nil).status)
	require.Equal(t, http.StatusNotFound, admin.do("GET", "/metrics", nil).status)
	require.Equal(t, http.StatusUnauthorized, p.request("GET", "/health/detailed", "", nil, nil).status)
	require.Equal(t, http.StatusForbidden, u.do("GET", "/health/detailed", nil).status)
	r := admin.do("GET", "/health/detailed", nil)
	require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, r.status, "%s", r.body)
	require.Contains(t, r.json(t)["checks"], "postgres")
	require.Equal(t, http.StatusOK, p.request("GET", "/health", "", nil, nil).status)

	m := p.operator("/metrics")
	require.Equal(t, http.StatusOK, m.status)
	require.Contains(t, string(m.body), `youworker_http_requests_total{method="GET",route="/health",status="200"}`)
	h := p.operator("/health/detailed")
	require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, h.status, "%s", h.body)
	require.Contains(t, h.json(t)["checks"], "postgres")
}

// TestProbeWorkflow runs the operators' probe (docs/operations.md, "Health") through Temporal, a
// worker and Postgres.
func TestProbeWorkflow(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, nil)
	p.startWorker()
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := workflows.ProbeWorkflowID + "-" + p.env["TEMPORAL_TASK_QUEUE"]
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: p.env["TEMPORAL_TASK_QUEUE"]}, workflows.Probe)
	require.NoError(t, err)
	var res activities.ProbeResult
	require.NoError(t, run.Get(ctx, &res))
	require.True(t, res.PostgresOK, "the worker reached Postgres: %s", res.PostgresError)
	require.NotEmpty(t, res.Host)
	recordHistory(t, p, id, "probe")
}
