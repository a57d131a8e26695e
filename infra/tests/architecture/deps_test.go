// Package architecture holds the test that keeps the layers apart (docs/ARCHITECTURE.md):
// the domain depends on nothing of ours, the application and projections on nothing of
// infra; the adapters of infra on the inner layers and infra/platform only, never on one
// another's role, nor on the composition root.
package architecture

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/eventnotify/notify"

// TestLayers lists what each inner package depends on (go list -deps, production code: a
// test of app or projections may run against a real adapter) and fails on an outward import.
func TestLayers(t *testing.T) {
	for _, tc := range []struct {
		layer    string
		may      []string // the packages of ours it may import, by prefix
		testsToo bool
	}{
		{layer: "domain", may: []string{"domain/"}, testsToo: true},
		{layer: "app", may: []string{"domain/", "app", "projections"}},
		{layer: "projections", may: []string{"domain/", "app/eventstore", "projections"}},
		{layer: "infra/store", may: []string{"domain/", "app", "projections", "infra/store/", "infra/platform/"}},
		{layer: "infra/readmodel", may: []string{"domain/", "app", "projections", "infra/readmodel/", "infra/platform/"}},
		{layer: "infra/transport", may: []string{"domain/", "app", "projections", "infra/transport/", "infra/platform/"}},
		// metrics reads the Kafka subscriber's partition stats (WatchConsumer).
		{layer: "infra/platform", may: []string{"domain/", "app", "projections", "infra/platform/", "infra/transport/kafkasub"}},
	} {
		t.Run(tc.layer, func(t *testing.T) {
			for pkg, deps := range depsOf(t, "./"+tc.layer+"/...", tc.testsToo) {
				for _, d := range deps {
					if !allowed(d, tc.may) {
						t.Errorf("%s imports %s: the %s layer may import only %v of this module", pkg, d, tc.layer, tc.may)
					}
				}
			}
		})
	}
}

func allowed(dep string, may []string) bool {
	rel := strings.TrimPrefix(dep, module+"/")
	for _, m := range may {
		if strings.HasPrefix(rel, m) {
			return true
		}
	}
	return false
}

// depsOf maps each package matched by pattern to the packages of this module it depends on,
// directly or not.
func depsOf(t *testing.T, pattern string, tests bool) map[string][]string {
	t.Helper()
	args := []string{"list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}
	if tests {
		args = append(args, "-test")
	}
	cmd := exec.Command("go", append(args, pattern)...)
	cmd.Dir = "../../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		var ours []string
		for _, d := range fields[1:] {
			if strings.HasPrefix(d, module+"/") {
				ours = append(ours, d)
			}
		}
		deps[fields[0]] = ours
	}
	if len(deps) == 0 {
		t.Fatalf("go list %s matched no package", pattern)
	}
	return deps
}
