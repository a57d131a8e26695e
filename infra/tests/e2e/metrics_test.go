package e2e_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metric reads one series from the binary's /metrics: the counter or gauge value of the
// series of name with exactly these labels (name=value pairs).
func (s *service) metric(t *testing.T, name string, labels ...string) (float64, error) {
	t.Helper()
	code, _, b := s.do(t, "GET", "/metrics", "")
	if code != 200 {
		return 0, fmt.Errorf("GET /metrics = %d %s", code, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		return 0, err
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			continue
		}
		if m.Counter != nil {
			return m.GetCounter().GetValue(), nil
		}
		return m.GetGauge().GetValue(), nil
	}
	return 0, fmt.Errorf("no series %s%v in the scrape", name, labels)
}

// wantMetric fails unless the series has the value.
func (s *service) wantMetric(t *testing.T, v float64, name string, labels ...string) {
	t.Helper()
	got, err := s.metric(t, name, labels...)
	if err != nil || got != v {
		t.Errorf("%s%v = %v (%v), want %v", name, labels, got, err, v)
	}
}
