// Package helmtest checks the Helm chart in deploy/helm/youworker: it lints and renders the chart
// with the Helm SDK, decodes every manifest strictly into its Kubernetes API type and asserts
// what an operator relies on. It is a module of its own so that Helm's and Kubernetes' modules stay
// out of the product's go.mod.
package helmtest

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/action"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/youworker/youworker/config"
)

// mcpServers are the built-in MCP servers (`youworker mcp NAME`).
var mcpServers = []string{"datetime", "semantic", "ingest", "web"}

// mcpDrain is how long a built-in MCP server lets in-flight calls finish after SIGTERM
// (mcpservers.ListenAndServe).
const mcpDrain = 10 * time.Second

func TestLint(t *testing.T) {
	t.Parallel()
	for setName, vals := range valueSets(t) {
		t.Run(setName, func(t *testing.T) {
			t.Parallel()
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			lint.KubeVersion = kubeVersion
			res := lint.Run([]string{chartDir}, vals)
			for _, m := range res.Messages {
				t.Log(m.Error())
			}
			require.Empty(t, res.Errors)
			require.Equal(t, 1, res.TotalChartsLinted)
		})
	}
}

// TestSecretsAreRequired: an install without secrets fails and says what to give.
func TestSecretsAreRequired(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no values", map[string]any{}, "secrets.jwtSecret"},
		{"no database password", with(requiredValues(), "database.password", ""), "database.password"},
		{"no fernet keys", with(requiredValues(), "secrets.fernetKeys", ""), "secrets.fernetKeys"},
		{"short jwt secret", with(requiredValues(), "secrets.jwtSecret", "short"), "at least 32 bytes"},
		{"secret in config", with(requiredValues(), "config", map[string]any{"JWT_SECRET": testJWT}), "config.JWT_SECRET"},
		{"chart-owned config", with(requiredValues(), "config", map[string]any{"API_ADDR": ":9000"}), "config.API_ADDR"},
		{"latest image", with(requiredValues(), "image.tag", "latest"), "image.tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(tc.vals)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestProbes: the API is live on /health at API_ADDR and ready on /health/detailed at
// METRICS_ADDR; the worker is ready on /health and live on /livez at WORKER_METRICS_ADDR; the MCP servers, which serve no
// health path, by a TCP connect to the port they listen on.
func TestProbes(t *testing.T) {
	t.Parallel()
	for setName, vals := range valueSets(t) {
		t.Run(setName, func(t *testing.T) {
			t.Parallel()
			o := mustRender(t, vals)
			cm := o.configMap(t).Data
			apiPort, metricsPort := addrPort(t, cm["API_ADDR"]), addrPort(t, cm["METRICS_ADDR"])

			api := container(t, o, "api")
			requireHTTPProbe(t, api, api.LivenessProbe, "/health", apiPort)
			requireHTTPProbe(t, api, api.ReadinessProbe, "/health/detailed", metricsPort)
			requireHTTPProbe(t, api, api.StartupProbe, "/health", apiPort)

			worker := container(t, o, "worker")
			workerOps := addrPort(t, cm["WORKER_METRICS_ADDR"])
			for _, p := range []*corev1.Probe{worker.ReadinessProbe, worker.StartupProbe} {
				requireHTTPProbe(t, worker, p, "/health", workerOps)
			}
			// Liveness must not fail while the worker drains (its /health answers 503 then).
			requireHTTPProbe(t, worker, worker.LivenessProbe, "/livez", workerOps)

			for _, s := range mcpServers {
				c := container(t, o, "mcp-"+s)
				require.Len(t, c.Args, 4, "mcp-%s args", s)
				require.Equal(t, []string{"mcp", s, "--addr"}, c.Args[:3])
				listen := addrPort(t, c.Args[3])
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
					require.NotNil(t, p, "mcp-%s probe", s)
					require.NotNil(t, p.TCPSocket, "mcp-%s: a TCP probe (no health path)", s)
					require.Equal(t, listen, portNumber(t, c, p.TCPSocket.Port), "mcp-%s probe port", s)
				}
			}
		})
	}
}

func requireHTTPProbe(t *testing.T, c corev1.Container, p *corev1.Probe, path string, port int32) {
	t.Helper()
	require.NotNil(t, p, "%s: probe", c.Name)
	require.NotNil(t, p.HTTPGet, "%s: HTTP probe", c.Name)
	require.Equal(t, path, p.HTTPGet.Path, "%s: probe path", c.Name)
	require.Equal(t, port, portNumber(t, c, p.HTTPGet.Port), "%s: probe port of %s", c.Name, path)
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "address %q", addr)
	n, err := strconv.ParseInt(p, 10, 32)
	require.NoError(t, err)
	return int32(n)
}

