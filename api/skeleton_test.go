package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/devservices"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	r := e.client().do("GET", "/v1/nope", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "ROUTE_NOT_FOUND", r.errCode(t))

	r = e.client().do("PATCH", "/v1/auth/login", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.Status)
	require.Equal(t, "METHOD_NOT_ALLOWED", r.errCode(t))
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	r := e.client().do("GET", "/v1/auth/me", nil, "X-Request-ID", "req-abc.123")
	require.Equal(t, "req-abc.123", r.Header.Get("X-Request-ID"))
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "UNAUTHENTICATED", r.errCode(t))

	// A hostile id (newline, too long) is replaced by a generated one.
	r = e.client().do("GET", "/health", nil, "X-Request-ID", strings.Repeat("x", 500))
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), r.Header.Get("X-Request-ID"))

	// Every log line of the request carries its id.
	found := false
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"route":"/v1/auth/me"`) {
			require.Contains(t, line, `"request_id":"req-abc.123"`)
			found = true
		}
	}
	require.True(t, found, "access log line present")
}

func TestPanicBecomesEnvelope(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	e.srv.engine.GET("/test/panic", func(*gin.Context) { panic("secret internal detail") })
	r := e.client().do("GET", "/test/panic", nil)
	require.Equal(t, http.StatusInternalServerError, r.Status)
	require.Equal(t, "INTERNAL_ERROR", r.errCode(t))
	require.NotContains(t, string(r.Body), "secret internal detail")
	require.Contains(t, e.logs.String(), "secret internal detail", "the cause is logged")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	e := newAPI(t, func(_ *config.Config, checks *[]Check) {
		*checks = append(*checks,
			Check{Name: "optional", Probe: func(context.Context) error { return down }},
			Check{Name: "placeholder"},
		)
	})
	r := e.client().do("GET", "/health", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "ok", r.JSON(t)["status"])

	r = e.admin("hedda").do("GET", "/health/detailed", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m := r.JSON(t)
	require.Equal(t, "degraded", m["status"])
	checks := m["checks"].(map[string]any)
	require.Equal(t, "up", checks["postgres"].(map[string]any)["status"])
	require.Equal(t, "down", checks["optional"].(map[string]any)["status"])
	require.Equal(t, "not_configured", checks["placeholder"].(map[string]any)["status"])
	require.NotContains(t, string(r.Body), "connection refused", "causes stay in the logs")

	req := newAPI(t, func(_ *config.Config, checks *[]Check) {
		*checks = append(*checks, Check{Name: "temporal", Required: true, Probe: func(ctx context.Context) error {
			<-ctx.Done() // hangs until the health timeout
			return ctx.Err()
		}})
	})
	start := time.Now()
	r = opsGet(t, req.ops(), "/health/detailed")
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Equal(t, "timeout", r.JSON(t)["checks"].(map[string]any)["temporal"].(map[string]any)["error"])
	require.Less(t, time.Since(start), 10*time.Second, "a hanging dependency is cut off by the check timeout")
}

// TestOpenAPICoversRoutes fails when a registered route is missing from api/openapi.yaml or the
// document lists a route that is not served.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	e := newAPI(t, nil)
	r := e.client().do("GET", "/openapi.json", nil)
	require.Equal(t, http.StatusOK, r.Status)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	optional := map[string]bool{} // documented routes served only when configured (x-optional)
	require.NoError(t, json.Unmarshal(r.Body, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))

	param := regexp.MustCompile(`[:*]([a-z_]+)`) // :id and the catch-all *id are both {id}
	var served []string
	for _, rt := range e.srv.engine.Routes() {
		p := param.ReplaceAllString(rt.Path, "{$1}")
		served = append(served, strings.ToLower(rt.Method)+" "+p)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" && m != "x-optional" {
				documented = append(documented, m+" "+p)
				if ops["x-optional"] == true {
					optional[m+" "+p] = true
				}
			}
		}
	}
	for _, s := range served {
		require.Contains(t, documented, s, "route served but not in api/openapi.yaml")
	}
	for _, d := range documented {
		require.True(t, optional[d] || slices.Contains(served, d), "api/openapi.yaml documents %q which is not served", d)
	}
}

// TestPostgresDownThenBack stops the database under a running API: requests that need it answer
// 503 with Retry-After, /health/detailed says so, and both recover without restarting the API.
func TestPostgresDownThenBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, err := devservices.StartPostgres(ctx, devservices.PostgresOptions{DataDir: t.TempDir() + "/pg", Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	require.NoError(t, pg.CreateDatabase(ctx, "app", ""))
	dsn := pg.DSN("app")
	migrateForTest(t, dsn)

	cfg := testConfig(t, dsn)
	logs := &testenv.Buffer{}
	st, err := store.Open(store.Options{URL: dsn, PoolSize: 2, MaxOverflow: 2, PrePing: true, SlowQuery: time.Second, Logger: cfg.Logger(logs)})
	require.NoError(t, err)
	defer st.Close()
	srv, err := New(Deps{Config: cfg, Store: st, Checks: []Check{{Name: "postgres", Required: true, Probe: st.Ping}}, Logger: cfg.Logger(logs)})
	require.NoError(t, err)
	e := &apiEnv{t: t, srv: srv, http: newTestServer(t, srv), store: st, logs: logs, cfg: cfg}
	c, _ := e.signup("olga")

	require.NoError(t, pg.Stop(ctx))
	r := c.do("GET", "/v1/auth/me", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	require.Equal(t, "DATABASE_UNAVAILABLE", r.errCode(t))
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	ops := e.ops()
	h := opsGet(t, ops, "/health/detailed")
	require.Equal(t, http.StatusServiceUnavailable, h.Status)

	require.NoError(t, pg.Start(ctx))
	require.Eventually(t, func() bool { return c.do("GET", "/v1/auth/me", nil).Status == http.StatusOK },
		15*time.Second, 100*time.Millisecond, "recovers without a restart")
	require.Equal(t, http.StatusOK, opsGet(t, ops, "/health/detailed").Status)
}
