// Package deploy holds no code: its tests check deploy/compose.yaml, deploy/Dockerfile and the
// repository's .dockerignore with the libraries Docker itself uses to read them (compose-go, the
// BuildKit Dockerfile parser, moby's pattern matcher), since no Docker engine runs here.
package deploy

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"

	"github.com/youworker/youworker/config"
	"github.com/youworker/youworker/encryption"
)

// temporalVersion is the Temporal server `make cluster` builds; the compose server and its schema
// tool must be that version.
const temporalVersion = "1.31.0"

var (
	// oneShot are the jobs that run to completion on every up; everything else runs for good.
	oneShot = []string{"temporal-schema", "ollama-pull", "migrate"}
	// platform is every service the platform needs.
	platform = []string{"postgres", "temporal-schema", "temporal", "temporal-ui", "qdrant", "ollama",
		"ollama-pull", "migrate", "api", "worker", "mcp-datetime", "mcp-semantic", "mcp-ingest", "mcp-web", "lb"}
)

// secrets is what the documented key step writes to deploy/.env: the output of
// `youworker keys generate` for each (a password with '-', '_' and '=' in it), plus a password
// with the characters that used to break DATABASE_URL.
func secrets(t *testing.T) map[string]string {
	t.Helper()
	key := func() string {
		k, err := encryption.GenerateKey()
		require.NoError(t, err)
		return k
	}
	return map[string]string{"POSTGRES_PASSWORD": "s/ecret+pass@word:" + key(), "JWT_SECRET": key(), "FERNET_KEYS": key()}
}

func load(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml"}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("youworker", true) })
}

func mustLoad(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	p, err := load(t, env)
	require.NoError(t, err)
	return p
}

// youworkerServices are the services that run the youworker image built from deploy/Dockerfile.
func youworkerServices(p *types.Project) map[string]types.ServiceConfig {
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if s.Build != nil {
			out[name] = s
		}
	}
	return out
}

func envOf(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestComposeHasEveryService(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	require.ElementsMatch(t, platform, p.ServiceNames())
	for name, s := range youworkerServices(p) {
		require.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile, name)
	}
}

// Without a secret compose refuses the whole file and says which one and where it goes; nothing
// else is required (the models, the public URL and the ports have defaults).
func TestComposeNeedsTheSecretsOnly(t *testing.T) {
	t.Parallel()
	for name := range secrets(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := secrets(t)
			delete(env, name)
			_, err := load(t, env)
			require.Error(t, err)
			require.Contains(t, err.Error(), "set "+name+" in deploy/.env")
		})
	}
}

// Every variable set on a youworker service is one the configuration reads, and the API's, the
// worker's and every MCP server's environment is a valid configuration: the password with /, +, @
// and : reaches Postgres intact, the MCP servers parse, cookies are Secure exactly over https.
func TestYouworkerEnvironmentIsAValidConfig(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, v := range append(config.Variables(), config.TracingVariables()...) {
		known[v.Name] = true
	}
	for _, publicURL := range []string{"", "https://yw.example.com"} {
		env := secrets(t)
		if publicURL != "" {
			env["PUBLIC_URL"] = publicURL
		}
		p := mustLoad(t, env)
		for name, s := range youworkerServices(p) {
			vars := envOf(s)
			for k := range vars {
				require.True(t, known[k], "%s sets %s, which config.Config does not read", name, k)
			}
			if name == "mcp-datetime" {
				continue // reads MCP_ALLOWED_ORIGINS only
			}
			cfg, err := config.FromMap(vars)
			require.NoError(t, err, name)
			require.Contains(t, cfg.DatabaseURL, "@postgres:5432/youworker")
			require.Equal(t, publicURL != "", cfg.CookieSecure, "%s with PUBLIC_URL %q", name, publicURL)
			servers, err := cfg.ToolServers()
			require.NoError(t, err)
			require.Len(t, servers, 4, name)
			require.Equal(t, "temporal:7233", cfg.TemporalAddress, "%s (migrate registers the search attributes there)", name)
		}
	}
}