// container is the one container of a component's Deployment.
func container(t *testing.T, o *objects, component string) corev1.Container {
	t.Helper()
	d, ok := o.Deployments[name(component)]
	require.True(t, ok, "Deployment %s", name(component))
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	return d.Spec.Template.Spec.Containers[0]
}

// TestMCPServersReachable: MCP_SERVERS names every built-in server at its Service, whose port
// leads to the port the server listens on.
func TestMCPServersReachable(t *testing.T) {
	t.Parallel()
	o := mustRender(t, requiredValues())
	cm := o.configMap(t).Data
	var c config.Config
	c.MCPServers = strings.Split(cm["MCP_SERVERS"], ",")
	servers, err := c.ToolServers()
	require.NoError(t, err)
	got := map[string]string{}
	for _, s := range servers {
		got[s.Name] = s.URL
	}
	require.Len(t, got, len(mcpServers))
	for _, s := range mcpServers {
		u, err := url.Parse(got[s])
		require.NoError(t, err, s)
		require.Equal(t, "/mcp", u.Path)
		svc, ok := o.Services[u.Hostname()]
		require.True(t, ok, "MCP_SERVERS %s points at %s, not a Service of the release", s, u.Host)
		port, err := strconv.ParseInt(u.Port(), 10, 32)
		require.NoError(t, err)
		var sp *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Port == int32(port) {
				sp = &svc.Spec.Ports[i]
			}
		}
		require.NotNil(t, sp, "Service %s has no port %d", svc.Name, port)
		ctr := container(t, o, "mcp-"+s)
		require.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(o.Deployments[name("mcp-"+s)].Spec.Template.Labels)),
			"Service %s selects the mcp-%s pods", svc.Name, s)
		require.Equal(t, addrPort(t, ctr.Args[3]), portNumber(t, ctr, sp.TargetPort), "Service %s leads to the listen port", svc.Name)
	}

	// A disabled server is neither deployed nor listed.
	o = mustRender(t, with(requiredValues(), "mcp.servers.web.enabled", false))
	require.NotContains(t, o.configMap(t).Data["MCP_SERVERS"], "web=")
	require.NotContains(t, o.Deployments, name("mcp-web"))
}

