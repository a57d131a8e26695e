package service

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/infra/platform/tracing"
)

// tracedService runs the whole service in this process, on the embedded stores, the
// in-process Kafka broker (kfake; a real one when KAFKA_BROKERS is set) and a span recorder.
type tracedService struct {
	base   string
	spans  *tracetest.SpanRecorder
	topics map[string]string
	client *kgo.Client
	logs   *lockedWriter
}

// lockedWriter is a log sink the service writes to while the test reads it.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (s *tracedService) logText() string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return s.logs.b.String()
}

func startTraced(t *testing.T) *tracedService {
	t.Helper()
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers = strings.Join(c.ListenAddrs(), ",")
	}
	p := "trace" + uuid.NewString()[:8] + "."
	topics := map[string]string{"send": p + "send", "commands": p + "commands", "events": p + "events", "poison": p + "poison"}
	// A topic just created may be missing from the metadata for a moment: retry it until
	// the deadline rather than franz-go's default of 4 times.
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.AllowAutoTopicCreation(), kgo.UnknownTopicRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	warmCtx, cancelWarm := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelWarm()
	for _, topic := range topics { // the topics exist before the service subscribes
		if err := client.ProduceSync(warmCtx, &kgo.Record{Topic: topic, Key: []byte("warmup"), Value: []byte(`{"warmup":true}`)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := ParseConfig([]string{"--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--access-log",
		"--kafka-brokers", brokers, "--kafka-group", p + "group", "--kafka-topic-send", topics["send"],
		"--kafka-topic-commands", topics["commands"], "--kafka-topic-events", topics["events"], "--kafka-topic-poison", topics["poison"],
		// Dynamic membership: a static member that stops during a rebalance (the two topics'
		// members join one group) leaves the other waiting for the session timeout, 45 s.
		"--kafka-instance-id", "none",
	}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := tracing.NewProvider(rec, 1)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg.Tracer = tp
	logs := &lockedWriter{}
	logger := slog.New(tracing.LogHandler(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Build(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	base := "http://" + c.ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
	})
	s := &tracedService{base: base, spans: rec, topics: topics, client: client, logs: logs}
	s.eventually(t, "the service is ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	s.eventually(t, "the consumers have their partitions", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `topic="`+topics["send"]+`"`) && strings.Contains(string(b), `topic="`+topics["commands"]+`"`)
	})
	return s
}

func (s *tracedService) eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// stream opens recipient's live stream and returns a channel of the event names it sends.
func (s *tracedService) stream(t *testing.T, recipient string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/recipients/"+recipient+"/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", resp.Status)
	}
	events := make(chan string, 16)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok && strings.HasPrefix(name, "notification.") {
				events <- name
			}
		}
	}()
	return events
}

// trace returns the ended spans of trace id, by name.
func (s *tracedService) trace(id trace.TraceID) map[string]sdktrace.ReadOnlySpan {
	out := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range s.spans.Ended() {
		if sp.SpanContext().TraceID() == id {
			out[sp.Name()] = sp
		}
	}
	return out
}

func (s *tracedService) waitSpans(t *testing.T, id trace.TraceID, names ...string) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	var got map[string]sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = s.trace(id)
		missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { _, ok := got[n]; return ok })
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s lacks the spans %q; it has %q", id, missing, slices.Sorted(mapsKeys(got)))
		}
	}
}

