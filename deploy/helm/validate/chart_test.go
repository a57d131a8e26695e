package validate

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// shipped is every values file the chart ships, each rendered over the chart's defaults as
// `helm install -f FILE` would, with what its render must hold.
var shipped = []struct {
	name  string
	files []string
	// mode is the shape: "embedded" (a StatefulSet of one) or "postgres" (a Deployment).
	mode string
	// authSecret is the Secret the auth files must come from; chartSecret: the chart makes it.
	authSecret  string
	chartSecret bool
	monitor     bool
	kafka       bool
}{
	{name: "values.yaml (embedded, auth from an existing Secret)", files: nil, mode: "embedded", authSecret: "notify-auth"},
	{name: "values-postgres.yaml (EventStoreDB, PostgreSQL, Kafka)", files: []string{"values-postgres.yaml"}, mode: "postgres", authSecret: "notify-auth", kafka: true},
	{name: "values-monitoring.yaml (embedded, ServiceMonitor, chart-made auth Secret)", files: []string{"values-monitoring.yaml"}, mode: "embedded", authSecret: "prod-notify-auth", chartSecret: true, monitor: true},
	{name: "values-postgres.yaml + values-monitoring.yaml", files: []string{"values-postgres.yaml", "values-monitoring.yaml"}, mode: "postgres", authSecret: "prod-notify-auth", chartSecret: true, monitor: true, kafka: true},
}

func TestShippedValues(t *testing.T) {
	known := knownSettings(t)
	for _, tc := range shipped {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := Values(tc.files)
			if err != nil {
				t.Fatal(err)
			}
			problems, all, err := Lint(vals)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range all {
				t.Logf("helm lint: %s", m.Error())
			}
			for _, m := range problems {
				t.Errorf("helm lint (strict): %s", m.Error())
			}
			objs, err := Render(vals)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			t.Logf("rendered %s: %s, each decoded strictly", tc.name, kinds(objs))
			dump(t, tc.files, objs)
			checkNames(t, objs)
			pods := workloads(t, objs, tc.mode)
			for _, p := range pods {
				checkPod(t, p, known)
				checkServices(t, objs, p)
				checkAuth(t, objs, p, tc.authSecret, tc.chartSecret)
			}
			checkMonitor(t, objs, pods, tc.monitor)
			for _, p := range pods {
				if tc.kafka {
					checkKafkaInstanceID(t, p)
				}
				checkServiceAccepts(t, objs, p, tc.mode, tc.monitor, tc.kafka)
			}
		})
	}
}

// pod is a workload's pod template with where it came from.
type pod struct {
	owner    string
	template *corev1.PodTemplateSpec
	selector *metav1.LabelSelector
	// claims are the StatefulSet's volume claim templates' names.
	claims []string
}

