package helmtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test.
const chartDir = "../helm/youworker"

// kubeVersion is the cluster version the chart is rendered for (a test binary has no module
// information from which Helm could take its default, and falls back to v1.20).
var kubeVersion = func() *common.KubeVersion {
	v, err := common.ParseKubeVersion("v1.33.0")
	if err != nil {
		panic(err)
	}
	return v
}()

const (
	releaseName = "yw"
	namespace   = "youworker"
	// dbPassword needs escaping in a URL: the chart must build a DATABASE_URL that still parses.
	dbPassword = "p@ss:w/rd?#+% x"
)

var (
	testJWT    = strings.Repeat("j", 48)
	testFernet = base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
)

// requiredValues are what an install with the default values must be given: the secrets.
func requiredValues() map[string]any {
	return map[string]any{
		"secrets":  map[string]any{"jwtSecret": testJWT, "fernetKeys": testFernet},
		"database": map[string]any{"password": dbPassword},
	}
}

// productionValues are values-production.yaml, which names existing Secrets and needs nothing more.
func productionValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values-production.yaml"))
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, yaml.Unmarshal(b, &v))
	return v
}

// with returns vals with the dotted path set to value (maps along the path are copied).
func with(vals map[string]any, path string, value any) map[string]any {
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		out[k] = v
	}
	key, rest, nested := strings.Cut(path, ".")
	if !nested {
		out[key] = value
		return out
	}
	sub, _ := out[key].(map[string]any)
	if sub == nil {
		sub = map[string]any{}
	}
	out[key] = with(sub, rest, value)
	return out
}

// serviceMonitor is the part of a monitoring.coreos.com/v1 ServiceMonitor the chart sets.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is the part of a monitoring.coreos.com/v1 PrometheusRule the chart sets.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleFile `json:"spec"`
}

// ruleFile is a Prometheus rule file (files/prometheus-rules.yaml), the spec of a PrometheusRule.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// objects is a rendered release, every manifest decoded into its API type.
type objects struct {
	Deployments     map[string]*appsv1.Deployment
	Jobs            map[string]*batchv1.Job
	Services        map[string]*corev1.Service
	ConfigMaps      map[string]*corev1.ConfigMap
	Secrets         map[string]*corev1.Secret
	ServiceAccounts map[string]*corev1.ServiceAccount
	PDBs            map[string]*policyv1.PodDisruptionBudget
	HPAs            map[string]*autoscalingv2.HorizontalPodAutoscaler
	NetworkPolicies map[string]*networkingv1.NetworkPolicy
	ServiceMonitors map[string]*serviceMonitor
	PrometheusRules map[string]*prometheusRule
}

// decoders hold, per apiVersion and kind, the map a manifest of that kind is decoded into.
func (o *objects) decode(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return into(doc, o.Deployments)
	case "batch/v1 Job":
		return into(doc, o.Jobs)
	case "v1 Service":
		return into(doc, o.Services)
	case "v1 ConfigMap":
		return into(doc, o.ConfigMaps)
	case "v1 Secret":
		return into(doc, o.Secrets)
	case "v1 ServiceAccount":
		return into(doc, o.ServiceAccounts)
	case "policy/v1 PodDisruptionBudget":
		return into(doc, o.PDBs)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return into(doc, o.HPAs)
	case "networking.k8s.io/v1 NetworkPolicy":
		return into(doc, o.NetworkPolicies)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return into(doc, o.ServiceMonitors)
	case "monitoring.coreos.com/v1 PrometheusRule":
		return into(doc, o.PrometheusRules)
	}
	return fmt.Errorf("unexpected %s %s: add it to the test", tm.APIVersion, tm.Kind)
}

type named interface{ GetName() string }

// into decodes doc strictly (an unknown or duplicate field fails) and files it by name.
func into[T any, PT interface {
	*T
	named
}](doc []byte, m map[string]PT) error {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return err
	}
	p := PT(&v)
	if _, dup := m[p.GetName()]; dup {
		return fmt.Errorf("two objects named %s", p.GetName())
	}
	m[p.GetName()] = p
	return nil
}