// TestPodSecurity: every pod runs as a non-root uid on a read-only root filesystem, with no
// capabilities, no privilege escalation and the runtime's seccomp profile; DATA_DIR and /tmp are
// writable volumes.
func TestPodSecurity(t *testing.T) {
	t.Parallel()
	for setName, vals := range valueSets(t) {
		t.Run(setName, func(t *testing.T) {
			t.Parallel()
			o := mustRender(t, vals)
			dataDir := o.configMap(t).Data["DATA_DIR"]
			require.True(t, strings.HasPrefix(dataDir, "/"), "DATA_DIR %q is absolute", dataDir)
			pods := o.pods()
			require.Len(t, pods, 2+len(mcpServers)+1, "api, worker, MCP servers, migrate")
			for _, p := range pods {
				ps := p.Spec.SecurityContext
				require.NotNil(t, ps, p.Owner)
				require.True(t, ps.RunAsNonRoot != nil && *ps.RunAsNonRoot, "%s: runAsNonRoot", p.Owner)
				require.True(t, ps.RunAsUser != nil && *ps.RunAsUser > 0, "%s: a non-root uid", p.Owner)
				require.True(t, ps.SeccompProfile != nil && ps.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, "%s: seccomp RuntimeDefault", p.Owner)
				require.True(t, p.Spec.AutomountServiceAccountToken != nil && !*p.Spec.AutomountServiceAccountToken, "%s: no service account token", p.Owner)
				require.Empty(t, p.Spec.InitContainers, p.Owner)
				for _, c := range p.Spec.Containers {
					sc := c.SecurityContext
					require.NotNil(t, sc, "%s/%s", p.Owner, c.Name)
					require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", p.Owner)
					require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "%s: no privilege escalation", p.Owner)
					require.True(t, sc.Privileged == nil || !*sc.Privileged, "%s: not privileged", p.Owner)
					require.True(t, sc.RunAsUser == nil || *sc.RunAsUser > 0, "%s: container uid", p.Owner)
					require.NotNil(t, sc.Capabilities, p.Owner)
					require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "%s: drops ALL capabilities", p.Owner)
					require.Empty(t, sc.Capabilities.Add, "%s: adds no capability", p.Owner)
					writable := []string{"/tmp"}
					if strings.HasPrefix(p.Owner, "Deployment") {
						writable = append(writable, dataDir)
					}
					for _, dir := range writable {
						requireWritableMount(t, p, c, dir)
					}
				}
			}
		})
	}
}

func requireWritableMount(t *testing.T, p pod, c corev1.Container, dir string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		require.False(t, m.ReadOnly, "%s: %s is read-only", p.Owner, dir)
		for _, v := range p.Spec.Volumes {
			if v.Name == m.Name {
				require.True(t, v.EmptyDir != nil || v.PersistentVolumeClaim != nil, "%s: %s is an emptyDir or a PVC", p.Owner, dir)
				return
			}
		}
		t.Fatalf("%s: volume %s of %s is not declared", p.Owner, m.Name, dir)
	}
	t.Fatalf("%s: nothing writable is mounted at %s", p.Owner, dir)
}

// TestGraceOutlastsDrain: Kubernetes kills a pod only after its process had the whole drain it
// is configured for: the API's preStop sleep plus HTTP_SHUTDOWN_TIMEOUT, the worker's
// WORKER_STOP_TIMEOUT, the MCP servers' 10 s.
func TestGraceOutlastsDrain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"default", requiredValues()},
		{"production", productionValues(t)},
		{"long drains", with(with(requiredValues(), "api.shutdownTimeoutSeconds", 300), "worker.stopTimeoutSeconds", 600)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := mustRender(t, tc.vals)
			cm := o.configMap(t).Data

			api := o.Deployments[name("api")].Spec.Template.Spec
			drain := duration(t, cm, "HTTP_SHUTDOWN_TIMEOUT")
			c := api.Containers[0]
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
				require.NotNil(t, c.Lifecycle.PreStop.Sleep, "api preStop is a sleep (the image has no shell tools to spare)")
				drain += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			requireGrace(t, "api", api, drain)

			worker := o.Deployments[name("worker")].Spec.Template.Spec
			requireGrace(t, "worker", worker, duration(t, cm, "WORKER_STOP_TIMEOUT"))

			for _, s := range mcpServers {
				requireGrace(t, "mcp-"+s, o.Deployments[name("mcp-"+s)].Spec.Template.Spec, mcpDrain)
			}
		})
	}
}

func requireGrace(t *testing.T, component string, spec corev1.PodSpec, drain time.Duration) {
	t.Helper()
	require.NotNil(t, spec.TerminationGracePeriodSeconds, component)
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	require.Greater(t, grace, drain, "%s: terminationGracePeriodSeconds %s must outlast the drain %s", component, grace, drain)
}