func mapsKeys(m map[string]sdktrace.ReadOnlySpan) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// caller is the span of whoever sent the command: its context travels in the traceparent.
func caller(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, sid := trace.TraceID(uuid.New()), trace.SpanID{}
	copy(sid[:], uuid.New().NodeID()[:6])
	sid[7] = 1
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

func traceparent(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
}

// One Kafka command is one trace: the consumer span continues the producer's traceparent,
// and the command, its append, the projection's fold, the relay's publish and the live
// stream's delivery are spans of it; the event published to the events topic carries a
// traceparent of that trace.
func TestTrace_KafkaCommandIsOneTrace(t *testing.T) {
	t.Parallel()
	s := startTraced(t)
	recipient := "r-" + uuid.NewString()[:8]
	live := s.stream(t, recipient)
	up := caller(t)
	cmd := fmt.Sprintf(`{"type":"SendNotification","commandId":"%s","recipientId":"%s","content":"your order shipped","category":"orders"}`, uuid.NewString(), recipient)
	err := s.client.ProduceSync(context.Background(), &kgo.Record{Topic: s.topics["commands"], Key: []byte(recipient), Value: []byte(cmd),
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(traceparent(up))}}}).FirstErr()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-live:
		if name != "notification.sent" {
			t.Fatalf("live stream sent %q first", name)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the live stream delivered nothing")
	}

	consume := s.topics["commands"] + " process"
	publish := s.topics["events"] + " publish"
	spans := s.waitSpans(t, up.TraceID(), consume, "command send", "eventstore append", "project inbox", publish, "sse deliver")
	parentOf := func(name string) trace.SpanID { return spans[name].Parent().SpanID() }
	for _, tt := range []struct{ span, parent string }{
		{"command send", consume},
		{"eventstore append", "command send"},
		{"project inbox", "command send"}, // from the trace context kept in the event
		{publish, "command send"},
		{"sse deliver", "command send"},
	} {
		if got, want := parentOf(tt.span), spans[tt.parent].SpanContext().SpanID(); got != want {
			t.Errorf("the parent of %q is %s, want %q (%s)", tt.span, got, tt.parent, want)
		}
	}
	if got := parentOf(consume); got != up.SpanID() {
		t.Errorf("the consumer span's parent is %s, want the producer's %s (from the traceparent header)", got, up.SpanID())
	}
	if k := spans[consume].SpanKind(); k != trace.SpanKindConsumer {
		t.Errorf("%s is a %s span, want consumer", consume, k)
	}
	if k := spans[publish].SpanKind(); k != trace.SpanKindProducer {
		t.Errorf("%s is a %s span, want producer", publish, k)
	}

	// The published event's traceparent: the publish span, in the same trace.
	want := traceparent(spans[publish].SpanContext())
	var got []string
	s.eventually(t, "the event is on the events topic", func() bool {
		got = s.headersOf(t, s.topics["events"], recipient, "traceparent")
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != want {
		t.Fatalf("published traceparent = %q, want [%q]", got, want)
	}
}

// headersOf reads topic from the start and returns header name of the records keyed key.
func (s *tracedService) headersOf(t *testing.T, topic, key, name string) []string {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(s.client.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out []string
	for {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != key {
				return
			}
			for _, h := range r.Headers {
				if h.Key == name {
					out = append(out, string(h.Value))
				}
			}
		})
		if len(out) > 0 {
			return out
		}
	}
}

// An HTTP request is a server span continuing the caller's traceparent, the command its
// child; the access log line of the request carries the trace id, and no credential.
func TestTrace_HTTPRequestIsOneTrace(t *testing.T) {
	t.Parallel()
	s := startTraced(t)
	up := caller(t)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/notifications",
		strings.NewReader(`{"recipientId":"r-http","content":"hello there","category":"news"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent(up))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/notifications: %s", resp.Status)
	}
	spans := s.waitSpans(t, up.TraceID(), "POST /v1/notifications", "command send", "eventstore append", "project inbox")
	if got, want := spans["command send"].Parent().SpanID(), spans["POST /v1/notifications"].SpanContext().SpanID(); got != want {
		t.Errorf("the command's parent is %s, want the request's span %s", got, want)
	}
	if got := spans["POST /v1/notifications"].Parent().SpanID(); got != up.SpanID() {
		t.Errorf("the request span's parent is %s, want the caller's %s", got, up.SpanID())
	}
	var line string
	s.eventually(t, "the access log has the request", func() bool {
		for _, l := range strings.Split(s.logText(), "\n") {
			if strings.Contains(l, `msg="http request"`) && strings.Contains(l, "route=/v1/notifications") {
				line = l
				return true
			}
		}
		return false
	})
	for _, want := range []string{"method=POST", "status=201", "trace_id=" + up.TraceID().String()} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line %q lacks %s", line, want)
		}
	}

	// A query string may carry a credential (the stream's access_token, which a browser's
	// EventSource sends there): the access log leaves it out, on the stream route where it
	// is taken and on a route that refuses it.
	for _, path := range []string{"/v1/recipients/r-http/stream", "/v1/recipients/r-http/notifications"} {
		resp, err = http.Get(s.base + path + "?access_token=s3cret-token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.eventually(t, "the access log has "+path, func() bool {
			return strings.Contains(s.logText(), "path="+path+" ")
		})
	}
	if strings.Contains(s.logText(), "s3cret-token") {
		t.Errorf("the access log shows a credential from the query string:\n%s", s.logText())
	}
	for _, sp := range s.spans.Ended() {
		for _, kv := range sp.Attributes() {
			if strings.Contains(fmt.Sprint(kv.Value.AsInterface()), "s3cret-token") {
				t.Errorf("span %q records the credential from the query string: %s", sp.Name(), kv.Key)
			}
		}
	}
}
