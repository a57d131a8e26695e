package service

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestREADMEConfigTable holds the README's configuration table to the definitions, both
// ways: every row names a setting that exists, with its flag and default, and every setting
// of the service has a row. A row is | `NOTIFY_X` | `--x` | default | meaning |; two settings
// may share one (`A` · `B`). A default in code font is the literal default; one in words
// ("empty", "derived", "system roots") stands for the empty value and says what it means.
// Secrets have "(none: environment only)" for their flag.
func TestREADMEConfigTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")

	// The definitions: the serve command's flags, and the secrets.
	k, err := newParser(&commandLine{}, env(nil), io.Discard, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]*kong.Flag{} // by env
	for _, n := range k.Model.Children {
		if n.Name == "serve" {
			for _, f := range n.Flags {
				defs[f.Tag.Get("env")] = f
			}
		}
	}
	if len(defs) == 0 {
		t.Fatal("no serve command in the grammar")
	}
	secretEnvs := map[string]bool{}
	for _, s := range secrets {
		secretEnvs[s.env] = true
	}

	code := regexp.MustCompile("`([^`]*)`")
	codes := func(cell string) []string {
		var out []string
		for _, m := range code.FindAllStringSubmatch(cell, -1) {
			out = append(out, m[1])
		}
		return out
	}
	documented := map[string]bool{}
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `NOTIFY_") {
			continue
		}
		rows++
		cells := strings.Split(line, " | ")
		if len(cells) != 4 {
			t.Errorf("row %q: want 4 cells, | env | flag | default | meaning |", line)
			continue
		}
		envs, flags, def := codes(cells[0]), codes(cells[1]), strings.TrimSpace(cells[2])
		if cells[1] == "(none: environment only)" {
			for _, e := range envs {
				if !secretEnvs[e] {
					t.Errorf("README: %s is environment only, but it is not among the secrets", e)
				}
				if def != "empty" {
					t.Errorf("README: %s default %q, want empty", e, def)
				}
				documented[e] = true
			}
			continue
		}
		if len(flags) != len(envs) {
			t.Errorf("row %q: %d variables, %d flags", line, len(envs), len(flags))
			continue
		}
		for i, e := range envs {
			f := defs[e]
			switch {
			case documented[e]:
				t.Errorf("README: %s has two rows", e)
			case f == nil:
				t.Errorf("README: %s is not a setting", e)
			case "--"+f.Name != flags[i]:
				t.Errorf("README: %s is %s, want --%s", e, flags[i], f.Name)
			default:
				want := "" // a default in words
				if c := codes(def); len(c) == 1 && def == "`"+c[0]+"`" {
					want = c[0]
				} else if len(c) > 0 {
					t.Errorf("README: %s default %q: one literal in code font, or words", e, def)
				}
				if f.Default != want {
					t.Errorf("README: %s default %q, the definition's %q", e, def, f.Default)
				}
			}
			documented[e] = true
		}
	}
	for e := range defs {
		if !documented[e] {
			t.Errorf("README: no row for %s (--%s)", e, defs[e].Name)
		}
	}
	for e := range secretEnvs {
		if !documented[e] {
			t.Errorf("README: no row for the secret %s", e)
		}
	}
	// The other commands' own settings are described in the text below the table.
	for _, s := range []string{"`--server` / `NOTIFY_SERVER`", "`NOTIFY_ADMIN_KEY` (environment only)", "notify --help"} {
		if !strings.Contains(section, s) {
			t.Errorf("README's Configuration section does not mention %s", s)
		}
	}
	if rows < 40 {
		t.Fatalf("read %d rows of the table", rows)
	}
}