// workloads checks the shape of the mode and returns its pods.
func workloads(t *testing.T, objs *Objects, mode string) []pod {
	t.Helper()
	var pods []pod
	switch mode {
	case "embedded":
		if len(objs.StatefulSets) != 1 || len(objs.Deployments) != 0 {
			t.Fatalf("embedded: want exactly one StatefulSet and no Deployment, got %d and %d", len(objs.StatefulSets), len(objs.Deployments))
		}
		s := objs.StatefulSets[0]
		if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
			t.Errorf("StatefulSet %s: replicas %v, want 1", s.Name, s.Spec.Replicas)
		}
		if len(s.Spec.VolumeClaimTemplates) != 1 {
			t.Fatalf("StatefulSet %s: %d volume claim templates, want 1 (the data dir)", s.Name, len(s.Spec.VolumeClaimTemplates))
		}
		pvc := s.Spec.VolumeClaimTemplates[0]
		if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
			t.Errorf("volume claim template %s: no storage request", pvc.Name)
		}
		if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) && !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOncePod) {
			t.Errorf("volume claim template %s: access modes %v, want ReadWriteOnce(Pod): one writer", pvc.Name, pvc.Spec.AccessModes)
		}
		if p := s.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != "Retain" {
			t.Errorf("StatefulSet %s: the log's volume must be retained when the release is deleted, got %+v", s.Name, p)
		}
		if len(objs.PDBs) != 0 {
			t.Errorf("embedded: a PodDisruptionBudget over one replica blocks every drain; got %d", len(objs.PDBs))
		}
		headless := false
		for _, svc := range objs.Services {
			headless = headless || (svc.Name == s.Spec.ServiceName && svc.Spec.ClusterIP == corev1.ClusterIPNone)
		}
		if !headless {
			t.Errorf("StatefulSet %s: serviceName %q is not a rendered headless Service", s.Name, s.Spec.ServiceName)
		}
		pods = append(pods, pod{owner: "StatefulSet/" + s.Name, template: &s.Spec.Template, selector: s.Spec.Selector, claims: []string{pvc.Name}})
		if got := mountOf(&s.Spec.Template, pvc.Name); got != "/data" {
			t.Errorf("StatefulSet %s: claim %s mounted at %q, want /data", s.Name, pvc.Name, got)
		}
	case "postgres":
		if len(objs.Deployments) != 1 || len(objs.StatefulSets) != 0 {
			t.Fatalf("postgres: want exactly one Deployment and no StatefulSet, got %d and %d", len(objs.Deployments), len(objs.StatefulSets))
		}
		d := objs.Deployments[0]
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("Deployment %s: replicas %v, want at least 2", d.Name, d.Spec.Replicas)
		}
		p := pod{owner: "Deployment/" + d.Name, template: &d.Spec.Template, selector: d.Spec.Selector}
		pods = append(pods, p)
		if len(objs.PDBs) != 1 {
			t.Fatalf("postgres: want one PodDisruptionBudget, got %d", len(objs.PDBs))
		}
		pdb := objs.PDBs[0]
		if !selects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("PodDisruptionBudget %s: selector %v does not select the Deployment's pods %v", pdb.Name, pdb.Spec.Selector, d.Spec.Template.Labels)
		}
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			t.Errorf("PodDisruptionBudget %s: neither maxUnavailable nor minAvailable", pdb.Name)
		}
		for _, name := range []string{"NOTIFY_EVENT_STORE", "NOTIFY_READ_MODEL"} {
			e := env(&d.Spec.Template, name)
			if e == nil || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("Deployment %s: %s must come from a Secret (valueFrom.secretKeyRef), got %+v", d.Name, name, e)
			}
		}
		v := volume(&d.Spec.Template, "data")
		if v == nil || v.EmptyDir == nil || mountOf(&d.Spec.Template, "data") != "/data" {
			t.Errorf("Deployment %s: want the data dir /data on an emptyDir, got %+v", d.Name, v)
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	for _, p := range pods {
		if !selects(t, p.selector, p.template.Labels) {
			t.Errorf("%s: selector %v does not select its own pod template's labels %v", p.owner, p.selector, p.template.Labels)
		}
	}
	return pods
}

