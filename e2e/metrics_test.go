package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// scrape reads a /metrics page into its metric families.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value sums the series of family name whose labels include want: a counter's or gauge's value,
// a histogram's sample count (0 when there is none).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// TestMetricsMoveWithTheirEvents runs a turn whose tool call waits for an approval, an ingestion,
// searches and a rate-limited search on an API and a worker with their own metrics listeners,
// and checks that each product metric moved with its event, and the Temporal SDK's metrics are
// served by the worker. Last, every metric the shipped dashboard and alert rules use must be one
// these processes export (TestDashboardAndRulesUseExportedMetrics' check, on what was scraped here).
func TestMetricsMoveWithTheirEvents(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, map[string]string{"TOOLS_REQUIRE_APPROVAL": "time_now", "RATE_LIMIT_SEARCH": "2"})
	workerOps := "http://" + freeAddr(t)
	p.spawnWith(map[string]string{"WORKER_METRICS_ADDR": strings.TrimPrefix(workerOps, "http://")}, "worker")
	p.startAPI()
	require.Eventually(t, func() bool {
		resp, err := http.Get(workerOps + "/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the worker's operator endpoint")
	apiBefore, workerBefore := scrape(t, p.metricsURL), scrape(t, workerOps)
	moved := func(fams, before map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
		return value(fams, name, labels) - value(before, name, labels)
	}

	// A turn whose tool call waits for an approval.
	u := p.signup("metrics-user")
	sid := u.newSession([]string{"time_now"})
	turnID, events := u.send(sid, `call time_now {"timezone":"UTC"}`)
	ch, err := u.stream(context.Background(), events, 0)
	require.NoError(t, err)
	evs := until(t, ch, "approval.required", 30*time.Second)
	require.Equal(t, 1.0, value(scrape(t, workerOps), "youworker_approvals_waiting", nil), "approvals waiting while one waits")
	require.GreaterOrEqual(t, value(scrape(t, p.metricsURL), "youworker_sse_clients", nil), 1.0, "the stream is counted while open")
	callID := evs[len(evs)-1].Data["call_id"].(string)
	r := u.do("POST", "/v1/sessions/"+sid+"/turns/"+turnID+"/approvals/"+callID, map[string]any{"approved": true})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	evs = append(evs, collect(t, ch, 30*time.Second)...)
	require.Equal(t, "turn.completed", evs[len(evs)-1].Type)

	// An ingestion, two searches and a third one over RATE_LIMIT_SEARCH.
	text := []byte(strings.Repeat("Observability notes: every product metric moves with its event. ", 60))
	_, last := u.ingested(u.upload("notes.txt", text, nil), 60*time.Second)
	require.Equal(t, "run.completed", last.Type)
	chunks := last.Data["chunks"].(float64)
	require.Positive(t, chunks)
	u.search("product metric")
	u.search("event")
	require.Equal(t, http.StatusTooManyRequests, u.do("POST", "/v1/search", map[string]any{"query": "again"}).status)

	type want struct {
		worker  bool // else the API's
		name    string
		labels  map[string]string
		atLeast float64
	}
	wants := []want{
		{true, "youworker_turns_total", map[string]string{"outcome": "completed"}, 1},
		{true, "youworker_turn_duration_seconds", map[string]string{"outcome": "completed"}, 1},
		{true, "youworker_turn_first_token_seconds", nil, 1},
		{true, "youworker_model_tokens_total", map[string]string{"direction": "in"}, 1},
		{true, "youworker_model_tokens_total", map[string]string{"direction": "out"}, 1},
		{true, "youworker_tool_calls_total", map[string]string{"tool": "datetime/time_now", "outcome": "succeeded"}, 1},
		{true, "youworker_tool_call_duration_seconds", map[string]string{"tool": "datetime/time_now"}, 1},
		{true, "youworker_ingestion_runs_total", map[string]string{"outcome": "completed"}, 1},
		{true, "youworker_ingestion_stage_duration_seconds", map[string]string{"stage": "fetch"}, 1},
		{true, "youworker_ingestion_stage_duration_seconds", map[string]string{"stage": "extract"}, 1},
		{true, "youworker_ingestion_stage_duration_seconds", map[string]string{"stage": "chunk"}, 1},
		{true, "youworker_ingestion_stage_duration_seconds", map[string]string{"stage": "embed"}, 1},
		{true, "youworker_ingestion_stage_duration_seconds", map[string]string{"stage": "index"}, 1},
		{true, "youworker_chunks_indexed_total", nil, chunks},
		{true, "youworker_embedding_duration_seconds", nil, 1},
		// The SDK's metrics reach the registry at the reporter's interval (1 s).
		{true, "temporal_workflow_task_schedule_to_start_latency_seconds", nil, 1},
		{true, "temporal_activity_execution_latency_seconds", map[string]string{"activity_type": "CallTool"}, 1},
		{true, "temporal_workflow_completed_total", map[string]string{"workflow_type": "ChatTurn"}, 1},
		{true, "temporal_workflow_completed_total", map[string]string{"workflow_type": "IngestDocument"}, 1},
		{false, "youworker_turn_start_duration_seconds", map[string]string{"route": "messages"}, 1},
		{false, "youworker_sse_events_delivered_total", nil, float64(len(evs))},
		{false, "youworker_sse_log_reads_total", nil, 1}, // the stream joined by GET …/events
		{false, "youworker_vector_search_duration_seconds", nil, 2},
		{false, "youworker_rate_limited_total", map[string]string{"class": "search"}, 1},
	}
	var api, worker map[string]*dto.MetricFamily
	var missing []string
	require.Eventually(t, func() bool {
		api, worker, missing = scrape(t, p.metricsURL), scrape(t, workerOps), nil
		for _, w := range wants {
			fams, before := api, apiBefore
			if w.worker {
				fams, before = worker, workerBefore
			}
			if got := moved(fams, before, w.name, w.labels); got < w.atLeast {
				missing = append(missing, fmt.Sprintf("%s%v moved %v, want at least %v", w.name, w.labels, got, w.atLeast))
			}
		}
		if v := value(api, "youworker_sse_clients", nil); v != 0 {
			missing = append(missing, fmt.Sprintf("youworker_sse_clients = %v once the streams closed", v))
		}
		return len(missing) == 0
	}, 15*time.Second, 200*time.Millisecond, "metrics that did not move: %v", &missing)
	require.Equal(t, 0.0, value(worker, "youworker_approvals_waiting", nil), "no approval waits any more")
	require.Zero(t, moved(worker, workerBefore, "youworker_turns_total", map[string]string{"outcome": "failed"}))

	checkMonitoringFiles(t, api, worker)
}

// checkMonitoringFiles checks that the dashboard's queries and the alert rules are valid PromQL
// (the rules also a valid rule file) naming only metrics the API or the worker exported here.
// The Temporal SDK creates a metric when it first records one, so a failure counter may not have
// been exported yet: a temporal_* name may instead be one the SDK declares (read from its source).
func checkMonitoringFiles(t *testing.T, scraped ...map[string]*dto.MetricFamily) {
	t.Helper()
	exported := map[string]bool{}
	for _, fams := range scraped {
		for name, f := range fams {
			exported[name] = true
			if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
				exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
			}
		}
	}
	declared := temporalSDKMetrics(t)
	promql := parser.NewParser(parser.Options{})
	names := func(where, expr string) {
		// Grafana's interval variables are not PromQL.
		expr = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m").Replace(expr)
		e, err := promql.ParseExpr(expr)
		require.NoError(t, err, "%s: %s", where, expr)
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(vs.Name, "_bucket"), "_sum"), "_count")
				sdk := strings.HasPrefix(vs.Name, "temporal_") && declared[strings.TrimSuffix(strings.TrimSuffix(base, "_total"), "_seconds")]
				require.True(t, exported[vs.Name] || sdk, "%s uses %s, which no process exports", where, vs.Name)
			}
			return nil
		})
	}
	files := filepath.Join("..", "deploy", "helm", "youworker", "files")
	raw, err := os.ReadFile(filepath.Join(files, "grafana-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	queries := 0
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			names("dashboard panel "+p.Title, q.Expr)
			queries++
		}
	}
	require.Positive(t, queries)
	raw, err = os.ReadFile(filepath.Join(files, "prometheus-rules.yaml"))
	require.NoError(t, err)
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&file), "the alert rules are a Prometheus rule file")
	rules := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s: a rule without a name", g.Name)
			_, err := model.ParseDuration(r.For)
			require.NoError(t, err, "alert %s: for", r.Alert)
			names("alert "+r.Alert, r.Expr)
			rules++
		}
	}
	require.Positive(t, rules)
}

// temporalSDKMetrics are the metric names the Temporal Go SDK declares, without the suffixes the
// Prometheus naming adds, read from the SDK module this build uses.
func temporalSDKMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	require.NoError(t, err, "locating the Temporal SDK module")
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	require.NoError(t, err)
	// TemporalMetricsPrefix + "workflow_completed", TemporalRequest + "_failure", …
	consts := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(?:(\w+)\s*\+\s*)?"([^"]*)"`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		consts[m[1]] = consts[m[2]] + m[3]
	}
	declared := map[string]bool{}
	for _, v := range consts {
		if strings.HasPrefix(v, "temporal_") {
			declared[v] = true
		}
	}
	require.Contains(t, declared, "temporal_workflow_task_execution_failed", "the SDK's metric names were read")
	return declared
}
