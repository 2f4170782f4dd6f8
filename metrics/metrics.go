// Package metrics serves the operator endpoints — Prometheus metrics and whatever else a process
// adds (the API adds its detailed health) — on a listen address of their own, apart from the
// public API: by default a loopback address that only the host (or a sidecar scraper) reaches.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves reg at /metrics and each extra handler at its path; anything else is a 404.
func Handler(reg prometheus.Gatherer, extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	for path, h := range extra {
		mux.Handle("GET "+path, h)
	}
	return mux
}

// WithProfiles adds Go's runtime profiles (net/http/pprof: the index and every named profile
// under /debug/pprof/, CPU profile, trace, symbols, command line) to extra, when on.
func WithProfiles(extra map[string]http.Handler, on bool) map[string]http.Handler {
	if !on {
		return extra
	}
	out := maps.Clone(extra)
	if out == nil {
		out = map[string]http.Handler{}
	}
	out["/debug/pprof/"] = http.HandlerFunc(pprof.Index)
	out["/debug/pprof/cmdline"] = http.HandlerFunc(pprof.Cmdline)
	out["/debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
	out["/debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
	out["/debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
	return out
}

// Listen opens the operator listener on addr (host:port; port 0 picks a free one).
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves Handler(reg, extra) on ln until ctx ends, then closes it (scrapes are short; a
// second is enough for the ones in flight). It logs the bound address.
func Serve(ctx context.Context, ln net.Listener, reg prometheus.Gatherer, extra map[string]http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           Handler(reg, extra),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