// duration is a duration variable from the ConfigMap, else config's default.
func duration(t *testing.T, cm map[string]string, variable string) time.Duration {
	t.Helper()
	v, ok := cm[variable]
	if !ok {
		for _, cv := range config.Variables() {
			if cv.Name == variable {
				v = cv.Default
			}
		}
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, variable)
	return d
}

// TestMigrateHook: `youworker migrate up` runs as a pre-install/pre-upgrade hook, is deleted by
// policy, and reads only what exists when it runs: hook objects created before it, or Secrets the
// operator made (a pre-install hook runs before the release's own objects exist).
func TestMigrateHook(t *testing.T) {
	t.Parallel()
	for setName, vals := range valueSets(t) {
		t.Run(setName, func(t *testing.T) {
			t.Parallel()
			o := mustRender(t, vals)
			require.Len(t, o.Jobs, 1)
			job, ok := o.Jobs[name("migrate")]
			require.True(t, ok)
			requireHook(t, job.ObjectMeta)
			c := job.Spec.Template.Spec.Containers
			require.Len(t, c, 1)
			require.Equal(t, []string{"migrate", "up"}, c[0].Args)
			require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
			env := o.env(t, c[0])
			require.NotEmpty(t, env["DATABASE_URL"])
			require.Equal(t, o.configMap(t).Data["TEMPORAL_ADDRESS"], env["TEMPORAL_ADDRESS"], "migrate registers the search attributes in the release's Temporal")
			require.Equal(t, o.configMap(t).Data["TEMPORAL_NAMESPACE"], env["TEMPORAL_NAMESPACE"])

			weight := hookWeight(t, job.ObjectMeta)
			for _, e := range c[0].Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				s, ours := o.Secrets[e.ValueFrom.SecretKeyRef.Name]
				if !ours {
					continue // the operator's
				}
				requireHook(t, s.ObjectMeta)
				require.Less(t, hookWeight(t, s.ObjectMeta), weight, "Secret %s is created before the Job", s.Name)
			}
			require.Empty(t, c[0].EnvFrom, "migrate reads no ConfigMap (the release's does not exist yet at pre-install)")
			require.Empty(t, job.Spec.Template.Spec.ServiceAccountName, "the release's ServiceAccount does not exist yet at pre-install")
		})
	}
}

func requireHook(t *testing.T, m metav1.ObjectMeta) {
	t.Helper()
	events := strings.Split(m.Annotations["helm.sh/hook"], ",")
	require.ElementsMatch(t, []string{"pre-install", "pre-upgrade"}, events, "%s: hook events", m.Name)
	policies := strings.Split(m.Annotations["helm.sh/hook-delete-policy"], ",")
	require.Contains(t, policies, "before-hook-creation", "%s: hook delete policy", m.Name)
	require.Contains(t, policies, "hook-succeeded", "%s: hook delete policy", m.Name)
}

func hookWeight(t *testing.T, m metav1.ObjectMeta) int {
	t.Helper()
	w, err := strconv.Atoi(m.Annotations["helm.sh/hook-weight"])
	require.NoError(t, err, "%s: hook weight", m.Name)
	return w
}

