// Package validate loads deploy/compose.yaml the way Docker Compose does (compose-go, the
// library Compose itself is built on, with the Compose Specification's schema) and checks
// the shape the README and deploy/image/README.md promise. Compose cannot run on the project's
// machines (no Docker engine, and containers cannot run there), so this is how far the file
// is verified here. It is a module of its own so the service does not depend on compose-go:
//
//	cd deploy/compose/validate && go test ./...
package validate

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	deployDir = "../.." // deploy/, where compose.yaml and the Dockerfile are
	repoRoot  = "../../.."
	keysFile  = "/run/secrets/notify_api_keys"
)

var (
	notifyServices = []string{"notify-1", "notify-2", "notify-embedded"}
	fullServices   = []string{"eventstore", "kafka", "notify-1", "notify-2", "postgres"}
)

// load reads compose.yaml from dir as `docker compose -f dir/compose.yaml --profile …` would:
// schema validation, interpolation (with an empty environment, so the shell's variables do not
// leak in), normalization, consistency checks (every service, volume and secret a service
// names exists), env files read, paths resolved against dir.
func load(t *testing.T, dir string, profiles ...string) *types.Project {
	t.Helper()
	p, err := loadErr(dir, profiles...)
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func loadErr(dir string, profiles ...string) (*types.Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(abs, "compose.yaml")}},
		Environment: types.Mapping{},
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.Profiles = profiles
		o.ResolvePaths = true
	})
}

func TestLayouts(t *testing.T) {
	full := load(t, deployDir)
	if full.Name != "notify" {
		t.Errorf("project name %q, want notify", full.Name)
	}
	if got := full.ServiceNames(); !slices.Equal(got, fullServices) {
		t.Errorf("default (full) layout runs %v, want %v", got, fullServices)
	}
	if got := full.DisabledServiceNames(); !slices.Equal(got, []string{"notify-embedded"}) {
		t.Errorf("default layout leaves out %v, want only notify-embedded", got)
	}
	embedded := load(t, deployDir, "embedded")
	if _, ok := embedded.Services["notify-embedded"]; !ok {
		t.Errorf("profile embedded does not enable notify-embedded: %v", embedded.ServiceNames())
	}
	if s := embedded.Services["notify-embedded"]; len(s.DependsOn) != 0 {
		t.Errorf("notify-embedded depends on %v; it needs nothing else", s.DependsOn)
	}
}

// The loader is strict: a misspelt attribute is an error, not ignored. Shown on a copy.
func TestLoaderRefusesUnknownAttributes(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(src), "  read_only: true", "  read_onyl: true", 1)
	if bad == string(src) {
		t.Fatal("compose.yaml has no read_only: true to misspell")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadErr(dir); err == nil || !strings.Contains(err.Error(), "read_onyl") {
		t.Fatalf("a misspelt attribute loaded: %v", err)
	}
}

func TestPublishedPortsOnLoopbackOnly(t *testing.T) {
	p := load(t, deployDir, "*")
	published := map[string]string{}
	for _, name := range p.ServiceNames() {
		for _, port := range p.Services[name].Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s:%d on %q; every published port must be on 127.0.0.1", name, port.Published, port.Target, port.HostIP)
			}
			if other, dup := published[port.Published]; dup {
				t.Errorf("%s and %s both publish host port %s", other, name, port.Published)
			}
			published[port.Published] = name
		}
	}
}