// checkPod holds every pod to the security and probe rules.
func checkPod(t *testing.T, p pod, known map[string]bool) {
	t.Helper()
	spec := &p.template.Spec
	psc := spec.SecurityContext
	if psc == nil {
		t.Fatalf("%s: no pod securityContext", p.owner)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service needs no Kubernetes API token: automountServiceAccountToken must be false", p.owner)
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Errorf("%s: want exactly one container, got %d (+%d init)", p.owner, len(spec.Containers), len(spec.InitContainers))
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		who := p.owner + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Fatalf("%s: no securityContext", who)
		}
		nonRoot := firstBool(sc.RunAsNonRoot, psc.RunAsNonRoot)
		uid := firstInt(sc.RunAsUser, psc.RunAsUser)
		if !nonRoot || uid != 65532 {
			t.Errorf("%s: runAsNonRoot %v, runAsUser %d; want true, 65532", who, nonRoot, uid)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", who)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", who)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", who)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities %+v, want drop ALL and add none", who, sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile %+v, want RuntimeDefault", who, seccomp)
		}

		// Probes: startup and liveness on /healthz, readiness on /readyz, all on the HTTP port.
		probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
		wantPath := map[string]string{"startup": "/healthz", "readiness": "/readyz", "liveness": "/healthz"}
		for _, kind := range []string{"startup", "readiness", "liveness"} {
			pr := probes[kind]
			if pr == nil || pr.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", who, kind)
				continue
			}
			if pr.HTTPGet.Path != wantPath[kind] {
				t.Errorf("%s: %s probe on %q, want %s", who, kind, pr.HTTPGet.Path, wantPath[kind])
			}
			if _, ok := containerPort(c, pr.HTTPGet.Port); !ok {
				t.Errorf("%s: %s probe port %s is no port of the container", who, kind, pr.HTTPGet.Port.String())
			}
		}
		if pr := c.StartupProbe; pr != nil {
			if budget := pr.PeriodSeconds * pr.FailureThreshold; budget < 600 {
				t.Errorf("%s: the startup probe allows %d s to open the stores; a big embedded log needs minutes (want ≥ 600)", who, budget)
			}
		}
		if pr := c.LivenessProbe; pr != nil {
			if window := pr.PeriodSeconds * pr.FailureThreshold; window < 30 {
				t.Errorf("%s: the liveness probe restarts after %d s of silence; want ≥ 30 s so a loaded process is not killed", who, window)
			}
		}

		// The HTTP address is the container port, on every interface.
		if e := env(p.template, "NOTIFY_HTTP_ADDR"); e == nil || e.Value != "0.0.0.0:8080" {
			t.Errorf("%s: NOTIFY_HTTP_ADDR %+v, want 0.0.0.0:8080", who, e)
		} else if _, ok := containerPort(c, intstr.FromInt32(8080)); !ok {
			t.Errorf("%s: listens on 8080 but declares no containerPort 8080", who)
		}
		if e := env(p.template, "NOTIFY_DATA_DIR"); e == nil || e.Value != "/data" || mountOf(p.template, "data") != "/data" {
			t.Errorf("%s: NOTIFY_DATA_DIR %+v must be /data, where the data volume is mounted", who, e)
		}

		// Every NOTIFY_* name is one the service reads; no secret is a literal in the spec.
		names := map[string]bool{}
		for _, e := range c.Env {
			if names[e.Name] {
				t.Errorf("%s: env %s set twice (the last wins, silently)", who, e.Name)
			}
			names[e.Name] = true
			if strings.HasPrefix(e.Name, "NOTIFY_") && !known[e.Name] {
				t.Errorf("%s: env %s is not a setting of the service (notify -h)", who, e.Name)
			}
			switch e.Name {
			case "NOTIFY_AUTH_API_KEYS", "NOTIFY_AUTH_JWT_SECRET", "NOTIFY_KAFKA_SASL_PASSWORD":
				t.Errorf("%s: the secret %s is in the pod spec; it must be a mounted file (%s_FILE)", who, e.Name, e.Name)
			case "NOTIFY_EVENT_STORE", "NOTIFY_READ_MODEL":
				if e.Value != "" && e.Value != "embedded" {
					t.Errorf("%s: the connection string %s is a literal in the pod spec; it must come from a Secret", who, e.Name)
				}
			}
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != "/data" && !m.ReadOnly {
				t.Errorf("%s: %s mounted writable at %s; only /data is written", who, m.Name, m.MountPath)
			}
		}
	}
}

// checkServices: every Service that selects the pods targets a port the container has.
func checkServices(t *testing.T, objs *Objects, p pod) {
	t.Helper()
	n := 0
	for _, svc := range objs.Services {
		if !selectsMap(svc.Spec.Selector, p.template.Labels) {
			continue
		}
		n++
		if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service %s: type %s, want ClusterIP", svc.Name, svc.Spec.Type)
		}
		for _, sp := range svc.Spec.Ports {
			if _, ok := containerPort(&p.template.Spec.Containers[0], sp.TargetPort); !ok {
				t.Errorf("Service %s port %s: targetPort %s is no port of %s", svc.Name, sp.Name, sp.TargetPort.String(), p.owner)
			}
			if sp.Name != "http" || sp.Port != 8080 {
				t.Errorf("Service %s: port %s/%d, want http/8080", svc.Name, sp.Name, sp.Port)
			}
		}
	}
	if n == 0 {
		t.Errorf("no Service selects the pods of %s (%v)", p.owner, p.template.Labels)
	}
}