// TestSecretsStayInSecrets: JWT_SECRET, FERNET_KEYS and the database URL are in a Secret (the
// chart's or the operator's), never in a ConfigMap, and what the pods get is a valid configuration.
func TestSecretsStayInSecrets(t *testing.T) {
	t.Parallel()
	secretNames := []string{"JWT_SECRET", "JWT_SECRET_PREVIOUS", "FERNET_KEYS", "DATABASE_URL", "MCP_IDENTITY_SECRET",
		"MCP_IDENTITY_SECRET_PREVIOUS", "QDRANT_API_KEY", "OIDC_CLIENT_SECRET", "WHISPER_API_KEY"}
	for _, tc := range []struct {
		name        string
		vals        map[string]any
		ownSecrets  bool
		wantSecrets []string
	}{
		{"default", requiredValues(), true, []string{"JWT_SECRET", "FERNET_KEYS", "DATABASE_URL"}},
		{"extra secrets", with(requiredValues(), "secrets.extra", map[string]any{"QDRANT_API_KEY": "qk", "WHISPER_API_KEY": "wk"}), true, []string{"JWT_SECRET", "FERNET_KEYS", "DATABASE_URL", "QDRANT_API_KEY", "WHISPER_API_KEY"}},
		{"production", productionValues(t), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := mustRender(t, tc.vals)
			for _, cm := range o.ConfigMaps {
				for k, v := range cm.Data {
					require.NotContains(t, secretNames, k, "ConfigMap %s", cm.Name)
					for _, secret := range []string{testJWT, testFernet, url.PathEscape(dbPassword), dbPassword} {
						require.NotContains(t, v, secret, "ConfigMap %s: %s holds a secret", cm.Name, k)
					}
				}
			}
			s, ok := o.Secrets[fullname]
			require.Equal(t, tc.ownSecrets, ok, "the chart's Secret exists only when it holds something")
			if ok {
				keys := []string{}
				for k := range s.Data {
					keys = append(keys, k)
				}
				require.ElementsMatch(t, tc.wantSecrets, keys)
				require.Equal(t, testJWT, string(s.Data["JWT_SECRET"]))
				require.Equal(t, testFernet, string(s.Data["FERNET_KEYS"]))
				u, err := url.Parse(string(s.Data["DATABASE_URL"]))
				require.NoError(t, err)
				pw, _ := u.User.Password()
				require.Equal(t, dbPassword, pw, "the password survives URL escaping")
				require.Equal(t, "require", u.Query().Get("sslmode"))
			}

			// Every youworker process would accept its environment.
			for n, d := range o.Deployments {
				c := d.Spec.Template.Spec.Containers[0]
				env := o.env(t, c)
				if len(c.Args) >= 2 && slices.Equal(c.Args[:2], []string{"mcp", "datetime"}) {
					require.NotContains(t, env, "JWT_SECRET", "the datetime server needs no secret")
					continue
				}
				_, err := config.FromMap(env)
				require.NoError(t, err, "Deployment %s: its environment is not a valid configuration", n)
			}
		})
	}
}

// TestEnvKnownToConfig: every variable the chart sets on a youworker container is one
// config.Config reads (a misspelt name would be silently ignored).
func TestEnvKnownToConfig(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, v := range append(config.Variables(), config.TracingVariables()...) {
		known[v.Name] = true
	}
	sets := valueSets(t)
	sets["tracing"] = with(requiredValues(), "tracing.otlpEndpoint", "http://otel-collector:4318")
	for setName, vals := range sets {
		t.Run(setName, func(t *testing.T) {
			t.Parallel()
			o := mustRender(t, vals)
			for _, p := range o.pods() {
				for _, c := range p.Spec.Containers {
					names := []string{}
					for _, e := range c.Env {
						names = append(names, e.Name)
					}
					for _, src := range c.EnvFrom {
						for k := range o.ConfigMaps[src.ConfigMapRef.Name].Data {
							names = append(names, k)
						}
					}
					require.NotEmpty(t, names, p.Owner)
					for _, n := range names {
						require.True(t, known[n], "%s sets %s, which config.Config does not know", p.Owner, n)
					}
				}
			}
		})
	}
}

// TestImagePinned: every container runs a pinned image: a tag other than latest, or a digest.
func TestImagePinned(t *testing.T) {
	t.Parallel()
	for setName, vals := range map[string]map[string]any{
		"default": requiredValues(), "production": productionValues(t),
		"digest": with(requiredValues(), "image.digest", "sha256:"+strings.Repeat("ab", 32)),
	} {
		t.Run(setName, func(t *testing.T) {
			t.Parallel()
			for _, p := range mustRender(t, vals).pods() {
				for _, c := range p.Spec.Containers {
					if repo, digest, ok := strings.Cut(c.Image, "@"); ok {
						require.NotEmpty(t, repo)
						require.True(t, strings.HasPrefix(digest, "sha256:"), "%s: image %s", p.Owner, c.Image)
						continue
					}
					i := strings.LastIndex(c.Image, ":")
					require.True(t, i > 0 && !strings.Contains(c.Image[i:], "/"), "%s: image %s has no tag", p.Owner, c.Image)
					tag := c.Image[i+1:]
					require.NotEmpty(t, tag, "%s: image %s", p.Owner, c.Image)
					require.NotEqual(t, "latest", tag, "%s: image %s", p.Owner, c.Image)
				}
			}
		})
	}
}

