package metrics_test

import (
	"errors"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventnotify/notify/infra/platform/metrics"
)

// The scrape is OpenMetrics when the scraper asks for it, the Prometheus text format otherwise.
func TestHandler_OpenMetricsWhenAsked(t *testing.T) {
	t.Parallel()
	h := metrics.New(quiet()).Handler()
	for _, tt := range []struct{ accept, want string }{
		{"", "text/plain; version=0.0.4"},
		{"application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5", "application/openmetrics-text; version=1.0.0"},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.want) {
			t.Errorf("Accept %q: Content-Type %q, want %q", tt.accept, ct, tt.want)
		}
		if tt.accept != "" && !strings.HasSuffix(rec.Body.String(), "# EOF\n") {
			t.Errorf("an OpenMetrics scrape does not end with # EOF")
		}
	}
}

func TestBuildInfo_NamesTheGoRelease(t *testing.T) {
	t.Parallel()
	fams, err := metrics.New(quiet()).Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "notify_build_info" {
			continue
		}
		m := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if m.GetGauge().GetValue() != 1 || labels["go_version"] != runtime.Version() || labels["version"] == "" || labels["revision"] == "" {
			t.Fatalf("notify_build_info %v = %v", labels, m.GetGauge().GetValue())
		}
		return
	}
	t.Fatal("no notify_build_info")
}

// Every reason of every command topic shows from the start, at 0; poisons and retries count.
func TestKafkaCommands_PoisonedByReasonAndRetries(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	r.KafkaCommandTopics([]string{"send", "commands"}, []string{"malformed", "invalid"})
	r.Poisoned("commands", "malformed")
	r.Poisoned("commands", "malformed")
	r.Retried("send")
	want := `
# HELP notify_kafka_commands_poisoned_total Commands parked on the poison topic, by the topic they came from and the kind of reason: malformed, too_large, unknown_type, invalid, not_found, conflict, panic, other.
# TYPE notify_kafka_commands_poisoned_total counter
notify_kafka_commands_poisoned_total{reason="invalid",topic="commands"} 0
notify_kafka_commands_poisoned_total{reason="invalid",topic="send"} 0
notify_kafka_commands_poisoned_total{reason="malformed",topic="commands"} 2
notify_kafka_commands_poisoned_total{reason="malformed",topic="send"} 0
# HELP notify_kafka_command_retries_total Transient failures of commands from Kafka, each followed by another attempt (a retry with backoff or, after the retries, a redelivery), by topic.
# TYPE notify_kafka_command_retries_total counter
notify_kafka_command_retries_total{topic="commands"} 0
notify_kafka_command_retries_total{topic="send"} 1
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_kafka_commands_poisoned_total", "notify_kafka_command_retries_total"); err != nil {
		t.Fatal(err)
	}
}

func TestWatchStreamsAndRelay(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	open := 3
	r.WatchStreams(func() int { return open })
	r.WatchLog(at(10), nil, time.Second)
	r.WatchRelay(at(10), at(4), "events", time.Second)
	want := `
# HELP notify_sse_streams Live streams (Server-Sent Events) open now, over all recipients.
# TYPE notify_sse_streams gauge
notify_sse_streams 3
# HELP notify_kafka_relay_position Log position up to which the relay has published events to Kafka (its checkpoint; shared by the instances of one read model).
# TYPE notify_kafka_relay_position gauge
notify_kafka_relay_position{topic="events"} 4
# HELP notify_kafka_relay_lag How far the relay is behind the log head, in log positions.
# TYPE notify_kafka_relay_lag gauge
notify_kafka_relay_lag{topic="events"} 6
# HELP notify_log_head_position Position of the last event in the global log (filtered to notification streams on EventStoreDB).
# TYPE notify_log_head_position gauge
notify_log_head_position 10
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_sse_streams", "notify_kafka_relay_position", "notify_kafka_relay_lag", "notify_log_head_position"); err != nil {
		t.Fatal(err)
	}
}

// Each failed JWKS refresh counts once; the counter shows at 0 before any.
func TestJWKSRefreshFailures_Counted(t *testing.T) {
	t.Parallel()
	r := metrics.New(quiet())
	failed := r.JWKSRefreshFailures()
	if n, err := testutil.GatherAndCount(r.Gatherer(), "notify_auth_jwks_refresh_failures_total"); err != nil || n != 1 {
		t.Fatalf("series before any failure: %d, %v; want the counter at 0", n, err)
	}
	failed(errors.New("connection refused"))
	failed(errors.New("status 500"))
	const want = `
# HELP notify_auth_jwks_refresh_failures_total Fetches of the JWKS URL after the first that failed; tokens are then verified with the keys fetched before.
# TYPE notify_auth_jwks_refresh_failures_total counter
notify_auth_jwks_refresh_failures_total 2
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want), "notify_auth_jwks_refresh_failures_total"); err != nil {
		t.Fatal(err)
	}
}
