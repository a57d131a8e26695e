package service

import (
	"io"
	"testing"
)

// /metrics takes an admin key by default; --metrics-public (bare or with a value) or its
// environment twin opens it.
func TestParseConfig_MetricsPublic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"default", nil, nil, false},
		{"bare flag", []string{"--metrics-public"}, nil, true},
		{"environment", nil, map[string]string{"NOTIFY_METRICS_PUBLIC": "true"}, true},
		{"flag over environment", []string{"--metrics-public=false"}, map[string]string{"NOTIFY_METRICS_PUBLIC": "true"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.MetricsPublic != tt.want {
				t.Fatalf("MetricsPublic = %v, want %v", c.MetricsPublic, tt.want)
			}
		})
	}
	if _, err := ParseConfig([]string{"--metrics-public=maybe"}, env(nil), io.Discard); err == nil {
		t.Fatal("--metrics-public=maybe was accepted")
	}
}