// Traces are off unless deploy/.env names an OTLP endpoint; then every youworker process exports
// to it, each under its own service name (none is set for them).
func TestComposeTracing(t *testing.T) {
	t.Parallel()
	for _, endpoint := range []string{"", "http://jaeger:4318"} {
		env := secrets(t)
		if endpoint != "" {
			env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
			env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
			env["OTEL_TRACES_SAMPLER_ARG"] = "0.25"
			env["OTEL_PROPAGATORS"] = "tracecontext,b3"
		}
		services := youworkerServices(mustLoad(t, env))
		for _, name := range []string{"api", "worker", "mcp-datetime", "mcp-semantic", "mcp-ingest", "mcp-web"} {
			require.Contains(t, services, name)
		}
		for name, s := range services {
			vars := envOf(s)
			require.Equal(t, endpoint, vars["OTEL_EXPORTER_OTLP_ENDPOINT"], name)
			require.Equal(t, "http/protobuf", vars["OTEL_EXPORTER_OTLP_PROTOCOL"], name)
			require.NotContains(t, vars, "OTEL_SERVICE_NAME", name)
			if endpoint != "" {
				require.Equal(t, "parentbased_traceidratio", vars["OTEL_TRACES_SAMPLER"], name)
				require.Equal(t, "0.25", vars["OTEL_TRACES_SAMPLER_ARG"], name)
				require.Equal(t, "tracecontext,b3", vars["OTEL_PROPAGATORS"], name)
			} else {
				require.Equal(t, "tracecontext,baggage", vars["OTEL_PROPAGATORS"], name)
			}
		}
	}
}

// Each entry of MCP_SERVERS is served by its own service, running that server on that port.
func TestMCPServersAreServed(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	cfg, err := config.FromMap(envOf(p.Services["worker"]))
	require.NoError(t, err)
	servers, err := cfg.ToolServers()
	require.NoError(t, err)
	var names []string
	for _, srv := range servers {
		names = append(names, srv.Name)
		m := regexp.MustCompile(`^http://(mcp-[a-z]+):(\d+)/mcp$`).FindStringSubmatch(srv.URL)
		require.NotNil(t, m, srv.URL)
		s, ok := p.Services[m[1]]
		require.True(t, ok, "MCP_SERVERS names %s, which is no service", m[1])
		require.Equal(t, []string{"mcp", srv.Name, "--addr", "0.0.0.0:" + m[2]}, []string(s.Command), m[1])
	}
	require.ElementsMatch(t, []string{"datetime", "semantic", "ingest", "web"}, names)
}

// Every long-running service has a health check; the one-shot jobs have none (the image's own is
// disabled for migrate) and are never restarted.
func TestHealthChecks(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	for name, s := range p.Services {
		if slices.Contains(oneShot, name) {
			require.Equal(t, "no", s.Restart, name)
			if s.Build != nil {
				require.True(t, s.HealthCheck != nil && s.HealthCheck.Disable, "%s inherits the image's HEALTHCHECK", name)
			}
			continue
		}
		require.NotNil(t, s.HealthCheck, "%s has no health check", name)
		require.False(t, s.HealthCheck.Disable, name)
		require.NotEmpty(t, s.HealthCheck.Test, name)
		require.Equal(t, "unless-stopped", s.Restart, name)
	}
}