// TestConfigChangeRollsPods: a changed configuration or secret changes every pod template, so a
// `helm upgrade` restarts the pods with it.
func TestConfigChangeRollsPods(t *testing.T) {
	t.Parallel()
	before := mustRender(t, requiredValues())
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"config", with(requiredValues(), "config", map[string]any{"LOG_LEVEL": "debug"})},
		{"endpoint", with(requiredValues(), "ollama.host", "http://other-ollama:11434")},
		{"secret", with(requiredValues(), "secrets.jwtSecret", strings.Repeat("k", 48))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			after := mustRender(t, tc.vals)
			for n, d := range before.Deployments {
				require.NotEqual(t, d.Spec.Template.Annotations, after.Deployments[n].Spec.Template.Annotations, "Deployment %s does not roll", n)
			}
		})
	}
}

// TestOptionalObjects: PodDisruptionBudgets, HPAs, NetworkPolicies and the ServiceMonitor exist
// only when enabled (production), and then cover the Deployments they are for.
func TestOptionalObjects(t *testing.T) {
	t.Parallel()
	o := mustRender(t, requiredValues())
	require.Empty(t, o.PDBs)
	require.Empty(t, o.HPAs)
	require.Empty(t, o.NetworkPolicies)
	require.Empty(t, o.ServiceMonitors)
	require.Empty(t, o.PrometheusRules)
	require.NotContains(t, o.ConfigMaps, fullname+"-dashboard")
	for n, d := range o.Deployments {
		require.NotNil(t, d.Spec.Replicas, "Deployment %s sets replicas without an HPA", n)
	}

	o = mustRender(t, productionValues(t))
	require.Len(t, o.PDBs, len(o.Deployments), "a PodDisruptionBudget per Deployment")
	for n, d := range o.Deployments {
		podLabels := labels.Set(d.Spec.Template.Labels)
		covered := 0
		for _, pdb := range o.PDBs {
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			require.NoError(t, err)
			if sel.Matches(podLabels) {
				covered++
				require.True(t, pdb.Spec.MaxUnavailable != nil || pdb.Spec.MinAvailable != nil, pdb.Name)
			}
		}
		require.Equal(t, 1, covered, "Deployment %s is covered by exactly one PodDisruptionBudget", n)
		replicas := int32(0)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		for _, h := range o.HPAs {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == n {
				require.Nil(t, d.Spec.Replicas, "Deployment %s leaves replicas to its HPA", n)
				replicas = *h.Spec.MinReplicas
			}
		}
		require.GreaterOrEqual(t, replicas, int32(2), "Deployment %s runs 2+ pods in production", n)
	}
	require.Len(t, o.HPAs, 2)
	for _, component := range []string{"api", "worker"} {
		h, ok := o.HPAs[name(component)]
		require.True(t, ok, "HPA for %s", component)
		require.Equal(t, "apps/v1", h.Spec.ScaleTargetRef.APIVersion)
		require.Contains(t, o.Deployments, h.Spec.ScaleTargetRef.Name)
		require.Greater(t, h.Spec.MaxReplicas, *h.Spec.MinReplicas)
	}
	require.NotEmpty(t, o.NetworkPolicies)
	require.Len(t, o.ServiceMonitors, 1)
	require.Len(t, o.PrometheusRules, 1)
	require.Contains(t, o.ConfigMaps, fullname+"-dashboard")
}

