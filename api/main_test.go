package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/youworker/youworker/apitest"
	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
	"github.com/youworker/youworker/migrations"
	"github.com/youworker/youworker/store"
	"github.com/youworker/youworker/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type apiEnv struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	store *store.Store
	logs  *testenv.Buffer
	cfg   config.Config
}

func testConfig(t testing.TB, dsn string) config.Config {
	cfg, err := config.FromMap(map[string]string{
		"DATABASE_URL":    dsn,
		"JWT_SECRET":      "test-secret-test-secret-test-secret-42",
		"COOKIE_SECURE":   "false",
		"LOG_LEVEL":       "debug",
		"RATE_LIMIT_AUTH": "1000",
		"FERNET_KEYS":     "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
	})
	require.NoError(t, err)
	return cfg
}

// newAPI starts the real router over a fresh database. mutate may change the configuration and
// the health checks before the server is built.
func newAPI(t *testing.T, mutate func(*config.Config, *[]Check)) *apiEnv {
	t.Helper()
	db := testenv.NewDB(t)
	cfg := testConfig(t, db.DSN)
	logs := &testenv.Buffer{}
	log := cfg.Logger(logs)
	st, err := store.Open(store.Options{URL: db.DSN, PoolSize: 4, MaxOverflow: 4, PrePing: true, SlowQuery: cfg.DBSlowQuery, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	checks := []Check{{Name: "postgres", Required: true, Probe: st.Ping}}
	if mutate != nil {
		mutate(&cfg, &checks)
	}
	box, err := encryption.New(cfg.FernetKeys)
	require.NoError(t, err)
	srv, err := New(Deps{Config: cfg, Store: st, Box: box, Checks: checks, Logger: log})
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &apiEnv{t: t, srv: srv, http: hs, store: st, logs: logs, cfg: cfg}
}

// client is one API user agent: a cookie jar and optional default headers.
type apiClient struct {
	e       *apiEnv
	jar     http.CookieJar
	headers map[string]string
}

func (e *apiEnv) client() *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{e: e, jar: jar, headers: map[string]string{}}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// errCode returns error.code of an envelope and checks the envelope's shape.
func (r response) errCode(t *testing.T) string {
	t.Helper()
	m := r.JSON(t)
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "not an error envelope: %s", r.Body)
	for _, k := range []string{"code", "message", "details", "request_id"} {
		require.Contains(t, e, k)
	}
	require.Equal(t, r.Header.Get("X-Request-ID"), e["request_id"])
	return e["code"].(string)
}

func (c *apiClient) do(method, path string, body any, extra ...string) response {
	c.e.t.Helper()
	headers := map[string]string{}
	for i := 0; i+1 < len(extra); i += 2 {
		headers[extra[i]] = extra[i+1]
	}
	cl := apitest.Client{Base: c.e.http.URL, Headers: c.headers,
		HTTP: &http.Client{Jar: c.jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	r, err := cl.Do(context.Background(), method, path, body, headers)
	require.NoError(c.e.t, err)
	return response{Status: r.Status, Header: r.Header, Body: r.Body}
}

const testPassword = "correct horse battery staple"

// signup registers and logs in a user through the API; the client then holds the cookies and
// sends the CSRF header.
func (e *apiEnv) signup(name string) (*apiClient, map[string]any) {
	e.t.Helper()
	c := e.client()
	r := c.do("POST", "/v1/auth/register", map[string]any{"username": name, "password": testPassword})
	require.Equal(e.t, http.StatusCreated, r.Status, "%s", r.Body)
	r = c.do("POST", "/v1/auth/login", map[string]any{"username": name, "password": testPassword})
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	login := r.JSON(e.t)
	c.headers["X-CSRF-Token"] = login["csrf_token"].(string)
	return c, login
}

// bearer returns a client that authenticates with the access token only (no cookies).
func (e *apiEnv) bearer(login map[string]any) *apiClient {
	c := e.client()
	c.jar = nil
	c.headers["Authorization"] = "Bearer " + login["access_token"].(string)
	return c
}

func newTestServer(t *testing.T, srv *Server) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs
}

func migrateForTest(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = migrations.Up(context.Background(), db)
	require.NoError(t, err)
}