// render renders the chart as `helm install --dry-run=client` does and decodes every manifest,
// hooks included.
func render(vals map[string]any) (*objects, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kubeVersion
	r, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("release is a %T", r)
	}
	docs := []string{}
	for _, d := range releaseutil.SplitManifests(rel.Manifest) {
		docs = append(docs, d)
	}
	for _, h := range rel.Hooks {
		docs = append(docs, h.Manifest)
	}
	o := &objects{
		Deployments: map[string]*appsv1.Deployment{}, Jobs: map[string]*batchv1.Job{}, Services: map[string]*corev1.Service{},
		ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}, ServiceAccounts: map[string]*corev1.ServiceAccount{},
		PDBs: map[string]*policyv1.PodDisruptionBudget{}, HPAs: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		NetworkPolicies: map[string]*networkingv1.NetworkPolicy{}, ServiceMonitors: map[string]*serviceMonitor{},
		PrometheusRules: map[string]*prometheusRule{},
	}
	for _, d := range docs {
		if strings.TrimSpace(d) == "" {
			continue
		}
		if err := o.decode([]byte(d)); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, d)
		}
	}
	return o, nil
}

func mustRender(t *testing.T, vals map[string]any) *objects {
	t.Helper()
	o, err := render(vals)
	require.NoError(t, err)
	return o
}

// valueSets are the two configurations every property is checked against.
func valueSets(t *testing.T) map[string]map[string]any {
	return map[string]map[string]any{"default": requiredValues(), "production": productionValues(t)}
}

// fullname is the release's name prefix; name(component) the name of a component's objects.
const fullname = releaseName + "-youworker"

func name(component string) string { return fullname + "-" + component }

// pod is one pod template of the release (a Deployment's or the migrate Job's).
type pod struct {
	Owner string
	Spec  corev1.PodSpec
	Meta  metav1.ObjectMeta
}

func (o *objects) pods() []pod {
	var out []pod
	for n, d := range o.Deployments {
		out = append(out, pod{Owner: "Deployment " + n, Spec: d.Spec.Template.Spec, Meta: d.Spec.Template.ObjectMeta})
	}
	for n, j := range o.Jobs {
		out = append(out, pod{Owner: "Job " + n, Spec: j.Spec.Template.Spec, Meta: j.Spec.Template.ObjectMeta})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Owner < out[j].Owner })
	return out
}

func (o *objects) configMap(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	cm, ok := o.ConfigMaps[fullname]
	require.True(t, ok, "the release's ConfigMap")
	return cm
}

// env is what a container's environment holds once Kubernetes resolved it: envFrom ConfigMaps,
// plain values, and Secret references (from the chart's Secrets, else standIn for a Secret the
// operator creates; optional keys missing from a chart Secret are left out).
func (o *objects) env(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, src := range c.EnvFrom {
		require.NotNil(t, src.ConfigMapRef, "%s: envFrom only from ConfigMaps", c.Name)
		cm, ok := o.ConfigMaps[src.ConfigMapRef.Name]
		require.True(t, ok, "%s: envFrom ConfigMap %s is not in the release", c.Name, src.ConfigMapRef.Name)
		for k, v := range cm.Data {
			out[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if s, ok := o.Secrets[ref.Name]; ok {
				v, ok := s.Data[ref.Key]
				require.True(t, ok || (ref.Optional != nil && *ref.Optional), "%s: %s reads key %s, missing from Secret %s", c.Name, e.Name, ref.Key, ref.Name)
				if ok {
					out[e.Name] = string(v)
				}
				continue
			}
			if ref.Optional == nil || !*ref.Optional {
				out[e.Name] = standIn[e.Name]
				require.NotEmpty(t, out[e.Name], "%s: %s from a Secret the chart does not create", c.Name, e.Name)
			}
		default:
			t.Fatalf("%s: %s: unexpected valueFrom", c.Name, e.Name)
		}
	}
	return out
}

// standIn are the values an operator's existing Secrets would hold.
var standIn = map[string]string{
	"DATABASE_URL": "postgres://youworker:secret@db:5432/youworker?sslmode=require",
	"JWT_SECRET":   testJWT,
	"FERNET_KEYS":  testFernet,
}

// portNumber resolves a probe's or Service's port (a number or a container port's name).
func portNumber(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: no container port named %q", c.Name, p.StrVal)
	return 0
}