// Every notify service runs the image as built, with the settings the image check proved:
// its user (no override), a read-only root, the key file from the secret, /data on a volume
// of its own, the API on the image's port.
func TestNotifyServices(t *testing.T) {
	p := load(t, deployDir, "*")
	df := readFile(t, filepath.Join(deployDir, "Dockerfile"))
	for _, want := range []string{"USER 65532:65532", "NOTIFY_HTTP_ADDR=0.0.0.0:8080", "EXPOSE 8080", "VOLUME /data", `ENTRYPOINT ["/notify"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile lacks %q, which compose.yaml relies on", want)
		}
	}
	known := documentedSettings(t)
	dataVolumes := map[string]string{}
	absRoot, _ := filepath.Abs(repoRoot)
	absDeploy, _ := filepath.Abs(deployDir)
	for _, name := range notifyServices {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.Build == nil || s.Build.Context != absRoot || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build %+v, want the repository root with deploy/Dockerfile", name, s.Build)
		}
		if s.Image != "localhost/notify:latest" {
			t.Errorf("%s: image %q, want localhost/notify:latest (deploy/image/build.sh's name)", name, s.Image)
		}
		if s.User != "" {
			t.Errorf("%s: user %q overrides the image's 65532:65532", name, s.User)
		}
		if !s.ReadOnly {
			t.Errorf("%s: root filesystem not read-only", name)
		}
		if !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: cap_drop %v, want [ALL]", name, s.CapDrop)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt %v lacks no-new-privileges:true", name, s.SecurityOpt)
		}
		if s.Privileged || s.NetworkMode == "host" {
			t.Errorf("%s: privileged or on the host's network", name)
		}
		if len(s.Secrets) != 1 || s.Secrets[0].Source != "notify_api_keys" {
			t.Errorf("%s: secrets %+v, want notify_api_keys", name, s.Secrets)
		}
		if v := env(s, "NOTIFY_AUTH_API_KEYS_FILE"); v != keysFile {
			t.Errorf("%s: NOTIFY_AUTH_API_KEYS_FILE=%q, want %s (where compose mounts the secret)", name, v, keysFile)
		}
		for k := range s.Environment {
			if !known[k] {
				t.Errorf("%s: %s is not a setting in the README's Configuration table", name, k)
			}
			if k == "NOTIFY_INSECURE" || k == "NOTIFY_HTTP_ADDR" || k == "NOTIFY_DATA_DIR" || k == "NOTIFY_AUTH_API_KEYS" {
				t.Errorf("%s: sets %s; the image's value (or the secret) is the one checked", name, k)
			}
		}
		if len(s.EnvFiles) != 1 || s.EnvFiles[0].Path != filepath.Join(absDeploy, "compose", "notify.env") || bool(s.EnvFiles[0].Required) {
			t.Errorf("%s: env_file %+v, want deploy/compose/notify.env, not required", name, s.EnvFiles)
		}
		if len(s.Ports) != 1 || s.Ports[0].Target != 8080 {
			t.Errorf("%s: ports %+v, want one, to the image's 8080", name, s.Ports)
		}
		var data []types.ServiceVolumeConfig
		for _, v := range s.Volumes {
			if v.Target == "/data" {
				data = append(data, v)
			}
		}
		if len(data) != 1 || data[0].Type != types.VolumeTypeVolume {
			t.Errorf("%s: /data is %+v, want one named volume", name, data)
		} else if other, dup := dataVolumes[data[0].Source]; dup {
			t.Errorf("%s and %s share the volume %s: each instance needs its own data dir", other, name, data[0].Source)
		} else {
			dataVolumes[data[0].Source] = name
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= 15*time.Second {
			t.Errorf("%s: stop_grace_period %v, want more than the service's 15s shutdown timeout", name, s.StopGracePeriod)
		}
	}
	if sec, ok := p.Secrets["notify_api_keys"]; !ok || sec.File != filepath.Join(absDeploy, "compose", "api-keys") {
		t.Errorf("secret notify_api_keys: %+v, want the file deploy/compose/api-keys", p.Secrets["notify_api_keys"])
	}
}

// The full layout's replicas share EventStoreDB, PostgreSQL and Kafka, each with its own
// static Kafka member id; the embedded one keeps everything in /data.
func TestReplicasAndEmbedded(t *testing.T) {
	p := load(t, deployDir, "*")
	ids := map[string]string{}
	for _, name := range []string{"notify-1", "notify-2"} {
		s := p.Services[name]
		if v := env(s, "NOTIFY_EVENT_STORE"); !strings.HasPrefix(v, "esdb://eventstore:") {
			t.Errorf("%s: NOTIFY_EVENT_STORE=%q, want esdb://eventstore:…", name, v)
		}
		if v := env(s, "NOTIFY_READ_MODEL"); !strings.HasPrefix(v, "postgres://") || !strings.Contains(v, "@postgres:5432/") {
			t.Errorf("%s: NOTIFY_READ_MODEL=%q, want postgres://…@postgres:5432/…", name, v)
		}
		if v := env(s, "NOTIFY_KAFKA_BROKERS"); v != "kafka:9092" {
			t.Errorf("%s: NOTIFY_KAFKA_BROKERS=%q, want kafka:9092 (the broker's INTERNAL listener)", name, v)
		}
		id := env(s, "NOTIFY_KAFKA_INSTANCE_ID")
		if !regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`).MatchString(id) || id == "none" {
			t.Errorf("%s: NOTIFY_KAFKA_INSTANCE_ID=%q, want a static member id", name, id)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share the Kafka instance id %q", other, name, id)
		}
		ids[id] = name
		for _, dep := range []string{"eventstore", "kafka", "postgres"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: depends_on %s %+v, want service_healthy", name, dep, d)
			}
			if p.Services[dep].HealthCheck == nil && dep != "eventstore" { // eventstore's image has its own
				t.Errorf("%s has no health check for %s to wait for", dep, name)
			}
		}
	}
	e := p.Services["notify-embedded"]
	for _, k := range []string{"NOTIFY_EVENT_STORE", "NOTIFY_READ_MODEL", "NOTIFY_KAFKA_BROKERS"} {
		if v, set := e.Environment[k]; set {
			t.Errorf("notify-embedded sets %s=%v; the embedded layout uses the defaults", k, deref(v))
		}
	}
	if !slices.Equal(e.Profiles, []string{"embedded"}) {
		t.Errorf("notify-embedded profiles %v, want [embedded]", e.Profiles)
	}
}