// TestMonitoringFilesShip: the PrometheusRule carries files/prometheus-rules.yaml as it is (every
// rule with an expression and a severity) and the dashboard ConfigMap the dashboard JSON, labelled
// for Grafana's sidecar. That every metric they name is exported is e2e's
// TestDashboardAndRulesUseExportedMetrics, which runs the processes.
func TestMonitoringFilesShip(t *testing.T) {
	t.Parallel()
	o := mustRender(t, productionValues(t))
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "prometheus-rules.yaml"))
	require.NoError(t, err)
	var file ruleFile
	require.NoError(t, yaml.UnmarshalStrict(raw, &file))
	pr := o.PrometheusRules[fullname]
	require.NotNil(t, pr)
	require.Equal(t, file, pr.Spec, "the PrometheusRule holds the rule file")
	require.Equal(t, "kube-prometheus-stack", pr.Labels["release"], "serviceMonitor.labels reach the rules")
	alerts := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Expr, r.Alert)
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			alerts++
		}
	}
	require.GreaterOrEqual(t, alerts, 5)

	cm := o.ConfigMaps[fullname+"-dashboard"]
	require.Equal(t, "1", cm.Labels["grafana_dashboard"])
	want, err := os.ReadFile(filepath.Join(chartDir, "files", "grafana-dashboard.json"))
	require.NoError(t, err)
	require.JSONEq(t, string(want), cm.Data["youworker.json"])
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(want, &dash))
	require.Equal(t, "youworker", dash.UID)
	queries := 0
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			require.NotEmpty(t, q.Expr)
			queries++
		}
	}
	require.GreaterOrEqual(t, queries, 20)
}

