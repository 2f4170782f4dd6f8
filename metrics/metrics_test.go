package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestServeMetricsAndExtras: the listener serves the registry and the extra handlers, nothing
// else, and stops when its context ends.
func TestServeMetricsAndExtras(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	ln, err := Listen("127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, reg, map[string]http.Handler{"/extra": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "extra here")
		})}, slog.New(slog.DiscardHandler))
	}()
	base := "http://" + ln.Addr().String()
	status, body := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "test_things_total 3")
	status, body = get(t, base+"/extra")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "extra here", body)
	status, _ = get(t, base+"/v1/documents")
	require.Equal(t, http.StatusNotFound, status)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	_, err = http.Get(base + "/metrics")
	require.Error(t, err, "the listener is closed")
}

// Runtime profiles are served only when asked for (PPROF), next to the extras they are added to.
func TestProfilesOnlyWhenOn(t *testing.T) {
	t.Parallel()
	extra := map[string]http.Handler{"/extra": http.NotFoundHandler()}
	require.Len(t, WithProfiles(extra, false), 1, "off: nothing added")
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(Handler(prometheus.NewRegistry(), WithProfiles(extra, on)))
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			status, body := get(t, srv.URL+path)
			if !on {
				require.Equal(t, http.StatusNotFound, status, path)
				continue
			}
			require.Equal(t, http.StatusOK, status, path)
			require.NotEmpty(t, body, path)
		}
		status, body := get(t, srv.URL+"/debug/pprof/profile?seconds=1")
		if on {
			require.Equal(t, http.StatusOK, status)
			require.NotEmpty(t, body, "a CPU profile")
		} else {
			require.Equal(t, http.StatusNotFound, status)
		}
		srv.Close()
	}
	require.Len(t, extra, 1, "the caller's map is left alone")
}