// checkAuth: the auth files the env names are mounted from the expected Secret, mode 0440,
// and a Secret the chart makes holds what the values gave.
func checkAuth(t *testing.T, objs *Objects, p pod, secret string, chartMade bool) {
	t.Helper()
	files := 0
	for _, name := range []string{"NOTIFY_AUTH_API_KEYS_FILE", "NOTIFY_AUTH_JWT_SECRET_FILE"} {
		e := env(p.template, name)
		if e == nil {
			continue
		}
		files++
		v, item := fileSource(p.template, e.Value)
		if v == nil || v.Secret == nil {
			t.Errorf("%s: %s=%s is not a file of a mounted Secret", p.owner, name, e.Value)
			continue
		}
		if v.Secret.SecretName != secret {
			t.Errorf("%s: %s comes from Secret %s, want %s", p.owner, name, v.Secret.SecretName, secret)
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0 {
			t.Errorf("%s: Secret %s mounted with mode %v; want no access for others", p.owner, v.Secret.SecretName, v.Secret.DefaultMode)
		}
		if chartMade {
			s := secretNamed(objs, secret)
			if s == nil {
				t.Errorf("%s: the chart should have made Secret %s", p.owner, secret)
			} else if len(s.Data[item]) == 0 {
				t.Errorf("Secret %s has no %s", secret, item)
			}
		} else if secretNamed(objs, secret) != nil {
			t.Errorf("Secret %s is the operator's (existingSecret): the chart must not render it", secret)
		}
	}
	if files == 0 && env(p.template, "NOTIFY_AUTH_JWT_JWKS_FILE") == nil && env(p.template, "NOTIFY_AUTH_JWT_JWKS_URL") == nil {
		t.Errorf("%s: no authentication configured", p.owner)
	}
	if e := env(p.template, "NOTIFY_INSECURE"); e != nil {
		t.Errorf("%s: a shipped values file runs insecure", p.owner)
	}
}

// checkMonitor: the ServiceMonitor scrapes /metrics on a port of exactly one Service that
// selects the pods, and /metrics answers without the admin key it cannot send.
func checkMonitor(t *testing.T, objs *Objects, pods []pod, want bool) {
	t.Helper()
	if !want {
		if len(objs.ServiceMonitors) != 0 {
			t.Errorf("ServiceMonitor rendered, but it is off by default")
		}
		return
	}
	if len(objs.ServiceMonitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(objs.ServiceMonitors))
	}
	sm := objs.ServiceMonitors[0]
	var matched []*corev1.Service
	for _, svc := range objs.Services {
		if selects(t, &sm.Spec.Selector, svc.Labels) {
			matched = append(matched, svc)
		}
	}
	if len(matched) != 1 {
		t.Fatalf("ServiceMonitor %s selects %d Services, want exactly 1 (else each pod is scraped once per Service)", sm.Name, len(matched))
	}
	svc := matched[0]
	if len(sm.Spec.Endpoints) == 0 {
		t.Fatalf("ServiceMonitor %s: no endpoints", sm.Name)
	}
	for _, ep := range sm.Spec.Endpoints {
		found := false
		for _, sp := range svc.Spec.Ports {
			found = found || sp.Name == ep.Port
		}
		if !found {
			t.Errorf("ServiceMonitor %s: port %q is no port of Service %s", sm.Name, ep.Port, svc.Name)
		}
		if ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor %s: path %q, want /metrics", sm.Name, ep.Path)
		}
	}
	for _, p := range pods {
		if e := env(p.template, "NOTIFY_METRICS_PUBLIC"); e == nil || e.Value != "true" {
			t.Errorf("%s: a ServiceMonitor sends no X-Api-Key, so NOTIFY_METRICS_PUBLIC must be true; got %+v", p.owner, e)
		}
	}
}

// checkKafkaInstanceID: each replica's static member id is its pod's name, which is always a
// valid id (pod names are [a-z0-9.-]; these are at most 63 long, the rule allows 200).
func checkKafkaInstanceID(t *testing.T, p pod) {
	t.Helper()
	e := env(p.template, "NOTIFY_KAFKA_INSTANCE_ID")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("%s: NOTIFY_KAFKA_INSTANCE_ID must be the pod's name (fieldRef metadata.name), got %+v", p.owner, e)
	}
	if env(p.template, "NOTIFY_KAFKA_BROKERS") == nil {
		t.Errorf("%s: Kafka expected but NOTIFY_KAFKA_BROKERS unset", p.owner)
	}
}