// The env-file route: notify.env.example with a key line added, as its comments say, loads
// into each notify service's environment; compose.yaml's own settings win over it.
func TestEnvFileExample(t *testing.T) {
	example := filepath.Join(deployDir, "compose", "notify.env.example")
	vars, err := dotenv.Read(example)
	if err != nil {
		t.Fatalf("notify.env.example does not parse as an env file: %v", err)
	}
	known := documentedSettings(t)
	for k := range vars {
		if !known[k] {
			t.Errorf("notify.env.example sets %s, not a setting in the README's Configuration table", k)
		}
		if k == "NOTIFY_AUTH_API_KEYS" || strings.Contains(k, "SECRET") {
			t.Errorf("notify.env.example sets the credential %s; it must only show how", k)
		}
	}
	commented := regexp.MustCompile(`(?m)^# (NOTIFY_[A-Z_]+)=`).FindAllStringSubmatch(readFile(t, example), -1)
	for _, m := range commented {
		if !known[m[1]] {
			t.Errorf("notify.env.example mentions %s, not a setting in the README's Configuration table", m[1])
		}
	}

	dir := t.TempDir()
	copyFile(t, filepath.Join(deployDir, "compose.yaml"), filepath.Join(dir, "compose.yaml"))
	if err := os.Mkdir(filepath.Join(dir, "compose"), 0o755); err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("ab", 32)
	envFile := readFile(t, example) + "NOTIFY_AUTH_API_KEYS=" + hash + ":send\nNOTIFY_KAFKA_INSTANCE_ID=from-the-env-file\n"
	if err := os.WriteFile(filepath.Join(dir, "compose", "notify.env"), []byte(envFile), 0o600); err != nil {
		t.Fatal(err)
	}
	p := load(t, dir, "*")
	for _, name := range notifyServices {
		s := p.Services[name]
		if v := env(s, "NOTIFY_AUTH_API_KEYS"); v != hash+":send" {
			t.Errorf("%s: NOTIFY_AUTH_API_KEYS from the env file = %q", name, v)
		}
		for k, v := range vars {
			if env(s, k) != v {
				t.Errorf("%s: %s = %q, want the env file's %q", name, k, env(s, k), v)
			}
		}
	}
	if v := env(p.Services["notify-1"], "NOTIFY_KAFKA_INSTANCE_ID"); v != "notify-1" {
		t.Errorf("notify-1: NOTIFY_KAFKA_INSTANCE_ID = %q: the env file won over compose.yaml", v)
	}
}

// documentedSettings is every NOTIFY_* name in the README's Configuration table.
func documentedSettings(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, line := range strings.Split(readFile(t, filepath.Join(repoRoot, "README.md")), "\n") {
		if strings.HasPrefix(line, "| `NOTIFY_") {
			cell, _, _ := strings.Cut(line[1:], "|")
			for _, m := range regexp.MustCompile("`(NOTIFY_[A-Z_]+)`").FindAllStringSubmatch(cell, -1) {
				known[m[1]] = true
			}
		}
	}
	if len(known) < 40 {
		t.Fatalf("found only %d settings in README.md's Configuration table", len(known))
	}
	return known
}

func env(s types.ServiceConfig, k string) string { return deref(s.Environment[k]) }

func deref(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, []byte(readFile(t, from)), 0o644); err != nil {
		t.Fatal(err)
	}
}