// depends_on waits for a one-shot job to complete successfully and for a long-running service to
// be healthy; the start order the platform needs is there.
func TestDependsOn(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			want := types.ServiceConditionHealthy
			if slices.Contains(oneShot, dep) {
				want = types.ServiceConditionCompletedSuccessfully
			}
			require.Equal(t, want, d.Condition, "%s depends on %s", name, dep)
		}
	}
	for _, edge := range [][2]string{
		{"temporal-schema", "postgres"}, {"temporal", "temporal-schema"}, {"temporal", "postgres"},
		{"temporal-ui", "temporal"}, {"ollama-pull", "ollama"},
		{"migrate", "postgres"}, {"migrate", "temporal"},
		{"api", "migrate"}, {"worker", "migrate"}, {"worker", "ollama-pull"}, {"worker", "qdrant"},
		{"mcp-semantic", "migrate"}, {"mcp-ingest", "migrate"}, {"mcp-web", "migrate"}, {"lb", "api"},
	} {
		_, ok := p.Services[edge[0]].DependsOn[edge[1]]
		require.True(t, ok, "%s must depend on %s", edge[0], edge[1])
	}
}

// Every image is pinned to a version (no latest, no bare major); Temporal's server and schema
// tool are the version `make cluster` builds.
func TestImagesArePinned(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	pinned := regexp.MustCompile(`^[a-z0-9./_-]+:v?\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?$`)
	for name, s := range p.Services {
		if s.Build != nil {
			require.Equal(t, "youworker:local", s.Image, "%s: the image the documented docker build tags", name)
			continue
		}
		require.Regexp(t, pinned, s.Image, name)
		require.NotContains(t, s.Image, "latest", name)
	}
	require.Equal(t, "temporalio/server:"+temporalVersion, p.Services["temporal"].Image)
	require.Equal(t, "temporalio/admin-tools:"+temporalVersion, p.Services["temporal-schema"].Image)
}

// Temporal runs the real server on Postgres, after an explicit schema step for both of its
// databases, with the project's dynamic config.
func TestTemporalPersistence(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	srv := envOf(p.Services["temporal"])
	require.Equal(t, "postgres12", srv["DB"])
	require.Equal(t, "postgres", srv["POSTGRES_SEEDS"])
	require.Equal(t, secrets(t)["POSTGRES_PASSWORD"][:18], srv["POSTGRES_PWD"][:18])
	var mounted bool
	for _, v := range p.Services["temporal"].Volumes {
		if strings.HasSuffix(v.Source, "/deploy/temporal-dynamicconfig.yaml") && v.Target == srv["DYNAMIC_CONFIG_FILE_PATH"] {
			mounted = true
		}
	}
	require.True(t, mounted, "the dynamic config file is mounted where DYNAMIC_CONFIG_FILE_PATH points")
	_, err := os.Stat("temporal-dynamicconfig.yaml")
	require.NoError(t, err)

	schema := p.Services["temporal-schema"]
	require.Equal(t, "postgres12", envOf(schema)["SQL_PLUGIN"])
	script := strings.Join(schema.Command, "\n")
	for _, step := range []string{
		"--db temporal setup-schema -v 0.0", "--db temporal update-schema --schema-name postgresql/v12/temporal",
		"--db temporal_visibility setup-schema -v 0.0", "--db temporal_visibility update-schema --schema-name postgresql/v12/visibility",
		"create",
	} {
		require.Contains(t, script, step)
	}
	// The namespace and the Yw* search attributes are the migrate job's (youworker migrate up).
	require.Equal(t, []string{"migrate", "up"}, []string(p.Services["migrate"].Command))
	require.Equal(t, "temporal:7233", envOf(p.Services["migrate"])["TEMPORAL_ADDRESS"])
	require.NotContains(t, p.Services["temporal"].Image, "auto-setup")
}