// checkNames: names are what the API server accepts, and labels are valid.
func checkNames(t *testing.T, objs *Objects) {
	t.Helper()
	check := func(kind string, m metav1.ObjectMeta, dns1035 bool) {
		errs := validation.IsDNS1123Subdomain(m.Name)
		if dns1035 {
			errs = validation.IsDNS1035Label(m.Name)
		}
		if m.Namespace != Release.Namespace {
			errs = append(errs, fmt.Sprintf("namespace %q, want the release's %q", m.Namespace, Release.Namespace))
		}
		for k, v := range m.Labels {
			errs = append(errs, validation.IsQualifiedName(k)...)
			errs = append(errs, validation.IsValidLabelValue(v)...)
		}
		for _, e := range errs {
			t.Errorf("%s %s: %s", kind, m.Name, e)
		}
	}
	for _, o := range objs.StatefulSets {
		check("StatefulSet", o.ObjectMeta, false)
		// The pods' controller-revision-hash label is the name plus 11 characters.
		if len(o.Name) > 52 {
			t.Errorf("StatefulSet %s: name over 52 characters", o.Name)
		}
	}
	for _, o := range objs.Deployments {
		check("Deployment", o.ObjectMeta, false)
	}
	for _, o := range objs.Services {
		check("Service", o.ObjectMeta, true)
	}
	for _, o := range objs.Secrets {
		check("Secret", o.ObjectMeta, false)
	}
	for _, o := range objs.ConfigMaps {
		check("ConfigMap", o.ObjectMeta, false)
	}
	for _, o := range objs.ServiceAccounts {
		check("ServiceAccount", o.ObjectMeta, false)
	}
	for _, o := range objs.PDBs {
		check("PodDisruptionBudget", o.ObjectMeta, false)
	}
	for _, o := range objs.ServiceMonitors {
		check("ServiceMonitor", o.ObjectMeta, false)
	}
}

// TestRefusals: values that cannot work fail the render with a message that says why.
func TestRefusals(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		sets  []string
		want  string
	}{
		{"embedded with two replicas", nil, []string{"replicaCount=2"}, "single-writer"},
		{"no authentication", nil, []string{"auth.existingSecret="}, "no authentication is configured"},
		{"no authentication in postgres mode", []string{"values-postgres.yaml"}, []string{"auth.existingSecret="}, "no authentication is configured"},
		{"existing Secret naming no key", nil, []string{"auth.apiKeysKey="}, "no authentication is configured"},
		{"postgres without connection strings", []string{"values-postgres.yaml"}, []string{"connections.existingSecret="}, "connection strings"},
		{"postgres on an embedded log", []string{"values-postgres.yaml"}, []string{"connections.existingSecret=", "connections.eventStore=embedded", "connections.readModel=postgres://x@db/notify"}, "one event log"},
		{"connection strings in embedded mode", nil, []string{"connections.existingSecret=notify-connections"}, "mode postgres only"},
		{"ServiceMonitor without public metrics", nil, []string{"serviceMonitor.enabled=true"}, "X-Api-Key"},
		{"tokens without an issuer", []string{"values-postgres.yaml"}, []string{"auth.jwt.issuer="}, "issuer and auth.jwt.audience are mandatory"},
		{"an API key instead of its hash", []string{"values-monitoring.yaml"}, []string{"auth.apiKeys[0]=secret-key:admin"}, "never the key itself"},
		{"a short JWT secret", nil, []string{"auth.existingSecret=", "auth.jwtSecret=short", "auth.jwt.issuer=i", "auth.jwt.audience=a"}, "shorter than 32 bytes"},
		{"a secret in settings", nil, []string{"settings.NOTIFY_AUTH_JWT_SECRET=x"}, "is a secret"},
		{"a chart-managed setting in settings", nil, []string{"settings.NOTIFY_HTTP_ADDR=127.0.0.1:8080"}, "set by the chart"},
		{"an unquoted number in settings", nil, []string{"settings.NOTIFY_READY_MAX_LAG=1000000"}, "quote the value"},
		{"one fixed Kafka instance id for two replicas", []string{"values-postgres.yaml"}, []string{"kafka.instanceId=notify-a"}, "fence one another"},
		{"Kafka settings without brokers", nil, []string{"kafka.group=g"}, "kafka.brokers is empty"},
		{"a grace period shorter than the shutdown", nil, []string{"terminationGracePeriodSeconds=10"}, "SIGKILL"},
		{"an unknown mode", nil, []string{"mode=cluster"}, "want embedded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := Values(tc.files, tc.sets...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Render(vals)
			if err == nil {
				t.Fatalf("rendered; want a refusal containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused with %q; want it to say %q", err, tc.want)
			}
			t.Logf("refused %s: %s", tc.name, err)
		})
	}
}

