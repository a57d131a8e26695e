package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/infra/platform/metrics"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// scrape is one GET /metrics over HTTP, parsed.
type scrape map[string]*dto.MetricFamily

func (a api) scrape(t *testing.T, headers ...string) scrape {
	t.Helper()
	r := a.do(t, "GET", "/metrics", "", "", headers...)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// value returns the counter, gauge, or histogram sample count of the series with exactly
// these labels (name=value pairs), and whether there is one.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f, ok := s[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				if labels[i] == l.GetName() && labels[i+1] == l.GetValue() {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func (s scrape) want(t *testing.T, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := s.value(name, labels...)
	if !ok || got != v {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
	}
}

// After a few requests and commands over HTTP, the scrape shows them under route templates,
// by outcome, with the appends they made, and the projection gauges agree with the log.
func TestMetrics_ScrapeShowsRequestsCommandsAppendsAndLag(t *testing.T) {
	t.Parallel()
	a := start(t)
	sent := a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"m-1","content":"hello there","category":"c"}`)
	var n struct{ Notification struct{ ID string } }
	json.Unmarshal([]byte(sent.body), &n)
	a.do(t, "POST", "/notifications", jsonCT, `{"recipientId":"m-1","content":"hey","category":"c"}`) // invalid
	a.do(t, "PATCH", "/notifications/"+n.Notification.ID+"/read", "", "")                             // ok
	read := a.do(t, "PATCH", "/notifications/"+n.Notification.ID+"/read", "", "")                     // unchanged
	a.do(t, "PATCH", "/notifications/00000000-0000-4000-8000-000000000000/cancel", "", "")            // not_found
	a.waitFor(t, read)
	for _, who := range []string{"m-1", "m-2", "m-3"} { // three recipients, one route template
		a.do(t, "GET", "/notifications/count/from/"+who, "", "")
	}
	a.do(t, "GET", "/nothing-here", "", "")

	s := a.scrape(t)
	const reqs, dur = "notify_http_requests_total", "notify_http_request_duration_seconds"
	s.want(t, 3, reqs, "route", "/notifications/count/from/:recipientId", "method", "GET", "code", "200")
	s.want(t, 3, dur, "route", "/notifications/count/from/:recipientId", "method", "GET", "class", "2xx")
	s.want(t, 1, reqs, "route", "/notifications", "method", "POST", "code", "201")
	s.want(t, 1, reqs, "route", "/notifications", "method", "POST", "code", "400")
	s.want(t, 2, reqs, "route", "/notifications/:id/read", "method", "PATCH", "code", "200")
	s.want(t, 1, reqs, "route", "/notifications/:id/cancel", "method", "PATCH", "code", "404")
	s.want(t, 1, dur, "route", "/notifications/:id/cancel", "method", "PATCH", "class", "4xx")
	s.want(t, 1, reqs, "route", "unmatched", "method", "GET", "code", "404")
	for _, m := range s[reqs].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && (strings.Contains(l.GetValue(), "m-1") || strings.Contains(l.GetValue(), n.Notification.ID)) {
				t.Errorf("a raw path leaked into the route label: %s", l.GetValue())
			}
		}
	}

	const cmds = "notify_commands_total"
	s.want(t, 1, cmds, "command", "send", "outcome", "ok")
	s.want(t, 1, cmds, "command", "send", "outcome", "invalid")
	s.want(t, 1, cmds, "command", "read", "outcome", "ok")
	s.want(t, 1, cmds, "command", "read", "outcome", "unchanged")
	s.want(t, 1, cmds, "command", "cancel", "outcome", "not_found")
	s.want(t, 0, cmds, "command", "unread", "outcome", "ok") // declared up front, at zero
	s.want(t, 2, "notify_command_duration_seconds", "command", "read")

	s.want(t, 2, "notify_eventstore_appends_total", "outcome", "ok") // send and the first read
	s.want(t, 2, "notify_eventstore_appended_events_total")
	s.want(t, 2, "notify_eventstore_append_duration_seconds")

	head, okH := s.value("notify_log_head_position")
	pos, okP := s.value("notify_projection_position", "projection", "inbox")
	lag, okL := s.value("notify_projection_lag", "projection", "inbox")
	if !okH || !okP || !okL || head < 2 || lag != head-pos {
		t.Errorf("head %v (%v), position %v (%v), lag %v (%v): want all present, head >= 2 and lag = head - position", head, okH, pos, okP, lag, okL)
	}
	if uint64(head) != uint64(a.log.Head()) {
		t.Errorf("head gauge %v, the log's head %d", head, a.log.Head())
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := s[name]; !ok {
			t.Errorf("%s is missing: the Go and process collectors are not registered", name)
		}
	}
}

// With authentication on, /metrics takes an admin key unless the operator made it public.
func TestMetrics_PublicWhenConfigured(t *testing.T) {
	t.Parallel()
	keys, err := auth.ParseAPIKeys(auth.HashKey(adminKey) + ":admin")
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{APIKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	for _, public := range []bool{false, true} {
		e := httpapi.New(app.Application{}, httpapi.Options{Metrics: metrics.New(nil), MetricsPublic: public, Security: httpapi.Security{Auth: authn}})
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		want := http.StatusUnauthorized
		if public {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("anonymous GET /metrics with MetricsPublic=%v = %d, want %d", public, rec.Code, want)
		}
	}
}
