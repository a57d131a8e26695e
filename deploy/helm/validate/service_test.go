package validate

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The service's own configuration parser, run on what the chart renders: envcheck
// (deploy/helm/envcheck, in the service's module) is built once from the repository.

// repoRoot is the service's module, relative to this package.
const repoRoot = "../../.."

var envcheck = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "envcheck")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "envcheck")
	cmd := exec.Command("go", "build", "-o", bin, "./deploy/helm/envcheck")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string {
	return "go build ./deploy/helm/envcheck: " + e.err.Error() + "\n" + e.out
}

func envcheckBin(t *testing.T) string {
	t.Helper()
	bin, err := envcheck()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// knownSettings is every NOTIFY_* name the service has a flag (and so an env twin) for.
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(envcheckBin(t), "-names").Output()
	if err != nil {
		t.Fatalf("envcheck -names: %v", err)
	}
	known := map[string]bool{}
	for _, n := range strings.Fields(string(out)) {
		known[n] = true
	}
	if len(known) < 40 {
		t.Fatalf("the service lists only %d NOTIFY_* settings: has its usage text changed?", len(known))
	}
	return known
}

// summary is envcheck's answer (see deploy/helm/envcheck).
type summary struct {
	OK              bool   `json:"ok"`
	Error           string `json:"error"`
	HTTPAddr        string `json:"httpAddr"`
	DataDir         string `json:"dataDir"`
	EventStore      string `json:"eventStore"`
	ReadModel       string `json:"readModel"`
	AuthConfigured  bool   `json:"authConfigured"`
	APIKeys         int    `json:"apiKeys"`
	JWTSecret       bool   `json:"jwtSecret"`
	JWKS            bool   `json:"jwks"`
	Insecure        bool   `json:"insecure"`
	MetricsPublic   bool   `json:"metricsPublic"`
	KafkaBrokers    int    `json:"kafkaBrokers"`
	KafkaInstanceID string `json:"kafkaInstanceId"`
	ShutdownTimeout string `json:"shutdownTimeout"`
	LogFormat       string `json:"logFormat"`
}

// samplePodName is what the downward API would give a pod of this owner.
func samplePodName(p pod) string {
	kind, name, _ := strings.Cut(p.owner, "/")
	if kind == "StatefulSet" {
		return name + "-0"
	}
	return name + "-6b8f7c9d5f-x2x9z" // a Deployment's pods: ReplicaSet hash and a suffix
}

// podEnv is the environment the container would get: literals as they are, secretKeyRef from
// the chart's Secret or a sample for an existing one, fieldRef metadata.name a sample pod name,
// and every mounted Secret or ConfigMap file written under root, its path moved there.
func podEnv(t *testing.T, objs *Objects, p pod, root string) map[string]string {
	t.Helper()
	c := p.template.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		v := volume(p.template, m.Name)
		if v == nil && slices.Contains(p.claims, m.Name) {
			continue // the StatefulSet's volume claim
		}
		if v == nil {
			t.Fatalf("%s: mount %s has no volume", p.owner, m.Name)
		}
		var items []corev1.KeyToPath
		var data func(key string) string
		switch {
		case v.Secret != nil:
			items = v.Secret.Items
			s := secretNamed(objs, v.Secret.SecretName)
			data = func(key string) string {
				if s != nil {
					return string(s.Data[key])
				}
				return sampleSecretFile(t, key)
			}
		case v.ConfigMap != nil:
			items = v.ConfigMap.Items
			data = func(key string) string {
				for _, cm := range objs.ConfigMaps {
					if cm.Name == v.ConfigMap.Name {
						return cm.Data[key]
					}
				}
				t.Fatalf("%s: ConfigMap %s is not rendered", p.owner, v.ConfigMap.Name)
				return ""
			}
		default:
			continue
		}
		for _, it := range items {
			path := filepath.Join(root, m.MountPath, it.Path)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(data(it.Key)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
			if strings.HasPrefix(e.Value, "/etc/notify/") {
				env[e.Name] = filepath.Join(root, e.Value)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if s := secretNamed(objs, ref.Name); s != nil {
				env[e.Name] = string(s.Data[ref.Key])
			} else {
				env[e.Name] = sampleSecretValue(t, e.Name)
			}
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = samplePodName(p)
		default:
			t.Fatalf("%s: env %s: no sample for %+v", p.owner, e.Name, e.ValueFrom)
		}
	}
	return env
}

// sampleSecretFile is valid content for a file of an existing Secret (the operator's).
func sampleSecretFile(t *testing.T, key string) string {
	t.Helper()
	switch key {
	case "api-keys":
		return "# a sample entry\n" + strings.Repeat("ab", 32) + ":send+admin\n"
	case "jwt-secret":
		return strings.Repeat("0123456789abcdef", 4) + "\n"
	case "password":
		return "sample-password\n"
	}
	t.Fatalf("no sample content for an existing Secret's key %q", key)
	return ""
}

func sampleSecretValue(t *testing.T, env string) string {
	t.Helper()
	switch env {
	case "NOTIFY_EVENT_STORE":
		return "esdb://admin:changeit@eventstore:2113?tls=false"
	case "NOTIFY_READ_MODEL":
		return "postgres://notify:pass@postgres:5432/notify"
	}
	t.Fatalf("no sample value for %s from an existing Secret", env)
	return ""
}

func runEnvcheck(t *testing.T, env map[string]string) summary {
	t.Helper()
	in, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(envcheckBin(t))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("envcheck: %v", err)
	}
	var s summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("envcheck said %q: %v", out, err)
	}
	return s
}

// checkServiceAccepts: the service's parser takes the pod's environment, and it means what
// the values file says.
func checkServiceAccepts(t *testing.T, objs *Objects, p pod, mode string, monitor, kafka bool) {
	t.Helper()
	s := runEnvcheck(t, podEnv(t, objs, p, t.TempDir()))
	if !s.OK {
		t.Fatalf("%s: the service refuses its environment: %s", p.owner, s.Error)
	}
	want := map[string]string{"embedded": "embedded/embedded", "postgres": "esdb/postgres"}[mode]
	if got := s.EventStore + "/" + s.ReadModel; got != want {
		t.Errorf("%s: the service would run on %s, want %s", p.owner, got, want)
	}
	if !s.AuthConfigured || s.Insecure {
		t.Errorf("%s: the service sees authConfigured=%v insecure=%v", p.owner, s.AuthConfigured, s.Insecure)
	}
	if s.HTTPAddr != "0.0.0.0:8080" || s.DataDir != "/data" || s.LogFormat != "json" {
		t.Errorf("%s: the service would listen on %s with data in %s, logging %s", p.owner, s.HTTPAddr, s.DataDir, s.LogFormat)
	}
	if s.MetricsPublic != monitor {
		t.Errorf("%s: metrics public %v, want %v", p.owner, s.MetricsPublic, monitor)
	}
	if kafka && (s.KafkaBrokers == 0 || s.KafkaInstanceID != samplePodName(p)) {
		t.Errorf("%s: Kafka brokers %d, static member id %q; want brokers and the pod's name %q", p.owner, s.KafkaBrokers, s.KafkaInstanceID, samplePodName(p))
	}
	t.Logf("service accepts %s: %s on %s/%s, %d API keys, HS256 secret %v, JWKS %v, metrics public %v, Kafka member %q",
		p.owner, s.HTTPAddr, s.EventStore, s.ReadModel, s.APIKeys, s.JWTSecret, s.JWKS, s.MetricsPublic, s.KafkaInstanceID)
}