// TestInsecureIsExplicit: with auth.insecure the chart renders without authentication and
// tells the service so (NOTIFY_INSECURE), which is the only way it listens on 0.0.0.0 then.
func TestInsecureIsExplicit(t *testing.T) {
	vals, err := Values(nil, "auth.existingSecret=", "auth.insecure=true")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(vals)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &objs.StatefulSets[0].Spec.Template
	if e := env(tpl, "NOTIFY_INSECURE"); e == nil || e.Value != "true" {
		t.Errorf("NOTIFY_INSECURE %+v, want true", e)
	}
	if env(tpl, "NOTIFY_AUTH_API_KEYS_FILE") != nil || volume(tpl, "auth") != nil {
		t.Errorf("insecure, yet auth files are mounted")
	}
	p := pod{owner: "StatefulSet/" + objs.StatefulSets[0].Name, template: tpl, claims: []string{"data"}}
	vars := podEnv(t, objs, p, t.TempDir())
	if s := runEnvcheck(t, vars); !s.OK || !s.Insecure || s.AuthConfigured {
		t.Errorf("the service on the insecure render: %+v", s)
	}
	// Without NOTIFY_INSECURE the service refuses this environment itself, which is why the
	// chart refuses to render it (TestRefusals, "no authentication").
	delete(vars, "NOTIFY_INSECURE")
	s := runEnvcheck(t, vars)
	if s.OK || !strings.Contains(s.Error, "no authentication is configured") {
		t.Errorf("the service accepts 0.0.0.0 with no authentication: %+v", s)
	}
	t.Logf("without NOTIFY_INSECURE the service refuses it too: %s", s.Error)
}

// TestStrictDecoding: the decoder this suite relies on refuses what the API server would
// drop or refuse: an unknown field, a misplaced one, and an unknown kind.
func TestStrictDecoding(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"misplaced field": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80, containerPort: 80}]}\n",
		"duplicate field": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n",
		"unknown kind":    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\n",
	} {
		o := &Objects{Kinds: map[string]int{}, Manifests: map[string]string{}}
		if err := o.decode("test", doc); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
}

// dump writes the render to $HELM_RENDER_DIR (when set), one file per shipped values file,
// to read what the chart makes: HELM_RENDER_DIR=/tmp/r go test -run TestShippedValues .
func dump(t *testing.T, files []string, objs *Objects) {
	t.Helper()
	dir := os.Getenv("HELM_RENDER_DIR")
	if dir == "" {
		return
	}
	name := "values"
	if len(files) > 0 {
		name = strings.Join(files, "+")
		name = strings.ReplaceAll(strings.TrimSuffix(name, ".yaml"), ".yaml", "")
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(objs.Manifests)) {
		fmt.Fprintf(&b, "---\n# %s\n%s\n", k, objs.Manifests[k])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".rendered.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func env(tpl *corev1.PodTemplateSpec, name string) *corev1.EnvVar {
	for i := range tpl.Spec.Containers[0].Env {
		if e := &tpl.Spec.Containers[0].Env[i]; e.Name == name {
			return e
		}
	}
	return nil
}

func volume(tpl *corev1.PodTemplateSpec, name string) *corev1.Volume {
	for i := range tpl.Spec.Volumes {
		if v := &tpl.Spec.Volumes[i]; v.Name == name {
			return v
		}
	}
	return nil
}

func mountOf(tpl *corev1.PodTemplateSpec, name string) string {
	for _, m := range tpl.Spec.Containers[0].VolumeMounts {
		if m.Name == name {
			return m.MountPath
		}
	}
	return ""
}

// fileSource finds the volume a file path is mounted from, and the key it projects there.
func fileSource(tpl *corev1.PodTemplateSpec, path string) (*corev1.Volume, string) {
	for _, m := range tpl.Spec.Containers[0].VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		v := volume(tpl, m.Name)
		if v == nil || v.Secret == nil {
			return v, ""
		}
		for _, it := range v.Secret.Items {
			if it.Path == rel {
				return v, it.Key
			}
		}
		return nil, ""
	}
	return nil, ""
}

func secretNamed(objs *Objects, name string) *corev1.Secret {
	for _, s := range objs.Secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func containerPort(c *corev1.Container, port intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

func selects(t *testing.T, sel *metav1.LabelSelector, lbls map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return !s.Empty() && s.Matches(labels.Set(lbls))
}

func selectsMap(sel, lbls map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(lbls))
}

func firstBool(ps ...*bool) bool {
	for _, p := range ps {
		if p != nil {
			return *p
		}
	}
	return false
}

func firstInt(ps ...*int64) int64 {
	for _, p := range ps {
		if p != nil {
			return *p
		}
	}
	return -1
}

func kinds(o *Objects) string {
	var parts []string
	for k, n := range o.Kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
