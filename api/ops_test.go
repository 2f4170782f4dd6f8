package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/metrics"
)

// ops serves the server's operator endpoints as the metrics listener (METRICS_ADDR) does.
func (e *apiEnv) ops() *httptest.Server {
	e.t.Helper()
	hs := httptest.NewServer(metrics.Handler(e.srv.Registry(), e.srv.OpsHandlers()))
	e.t.Cleanup(hs.Close)
	return hs
}

func opsGet(t *testing.T, hs *httptest.Server, path string) response {
	t.Helper()
	resp, err := http.Get(hs.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// admin signs up a user and makes them an administrator (there is no API for that).
func (e *apiEnv) admin(name string) *apiClient {
	e.t.Helper()
	c, _ := e.signup(name)
	_, err := e.store.SQL().ExecContext(context.Background(), `UPDATE users SET is_admin = true WHERE username = $1`, name)
	require.NoError(e.t, err)
	return c
}

// TestOperatorEndpointsAreNotPublic: the public port serves no /metrics, and its detailed health
// answers administrators only; the metrics listener serves both to whoever reaches it.
func TestOperatorEndpointsAreNotPublic(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	user, _ := e.signup("ursula")
	admin := e.admin("ada")

	r := e.client().do("GET", "/metrics", nil)
	require.Equal(t, http.StatusNotFound, r.Status, "no metrics on the public port")
	r = admin.do("GET", "/metrics", nil)
	require.Equal(t, http.StatusNotFound, r.Status, "not even for an administrator")

	r = e.client().do("GET", "/health/detailed", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	require.NotContains(t, string(r.Body), "postgres")
	r = user.do("GET", "/health/detailed", nil)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Equal(t, "FORBIDDEN", r.errCode(t))
	require.NotContains(t, string(r.Body), "postgres")
	r = admin.do("GET", "/health/detailed", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "up", r.JSON(t)["checks"].(map[string]any)["postgres"].(map[string]any)["status"])

	require.Equal(t, http.StatusOK, e.client().do("GET", "/health", nil).Status, "liveness stays public")

	ops := e.ops()
	m := opsGet(t, ops, "/metrics")
	require.Equal(t, http.StatusOK, m.Status)
	require.Contains(t, string(m.Body), `youworker_http_requests_total{method="GET",route="/health",status="200"} 1`)
	require.Contains(t, string(m.Body), `go_sql_max_open_connections{db_name="youworker"}`)
	h := opsGet(t, ops, "/health/detailed")
	require.Equal(t, http.StatusOK, h.Status, "%s", h.Body)
	require.Equal(t, "up", h.JSON(t)["checks"].(map[string]any)["postgres"].(map[string]any)["status"])
	require.Equal(t, http.StatusNotFound, opsGet(t, ops, "/v1/auth/me").Status, "the metrics listener serves nothing else")
}
