// Package validate checks the Helm chart in ../notify without a cluster: it lints the chart
// with Helm's linter, renders it with Helm's engine as `helm install` would, and decodes every
// rendered object strictly into its Kubernetes API type, so a misspelt or misplaced field
// fails here instead of on a cluster. chart_test.go asserts what the chart promises.
//
// It is a module of its own so that the service's go.mod does not carry Helm's dependencies.
package validate

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// ChartDir is the chart, relative to this package.
const ChartDir = "../notify"

// KubeVersion is the oldest Kubernetes the chart supports (Chart.yaml's kubeVersion): the
// chart is rendered and linted as for it.
const KubeVersion = "v1.30.0"

// Release is the release every render uses.
var Release = chartutil.ReleaseOptions{Name: "prod", Namespace: "notify-test", Revision: 1, IsInstall: true}

// Values merges values files (relative to the chart) and --set style overrides in order,
// later ones winning, as `helm install -f a -f b --set k=v` does.
func Values(files []string, sets ...string) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(filepath.Join(ChartDir, f))
		if err != nil {
			return nil, err
		}
		vals = mergeValues(vals, v.AsMap())
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	return vals, nil
}

// mergeValues is Helm's merge of -f files: maps merge key by key, anything else is replaced.
func mergeValues(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(dv, sv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func capabilities() (*chartutil.Capabilities, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := kubeVersion()
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kv
	return caps, nil
}

func kubeVersion() (*chartutil.KubeVersion, error) {
	parts := strings.Split(strings.TrimPrefix(KubeVersion, "v"), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("bad KubeVersion %q", KubeVersion)
	}
	return &chartutil.KubeVersion{Version: KubeVersion, Major: parts[0], Minor: parts[1]}, nil
}

// Lint runs Helm's linter (`helm lint --strict`: warnings count) with these values. It
// returns the messages of warning or error severity, and every message for the report.
func Lint(vals map[string]any) (problems, all []support.Message, err error) {
	kv, err := kubeVersion()
	if err != nil {
		return nil, nil, err
	}
	l := lint.AllWithKubeVersion(ChartDir, vals, Release.Namespace, kv)
	for _, m := range l.Messages {
		all = append(all, m)
		if m.Severity >= support.WarningSev {
			problems = append(problems, m)
		}
	}
	return problems, all, nil
}

// Objects is one render, decoded: every object in its API type.
type Objects struct {
	StatefulSets    []*appsv1.StatefulSet
	Deployments     []*appsv1.Deployment
	Services        []*corev1.Service
	Secrets         []*corev1.Secret
	ServiceAccounts []*corev1.ServiceAccount
	ConfigMaps      []*corev1.ConfigMap
	PDBs            []*policyv1.PodDisruptionBudget
	ServiceMonitors []*monitoringv1.ServiceMonitor
	// Kinds counts the objects by kind, for the report.
	Kinds map[string]int
	// Manifests is each object's rendered text, by "template#n Kind/name", for failures.
	Manifests map[string]string
}

// Render renders the chart as `helm install` does (the release above, the oldest supported
// Kubernetes, the engine in strict mode so a reference to a value that does not exist is an
// error) and decodes every object strictly.
func Render(vals map[string]any) (*Objects, error) {
	ch, err := loader.Load(ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	caps, err := capabilities()
	if err != nil {
		return nil, err
	}
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart's kubeVersion %q does not admit %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	top, err := chartutil.ToRenderValues(ch, vals, Release, caps)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	out, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		return nil, err
	}
	return decodeAll(ch, out)
}

func decodeAll(ch *chart.Chart, out map[string]string) (*Objects, error) {
	objs := &Objects{Kinds: map[string]int{}, Manifests: map[string]string{}}
	names := slices.Sorted(maps.Keys(out))
	var errs []error
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
			continue // NOTES.txt
		}
		docs := releaseutil.SplitManifests(out[name])
		keys := slices.Collect(maps.Keys(docs))
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for i, k := range keys {
			where := fmt.Sprintf("%s#%d", strings.TrimPrefix(name, ch.Name()+"/"), i)
			if err := objs.decode(where, docs[k]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	return objs, errors.Join(errs...)
}

// decode decodes one manifest strictly into the type of its apiVersion and kind.
func (o *Objects) decode(where, doc string) error {
	var generic map[string]any
	if err := yaml.Unmarshal([]byte(doc), &generic); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	if len(generic) == 0 {
		return nil // only comments
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return err
	}
	gvk := tm.APIVersion + " " + tm.Kind
	var err error
	switch gvk {
	case "apps/v1 StatefulSet":
		o.StatefulSets, err = strict(doc, o.StatefulSets)
	case "apps/v1 Deployment":
		o.Deployments, err = strict(doc, o.Deployments)
	case "v1 Service":
		o.Services, err = strict(doc, o.Services)
	case "v1 Secret":
		o.Secrets, err = strict(doc, o.Secrets)
	case "v1 ServiceAccount":
		o.ServiceAccounts, err = strict(doc, o.ServiceAccounts)
	case "v1 ConfigMap":
		o.ConfigMaps, err = strict(doc, o.ConfigMaps)
	case "policy/v1 PodDisruptionBudget":
		o.PDBs, err = strict(doc, o.PDBs)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o.ServiceMonitors, err = strict(doc, o.ServiceMonitors)
	default:
		return fmt.Errorf("unknown kind %q: add its API type to validate/render.go before the chart renders it", gvk)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", tm.Kind, tm.Metadata.Name, err)
	}
	o.Kinds[tm.Kind]++
	o.Manifests[where+" "+tm.Kind+"/"+tm.Metadata.Name] = doc
	return nil
}

// strict decodes doc into a new T, refusing unknown and duplicate fields, and appends it.
// sigs.k8s.io/yaml turns the YAML into JSON and decodes that with encoding/json's
// DisallowUnknownFields and the types' own JSON rules (resource quantities, int-or-string).
func strict[T any](doc string, to []*T) ([]*T, error) {
	obj := new(T)
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		return to, err
	}
	return append(to, obj), nil
}