// TestNetworkPolicy: with networkPolicy enabled every pod of the release denies ingress but what
// is allowed: the API port, the operator port to metricsFrom, the MCP servers to the API and the
// worker.
func TestNetworkPolicy(t *testing.T) {
	t.Parallel()
	o := mustRender(t, productionValues(t))
	podLabels := func(component string) labels.Set {
		return labels.Set(o.Deployments[name(component)].Spec.Template.Labels)
	}
	// allowed reports whether a pod with from's labels may reach port on component's pods, and
	// whether any policy selects component's pods at all.
	allowed := func(component, port string, from labels.Set) (bool, bool) {
		selected, ok := false, false
		for _, np := range o.NetworkPolicies {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			require.NoError(t, err)
			if !sel.Matches(podLabels(component)) {
				continue
			}
			selected = true
			for _, rule := range np.Spec.Ingress {
				portMatch := len(rule.Ports) == 0
				for _, p := range rule.Ports {
					portMatch = portMatch || (p.Port != nil && p.Port.StrVal == port)
				}
				peerMatch := len(rule.From) == 0
				for _, peer := range rule.From {
					if peer.PodSelector != nil && peer.NamespaceSelector == nil {
						ps, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
						require.NoError(t, err)
						peerMatch = peerMatch || ps.Matches(from)
					}
				}
				ok = ok || (portMatch && peerMatch)
			}
		}
		return ok, selected
	}
	for n := range o.Deployments {
		_, selected := allowed(strings.TrimPrefix(n, fullname+"-"), "", nil)
		require.True(t, selected, "Deployment %s is under a NetworkPolicy", n)
	}
	for _, s := range mcpServers {
		for _, tc := range []struct {
			from string
			want bool
		}{{"api", true}, {"worker", true}, {"mcp-datetime", false}} {
			ok, _ := allowed("mcp-"+s, "mcp", podLabels(tc.from))
			require.Equal(t, tc.want, ok, "%s may reach mcp-%s", tc.from, s)
		}
		ok, _ := allowed("mcp-"+s, "mcp", labels.Set{"app": "stranger"})
		require.False(t, ok, "a stranger may reach mcp-%s", s)
	}
	for _, component := range []string{"api", "worker"} {
		ok, _ := allowed(component, "metrics", podLabels("mcp-web"))
		require.False(t, ok, "the MCP servers (web fetches the internet) may reach the %s's operator port", component)
	}
	// The API port is open to what apiFrom names: the ingress controller's namespace.
	api := o.NetworkPolicies[name("api")]
	require.NotNil(t, api)
	require.Equal(t, "ingress-nginx", api.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
}

// TestServiceMonitor: the ServiceMonitor scrapes /metrics of the API and the worker on the port
// METRICS_ADDR names.
func TestServiceMonitor(t *testing.T) {
	t.Parallel()
	o := mustRender(t, productionValues(t))
	sm := o.ServiceMonitors[fullname]
	require.NotNil(t, sm)
	require.Equal(t, "kube-prometheus-stack", sm.Labels["release"], "serviceMonitor.labels reach the object")
	require.Len(t, sm.Spec.Endpoints, 1)
	ep := sm.Spec.Endpoints[0]
	require.Equal(t, "/metrics", ep.Path)
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	require.NoError(t, err)
	metricsPort := addrPort(t, o.configMap(t).Data["METRICS_ADDR"])
	scraped := map[string]bool{}
	for _, svc := range o.Services {
		if !sel.Matches(labels.Set(svc.Labels)) {
			continue
		}
		for n, d := range o.Deployments {
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			scraped[strings.TrimPrefix(n, fullname+"-")] = true
			var sp *corev1.ServicePort
			for i := range svc.Spec.Ports {
				if svc.Spec.Ports[i].Name == ep.Port {
					sp = &svc.Spec.Ports[i]
				}
			}
			require.NotNil(t, sp, "Service %s has the port %q the ServiceMonitor scrapes", svc.Name, ep.Port)
			require.Equal(t, metricsPort, portNumber(t, d.Spec.Template.Spec.Containers[0], sp.TargetPort), "Service %s leads to METRICS_ADDR", svc.Name)
		}
	}
	require.Equal(t, map[string]bool{"api": true, "worker": true}, scraped)
}

// TestTracing: traces are off unless tracing.otlpEndpoint is set; then every youworker process
// (the API, the worker, each MCP server) exports there with the sampler of the values, and each
// keeps its own service name, which the chart refuses to override for all pods at once.
func TestTracing(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		require.NotContains(t, mustRender(t, requiredValues()).configMap(t).Data, n, "tracing is off by default")
	}

	vals := with(requiredValues(), "tracing.otlpEndpoint", "http://otel-collector.observability:4317")
	vals = with(vals, "tracing.protocol", "grpc")
	vals = with(vals, "tracing.samplerArg", 0.25)
	vals = with(vals, "tracing.propagators", "tracecontext,b3multi")
	o := mustRender(t, vals)
	components := map[string]bool{}
	for n, d := range o.Deployments {
		env := o.env(t, d.Spec.Template.Spec.Containers[0])
		require.Equal(t, "http://otel-collector.observability:4317", env["OTEL_EXPORTER_OTLP_ENDPOINT"], n)
		require.Equal(t, "grpc", env["OTEL_EXPORTER_OTLP_PROTOCOL"], n)
		require.Equal(t, "parentbased_traceidratio", env["OTEL_TRACES_SAMPLER"], n)
		require.Equal(t, "0.25", env["OTEL_TRACES_SAMPLER_ARG"], n)
		require.Equal(t, "tracecontext,b3multi", env["OTEL_PROPAGATORS"], n)
		require.NotContains(t, env, "OTEL_SERVICE_NAME", n)
		components[strings.TrimPrefix(n, fullname+"-")] = true
	}
	for _, c := range append([]string{"api", "worker"}, "mcp-datetime", "mcp-semantic", "mcp-ingest", "mcp-web") {
		require.True(t, components[c], "no Deployment %s", c)
	}

	_, err := render(with(requiredValues(), "config.OTEL_SERVICE_NAME", "youworker"))
	require.ErrorContains(t, err, "config.OTEL_SERVICE_NAME")
	_, err = render(with(vals, "config.OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318"))
	require.ErrorContains(t, err, "set by the chart")
}
