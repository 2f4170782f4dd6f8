package metrics

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Temporal returns a metrics handler for a Temporal client (and the workers built on it) that
// registers the SDK's metrics on reg, named as Temporal documents them for Prometheus
// (temporal_request_latency_seconds, temporal_activity_schedule_to_start_latency_seconds, …),
// timers as histograms. The SDK creates a metric the first time it records one, so a name
// appears on /metrics once its event has happened. Close the closer to stop the reporter.
func Temporal(reg prometheus.Registerer, log *slog.Logger) (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
			300},
		// A metric the SDK records with two label sets cannot register twice; it is logged, not fatal.
		OnRegisterError: func(err error) { log.Debug("a Temporal SDK metric could not be registered", "error", err) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