// The models the pull step fetches are the models the platform is configured with, also when
// the operator picks others.
func TestPulledModelsAreTheConfiguredOnes(t *testing.T) {
	t.Parallel()
	for _, models := range []map[string]string{{}, {"OLLAMA_MODEL": "qwen3:8b", "OLLAMA_EMBED_MODEL": "bge-m3"}} {
		env := secrets(t)
		for k, v := range models {
			env[k] = v
		}
		p := mustLoad(t, env)
		cfg, err := config.FromMap(envOf(p.Services["worker"]))
		require.NoError(t, err)
		pull := envOf(p.Services["ollama-pull"])
		require.Equal(t, cfg.ChatModel, pull["CHAT_MODEL"])
		require.Equal(t, cfg.EmbedModel, pull["EMBED_MODEL"])
		require.Contains(t, strings.Join(p.Services["ollama-pull"].Command, " "), `ollama pull "$CHAT_MODEL" && ollama pull "$EMBED_MODEL"`)
		if m, ok := models["OLLAMA_MODEL"]; ok {
			require.Equal(t, m, cfg.ChatModel)
		}
	}
}

// The API and the worker scale (no fixed name, no host port); only the load balancer publishes,
// and the API trusts exactly its address for X-Forwarded-For. Both get longer to stop than they
// take to drain.
func TestScalingAndShutdown(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, secrets(t))
	for name, s := range p.Services {
		require.Empty(t, s.ContainerName, "%s: a fixed container_name prevents --scale", name)
		if name != "lb" && name != "temporal-ui" {
			require.Empty(t, s.Ports, "%s publishes a host port", name)
		}
	}
	lb := p.Services["lb"]
	require.Len(t, lb.Ports, 1)
	api, err := config.FromMap(envOf(p.Services["api"]))
	require.NoError(t, err)
	require.Equal(t, []string{lb.Networks["edge"].Ipv4Address}, api.TrustedProxies)

	require.NotNil(t, p.Services["api"].StopGracePeriod)
	require.Greater(t, time.Duration(*p.Services["api"].StopGracePeriod), api.ShutdownTimeout, "api: stop_grace_period vs HTTP_SHUTDOWN_TIMEOUT")
	worker, err := config.FromMap(envOf(p.Services["worker"]))
	require.NoError(t, err)
	require.NotNil(t, p.Services["worker"].StopGracePeriod)
	require.Greater(t, time.Duration(*p.Services["worker"].StopGracePeriod), worker.WorkerStopTimeout, "worker: stop_grace_period vs WORKER_STOP_TIMEOUT")
}

// dockerfileStages are the Dockerfile's instructions, per stage.
func dockerfileStages(t *testing.T) [][]*parser.Node {
	t.Helper()
	f, err := os.Open("Dockerfile")
	require.NoError(t, err)
	defer f.Close()
	res, err := parser.Parse(f)
	require.NoError(t, err)
	var stages [][]*parser.Node
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			stages = append(stages, nil)
		}
		require.NotEmpty(t, stages, "an instruction before FROM: %s", n.Original)
		stages[len(stages)-1] = append(stages[len(stages)-1], n)
	}
	return stages
}

func args(n *parser.Node) []string {
	var out []string
	for a := n.Next; a != nil; a = a.Next {
		out = append(out, a.Value)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerfileStages(t)
	require.GreaterOrEqual(t, len(stages), 2)
	build, final := stages[0], stages[len(stages)-1]

	for _, stage := range stages {
		from := args(stage[0])[0]
		require.Regexp(t, `:\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?$`, from, "FROM is pinned to a version")
	}

	var sqliteHeaders, cgoBuild bool
	for _, n := range build {
		if strings.EqualFold(n.Value, "run") && strings.Contains(n.Original, "apt-get install") && strings.Contains(n.Original, "libsqlite3-dev") {
			sqliteHeaders = true
		}
		if strings.EqualFold(n.Value, "run") && strings.Contains(n.Original, "CGO_ENABLED=1 go build") {
			cgoBuild = true
		}
	}
	require.True(t, sqliteHeaders, "the build stage installs libsqlite3-dev (sqlite-vec's headers)")
	require.True(t, cgoBuild, "youworker is built with cgo")

	var user, dataDir string
	var volumes []string
	var healthcheck []string
	var runs []string
	for _, n := range final {
		switch strings.ToLower(n.Value) {
		case "user":
			user = args(n)[0]
		case "env":
			a := args(n)
			for i := 0; i+1 < len(a); i += 3 { // key, value, separator
				if a[i] == "DATA_DIR" {
					dataDir = a[i+1]
				}
			}
		case "volume":
			volumes = append(volumes, args(n)...)
		case "healthcheck":
			healthcheck = args(n)
		case "run":
			runs = append(runs, n.Original)
		}
	}
	require.NotEmpty(t, user, "the image sets USER")
	uid, _, _ := strings.Cut(user, ":")
	require.NotContains(t, []string{"root", "0"}, uid, "the image runs as root")
	require.NotEmpty(t, dataDir, "DATA_DIR is set")
	require.Contains(t, volumes, dataDir, "DATA_DIR is a volume")
	require.True(t, slices.ContainsFunc(runs, func(r string) bool {
		return strings.Contains(r, "-o "+uid) && strings.Contains(r, dataDir)
	}), "DATA_DIR is created owned by the USER %s, so a new volume is writable", uid)
	require.NotEmpty(t, healthcheck, "the image has a HEALTHCHECK")
	require.Equal(t, "CMD", healthcheck[0])
	require.Contains(t, strings.Join(healthcheck, " "), "youworker probe http://127.0.0.1:8080/health")
}

// A module go.mod replaces with a directory (third_party/ollama) is in the build stage before
// `go mod download`, which reads it.
func TestDockerfileCopiesReplacedModules(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	mod, err := modfile.Parse("go.mod", data, nil)
	require.NoError(t, err)
	var dirs []string
	for _, r := range mod.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			dirs = append(dirs, strings.TrimPrefix(r.New.Path, "./"))
		}
	}
	require.NotEmpty(t, dirs, "go.mod replaces github.com/ollama/ollama with third_party/ollama")
	copied := map[string]bool{}
	for _, n := range dockerfileStages(t)[0] {
		if strings.EqualFold(n.Value, "run") && strings.Contains(n.Original, "go mod download") {
			break
		}
		if a := args(n); strings.EqualFold(n.Value, "copy") && len(a) == 2 {
			copied[a[0]] = true
		}
	}
	for _, dir := range dirs {
		require.True(t, copied[dir], "COPY %s before go mod download", dir)
	}
}

// The build context (the repository root) leaves out built binaries, make dev's data and keys,
// git history and compose's secrets, and keeps what the build needs.
func TestDockerignore(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../.dockerignore")
	require.NoError(t, err)
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	require.NoError(t, err)
	pm, err := patternmatcher.New(patterns)
	require.NoError(t, err)
	for path, excluded := range map[string]bool{
		"bin/youworker": true, "bin/temporal": true, ".data/dev-secrets.json": true, ".data/pg/PG_VERSION": true,
		".git/HEAD": true, "deploy/.env": true, ".env": true, "youworker": true, "config/config.test": true,
		"go.mod": false, "go.sum": false, "cmd/youworker/main.go": false, "cmd/youworker-extract/main.go": false,
		"migrations/embed.go": false, "deploy/Dockerfile": false, "third_party/ollama/api/client.go": false, "third_party/ollama/go.mod": false, "api/openapi.yaml": false, "config/config.go": false,
	} {
		m, err := pm.MatchesOrParentMatches(path)
		require.NoError(t, err)
		require.Equal(t, excluded, m, path)
	}
}

// The documented key step builds the image compose runs and asks it for keys with
// `youworker keys generate`, which needs no configuration (so it works before any secret exists).
func TestKeyStepIsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := string(readme)
	require.Contains(t, s, "docker build -t youworker:local -f deploy/Dockerfile .")
	for _, name := range []string{"POSTGRES_PASSWORD", "JWT_SECRET", "FERNET_KEYS"} {
		require.Contains(t, s, name+"=$(docker run --rm youworker:local keys generate)")
	}
}
