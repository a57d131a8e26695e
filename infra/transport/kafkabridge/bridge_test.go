package kafkabridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/service/servicetest"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/infra/transport/kafkasub/kafkaadmin"
	"github.com/eventnotify/notify/projections/inbox"
)

// The suite runs against the in-process Kafka-protocol broker (kfake) by default and against
// a real broker when KAFKA_BROKERS is set (CI starts one with deploy/kafka/kafka.sh).
var (
	fakeOnce    sync.Once
	fakeBrokers []string
)

func brokers(t *testing.T) []string {
	t.Helper()
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")
	}
	fakeOnce.Do(func() {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
		if err != nil {
			panic(err)
		}
		fakeBrokers = c.ListenAddrs()
	})
	return fakeBrokers
}

type fixture struct {
	cfg    kafkabridge.Config
	log    *eventlog.Store
	rm     *inboxdb.Store
	client *kgo.Client
	cmds   app.Commands
}

// newFixture builds stores, a projection and topics; client, if given, is the test's Kafka
// client (for a secured broker).
func newFixture(t *testing.T, tune func(*kafkabridge.Config), client ...*kgo.Client) *fixture {
	t.Helper()
	c := servicetest.NewComponentTestApplication(t, servicetest.Options{})
	p := "t" + uuid.NewString()[:8] + "."
	cfg := kafkabridge.Config{
		Brokers: brokers(t), Group: p + "group",
		SendTopic: p + "send-notification", CommandsTopic: p + "commands", EventsTopic: p + "events", PoisonTopic: p + "poison",
	}
	if tune != nil {
		tune(&cfg)
	}
	if len(client) == 0 {
		c, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.UnknownTopicRetries(-1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		client = append(client, c)
	}
	f := &fixture{cfg: cfg, log: c.Log, rm: c.ReadModel, client: client[0], cmds: c.App.Commands}
	// Create the topics before anyone subscribes, as an operator would, with the broker's
	// default partition count (-1). A topic just created may not be in the broker's metadata
	// for a moment: the clients retry an unknown topic until produce's deadline
	// (kgo.UnknownTopicRetries(-1)); with franz-go's default of 4 retries, a loaded CI
	// machine failed the warmup now and then.
	for _, topic := range []string{cfg.SendTopic, cfg.CommandsTopic, cfg.EventsTopic, cfg.PoisonTopic} {
		createTopic(t, f.client, topic, -1)
		f.produce(t, topic, "", `{"warmup":true}`, nil)
	}
	return f
}

// start runs a bridge (with its own consumer group name if group != "") until the test ends.
func (f *fixture) start(t *testing.T, group string) *kafkabridge.Bridge {
	t.Helper()
	b, stop := f.run(t, group)
	t.Cleanup(stop)
	return b
}

// run starts a bridge; stop shuts it down gracefully (it may be called more than once).
func (f *fixture) run(t *testing.T, group string) (*kafkabridge.Bridge, func()) {
	t.Helper()
	cfg := f.cfg
	if group != "" {
		cfg.Group = group
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := kafkabridge.New(cfg, f.cmds, f.log, f.log, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("bridge did not start")
	}
	var once sync.Once
	return b, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("bridge stopped with %v", err)
			}
		})
	}
}

// produce writes one record and returns it as the broker stored it (partition, offset).
func (f *fixture) produce(t *testing.T, topic, key, value string, headers map[string]string) *kgo.Record {
	t.Helper()
	r := &kgo.Record{Topic: topic, Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	for k, v := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.client.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return r
}

func (f *fixture) command(t *testing.T, e kafkabridge.Envelope) {
	t.Helper()
	b, _ := json.Marshal(e)
	f.produce(t, f.cfg.CommandsTopic, e.NotificationID, string(b), nil)
}

// consume reads topic from the start until want(records) holds.
func consume(t *testing.T, f *fixture, topic string, want func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if want(got) {
			return got
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := c.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if !strings.Contains(string(r.Value), `"warmup"`) {
				got = append(got, r)
			}
		})
	}
	t.Fatalf("%s: condition not met; %d records read", topic, len(got))
	return nil
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fixture) inbox(t *testing.T, recipient string) []inbox.View {
	t.Helper()
	raw, err := f.rm.List(context.Background(), recipient, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]inbox.View, len(raw))
	for i, r := range raw {
		json.Unmarshal(r, &out[i])
	}
	return out
}

func (f *fixture) waitInbox(t *testing.T, recipient string, n int) []inbox.View {
	t.Helper()
	var views []inbox.View
	eventually(t, "inbox of "+recipient, func() error {
		views = f.inbox(t, recipient)
		if len(views) != n {
			return fmt.Errorf("%d notifications, want %d", len(views), n)
		}
		return nil
	})
	return views
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// The original service's producers send {recipientId, content, category} with no headers.
func TestSeedPayload_BecomesANotification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.start(t, "")
	f.produce(t, f.cfg.SendTopic, "", `{"recipientId":"4f1f5c8a-7a41-4d6e-9a1b-1b7c2b5c3d4e","content":"Você recebeu uma solicitação de amizade","category":"social"}`, nil)
	got := f.waitInbox(t, "4f1f5c8a-7a41-4d6e-9a1b-1b7c2b5c3d4e", 1)
	if got[0].Content != "Você recebeu uma solicitação de amizade" || got[0].Category != "social" {
		t.Fatalf("notification = %+v", got[0])
	}
}

// Typed commands drive the whole lifecycle; the events topic carries every event, keyed by
// recipient, in log order, with the headers of the README (Kafka).
func TestTypedCommands_LifecycleAndEventsOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.start(t, "")
	id := uuid.NewString()
	steps := []kafkabridge.Envelope{
		{Type: kafkabridge.TypeSend, CommandID: "c1", CorrelationID: "order-1", NotificationID: id, RecipientID: "bob", Content: "Your order shipped", Category: "orders"},
		{Type: kafkabridge.TypeRead, CommandID: "c2", NotificationID: id},
		{Type: kafkabridge.TypeUnread, CommandID: "c3", NotificationID: id},
		{Type: kafkabridge.TypeRead, CommandID: "c4", NotificationID: id},
		{Type: kafkabridge.TypeCancel, CommandID: "c5", NotificationID: id},
	}
	for _, s := range steps {
		f.command(t, s)
	}
	eventually(t, "canceled in the inbox", func() error {
		v := f.inbox(t, "bob")
		if len(v) != 1 || v[0].Status != inbox.StatusCanceled || v[0].ReadAt == nil {
			return fmt.Errorf("inbox = %+v", v)
		}
		return nil
	})
	recs := consume(t, f, f.cfg.EventsTopic, func(r []*kgo.Record) bool { return len(r) >= 5 })
	want := []string{notification.TypeSent, notification.TypeRead, notification.TypeUnread, notification.TypeRead, notification.TypeCanceled}
	for i, r := range recs {
		if string(r.Key) != "bob" || header(r, kafkabridge.HeaderEventType) != want[i] || header(r, kafkabridge.HeaderRevision) != fmt.Sprint(i) {
			t.Fatalf("event %d: key %q type %q revision %q; want bob %s %d", i, r.Key, header(r, kafkabridge.HeaderEventType), header(r, kafkabridge.HeaderRevision), want[i], i)
		}
		for _, h := range []string{kafkabridge.HeaderEventID, kafkabridge.HeaderStream, kafkabridge.HeaderPosition, kafkabridge.HeaderSchemaVersion} {
			if header(r, h) == "" {
				t.Fatalf("event %d lacks header %s", i, h)
			}
		}
		var data map[string]any
		if json.Unmarshal(r.Value, &data) != nil || data["notificationId"] != id || data["recipientId"] != "bob" {
			t.Fatalf("event %d payload = %s", i, r.Value)
		}
	}
	if header(recs[0], kafkabridge.HeaderCorrelationID) != "order-1" || header(recs[0], kafkabridge.HeaderStream) != notification.Stream(id) {
		t.Fatalf("first event headers = %v", recs[0].Headers)
	}
	if len(recs) != 5 {
		t.Fatalf("%d events out, want 5", len(recs))
	}
}

// Redelivery never duplicates: the same command id under new offsets, and every record read
// again by a second consumer group, leave one event per command.
func TestRedelivery_YieldsNoDuplicates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.start(t, "")
	send := kafkabridge.Envelope{Type: kafkabridge.TypeSend, CommandID: "same-command", RecipientID: "carol", Content: "Sent twice, stored once", Category: "c"}
	f.command(t, send)
	f.command(t, send)
	seed := `{"recipientId":"carol","content":"Seed payload with a command id header","category":"c"}`
	f.produce(t, f.cfg.SendTopic, "", seed, map[string]string{kafkabridge.HeaderCommandID: "seed-1"})
	f.produce(t, f.cfg.SendTopic, "", seed, map[string]string{kafkabridge.HeaderCommandID: "seed-1"})
	f.produce(t, f.cfg.SendTopic, "", `{"recipientId":"carol","content":"No id: the offset is the command id","category":"c"}`, nil)
	f.waitInbox(t, "carol", 3)
	head := f.log.Head()

	// A second group reads every record again, as after a lost offset commit.
	f.start(t, f.cfg.Group+"-replay")
	time.Sleep(3 * time.Second)
	if got := f.inbox(t, "carol"); len(got) != 3 {
		t.Fatalf("after redelivery the inbox holds %d, want 3", len(got))
	}
	if f.log.Head() != head {
		t.Fatalf("redelivery appended events: log head %d → %d", head, f.log.Head())
	}
}

// Commands that can never succeed go to the poison topic with the reason and source, keyed as
// received, and the partition keeps flowing.
func TestPoison_ParksBadCommandsAndKeepsFlowing(t *testing.T) {
	t.Parallel()
	obs := &observer{poisoned: map[string]int{}, retried: map[string]int{}}
	f := newFixture(t, func(c *kafkabridge.Config) { c.MaxMessageBytes = 512; c.Observer = obs })
	f.start(t, "")
	bad := []struct {
		topic, key, value, reason, kind string
	}{
		{f.cfg.CommandsTopic, "k1", `{"type":`, "malformed JSON", "malformed"},
		{f.cfg.CommandsTopic, "k2", `{"type":"ExplodeNotification"}`, `unknown command type "ExplodeNotification"`, "unknown_type"},
		{f.cfg.CommandsTopic, "k3", `{"type":"SendNotification","recipientId":"dave","content":"hey","category":"c"}`, "content: must be 5 to 240 characters", "invalid"},
		{f.cfg.CommandsTopic, "k4", `{"type":"ReadNotification","notificationId":"` + uuid.NewString() + `"}`, "notification not found", "not_found"},
		{f.cfg.SendTopic, "k5", `{"recipientId":"dave","content":"` + strings.Repeat("x", 600) + `","category":"c"}`, "exceeds the limit of 512", "too_large"},
		{f.cfg.SendTopic, "k6", `{"recipientId":42,"content":"hello there","category":"c"}`, "field recipientId must be a string", "malformed"},
	}
	produced := map[string]*kgo.Record{}
	for _, b := range bad {
		produced[b.key] = f.produce(t, b.topic, b.key, b.value, nil)
	}
	f.produce(t, f.cfg.SendTopic, "", `{"recipientId":"dave","content":"After the poison","category":"c"}`, nil)
	f.command(t, kafkabridge.Envelope{Type: kafkabridge.TypeSend, RecipientID: "dave", Content: "Also after the poison", Category: "c"})
	f.waitInbox(t, "dave", 2)

	recs := consume(t, f, f.cfg.PoisonTopic, func(r []*kgo.Record) bool { return len(r) >= len(bad) })
	byKey := map[string]*kgo.Record{}
	for _, r := range recs {
		byKey[string(r.Key)] = r
	}
	for _, b := range bad {
		r, ok := byKey[b.key]
		if !ok {
			t.Fatalf("%s (%s) is not on the poison topic", b.key, b.value)
		}
		if reason := header(r, "reason_poisoned"); !strings.Contains(reason, b.reason) {
			t.Fatalf("%s: reason %q, want it to mention %q", b.key, reason, b.reason)
		}
		if src := header(r, "topic_poisoned"); src != b.topic {
			t.Fatalf("%s: source topic %q, want %q", b.key, src, b.topic)
		}
		src := produced[b.key]
		if header(r, kafkabridge.HeaderPoisonPartition) != fmt.Sprint(src.Partition) || header(r, kafkabridge.HeaderPoisonOffset) != fmt.Sprint(src.Offset) {
			t.Fatalf("%s: poisoned from partition %q offset %q, produced at %d/%d", b.key,
				header(r, kafkabridge.HeaderPoisonPartition), header(r, kafkabridge.HeaderPoisonOffset), src.Partition, src.Offset)
		}
		want, truncated := b.value, ""
		if len(b.value) > 512 { // over the limit: parked cut to it, with its size
			want, truncated = b.value[:512], "true"
			if size := header(r, kafkabridge.HeaderPoisonSize); size != fmt.Sprint(len(b.value)) {
				t.Fatalf("%s: size header %q, want %d", b.key, size, len(b.value))
			}
		}
		if string(r.Value) != want || header(r, kafkabridge.HeaderPoisonTruncated) != truncated {
			t.Fatalf("%s: poison body %q (truncated %q), want %q (truncated %q)", b.key, r.Value, header(r, kafkabridge.HeaderPoisonTruncated), want, truncated)
		}
	}
	if len(recs) != len(bad) {
		t.Fatalf("%d poison messages, want %d", len(recs), len(bad))
	}
	want := warmupsPoisoned(f)
	for _, b := range bad {
		want[b.topic+" "+b.kind]++
	}
	eventually(t, "the observer's poison counts", func() error { // the warm-ups are parked concurrently
		if got := obs.poisonedCounts(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("counted %v poisoned, want %v", got, want)
		}
		return nil
	})
}

// warmupsPoisoned is what the fixture's warm-up messages ({"warmup":true} on each topic)
// are poisoned for: an envelope with no type, a send with no recipient.
func warmupsPoisoned(f *fixture) map[string]int {
	return map[string]int{f.cfg.CommandsTopic + " unknown_type": 1, f.cfg.SendTopic + " invalid": 1}
}

// observer records what the bridge reports of failing commands.
type observer struct {
	mu                sync.Mutex
	poisoned, retried map[string]int
}

func (o *observer) Poisoned(topic, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.poisoned[topic+" "+reason]++
}

func (o *observer) Retried(topic string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retried[topic]++
}

func (o *observer) poisonedCounts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.poisoned)
}

func (o *observer) retries(topic string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.retried[topic]
}

// A command of about 1 MiB, over the 64 KiB limit and over the producer's own limit if parked
// whole, lands on the poison topic cut to the limit, and the next command of its partition is
// applied: the partition does not stall.
func TestPoison_OneMebibyteCommandDoesNotStallItsPartition(t *testing.T) {
	t.Parallel()
	big, err := kgo.NewClient(kgo.SeedBrokers(brokers(t)...), kgo.ProducerBatchMaxBytes(2<<20), kgo.UnknownTopicRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(big.Close)
	f := newFixture(t, nil, big)
	f.start(t, "")
	// 1,048,400 bytes: the broker takes it (message.max.bytes is 1,048,588), but not back
	// with the poison headers added.
	value := `{"recipientId":"gina","content":"` + strings.Repeat("y", 1_048_350) + `","category":"c"}`
	src := f.produce(t, f.cfg.SendTopic, "", value, nil)
	next := f.produce(t, f.cfg.SendTopic, "", `{"recipientId":"gina","content":"Right behind the big one","category":"c"}`, nil)
	got := f.waitInbox(t, "gina", 1)
	if got[0].Content != "Right behind the big one" {
		t.Fatalf("inbox = %+v", got)
	}
	eventually(t, "the committed offset passes both", func() error {
		if c := committed(t, f.client, f.cfg.Group, f.cfg.SendTopic, next.Partition); c <= next.Offset {
			return fmt.Errorf("committed offset %d, want past %d", c, next.Offset)
		}
		return nil
	})
	recs := consume(t, f, f.cfg.PoisonTopic, func(r []*kgo.Record) bool { return len(r) >= 1 })
	r := recs[0]
	if len(r.Value) != kafkabridge.DefaultMaxMessageBytes || string(r.Value) != value[:kafkabridge.DefaultMaxMessageBytes] {
		t.Fatalf("poison body of %d bytes, want the first %d of the command", len(r.Value), kafkabridge.DefaultMaxMessageBytes)
	}
	for h, want := range map[string]string{
		kafkabridge.HeaderPoisonSize: fmt.Sprint(len(value)), kafkabridge.HeaderPoisonTruncated: "true",
		kafkabridge.HeaderPoisonOffset: fmt.Sprint(src.Offset), kafkabridge.HeaderPoisonPartition: fmt.Sprint(src.Partition),
		"topic_poisoned": f.cfg.SendTopic,
	} {
		if got := header(r, h); got != want {
			t.Fatalf("header %s = %q, want %q", h, got, want)
		}
	}
}

// Events leave in log order per recipient, many recipients interleaved.
func TestEventsOut_InOrderPerRecipient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.start(t, "")
	const n = 60
	for i := range n {
		f.command(t, kafkabridge.Envelope{Type: kafkabridge.TypeSend, RecipientID: fmt.Sprintf("r%d", i%3), Content: fmt.Sprintf("message number %d", i), Category: "c"})
	}
	recs := consume(t, f, f.cfg.EventsTopic, func(r []*kgo.Record) bool { return len(r) >= n })
	last := map[string]int{}
	for _, r := range recs {
		var pos int
		fmt.Sscan(header(r, kafkabridge.HeaderPosition), &pos)
		if pos <= last[string(r.Key)] {
			t.Fatalf("recipient %s: position %d after %d", r.Key, pos, last[string(r.Key)])
		}
		last[string(r.Key)] = pos
	}
	if len(recs) != n {
		t.Fatalf("%d events out, want %d", len(recs), n)
	}
}

// flaky fails a send with a transient (non-domain) error while failing(command) holds, then
// delegates.
type flaky struct {
	mu      sync.Mutex
	failing func(command.SendNotification) bool
	fails   int
	next    interface {
		Handle(context.Context, command.SendNotification) (command.Result, error)
	}
}

func (f *flaky) Handle(ctx context.Context, c command.SendNotification) (command.Result, error) {
	if f.failing(c) {
		f.mu.Lock()
		f.fails++
		n := f.fails
		f.mu.Unlock()
		return command.Result{}, fmt.Errorf("event store unavailable (injected, failure %d)", n)
	}
	return f.next.Handle(ctx, c)
}

// A transient failure is retried with backoff, not poisoned; the later commands with its key
// wait for it and are applied after it, in order, while commands with other keys go on: the
// first command of erin fails until every command of frank, produced after it on the same
// partition, is in the inbox.
func TestTransientFailure_RetriedBlockingOnlyItsKey(t *testing.T) {
	t.Parallel()
	obs := &observer{poisoned: map[string]int{}, retried: map[string]int{}}
	f := newFixture(t, func(c *kafkabridge.Config) { c.Observer = obs })
	fl := &flaky{next: f.cmds.Send}
	fl.failing = func(c command.SendNotification) bool {
		return c.Meta.CommandID == "erin-0" && len(f.inbox(t, "frank")) < 3
	}
	f.cmds.Send = fl
	f.start(t, "")
	for _, who := range []string{"erin", "frank"} {
		for i := range 3 {
			b, _ := json.Marshal(kafkabridge.Envelope{Type: kafkabridge.TypeSend, CommandID: fmt.Sprintf("%s-%d", who, i), RecipientID: who, Content: fmt.Sprintf("In order, number %d", i), Category: "c"})
			f.produce(t, f.cfg.CommandsTopic, who, string(b), nil)
		}
	}
	views := f.waitInbox(t, "erin", 3)
	for i, v := range views { // newest first
		if want := fmt.Sprintf("In order, number %d", 2-i); v.Content != want {
			t.Fatalf("inbox[%d] = %q, want %q (order of one key broken)", i, v.Content, want)
		}
	}
	fl.mu.Lock()
	fails := fl.fails
	fl.mu.Unlock()
	if fails == 0 {
		t.Fatal("erin's first command never failed: frank's commands were applied before it was tried")
	}
	time.Sleep(500 * time.Millisecond)
	if poisoned := consumeNow(t, f, f.cfg.PoisonTopic); len(poisoned) != 0 {
		t.Fatalf("a transient failure was poisoned: %d messages", len(poisoned))
	}
	if n := obs.retries(f.cfg.CommandsTopic); n != fails {
		t.Fatalf("the observer counted %d retries, want one per failure (%d)", n, fails)
	}
	eventually(t, "the observer's poison counts", func() error {
		if p := obs.poisonedCounts(); fmt.Sprint(p) != fmt.Sprint(warmupsPoisoned(f)) {
			return fmt.Errorf("counted %v poisoned, want only the warm-ups", p)
		}
		return nil
	})
}

// A command that keeps failing holds its partition's watermark: once that has lasted
// StallAfter with lag behind it, the bridge reports the partition stalled, and it stops
// when the command goes through.
func TestStalledPartition_ReportedUntilItMoves(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *kafkabridge.Config) { c.StallAfter = 300 * time.Millisecond })
	var release atomic.Bool
	fl := &flaky{next: f.cmds.Send}
	fl.failing = func(c command.SendNotification) bool { return c.Meta.CommandID == "stuck" && !release.Load() }
	f.cmds.Send = fl
	b := f.start(t, "")
	b2, _ := json.Marshal(kafkabridge.Envelope{Type: kafkabridge.TypeSend, CommandID: "stuck", RecipientID: "hal", Content: "Held up for a while", Category: "c"})
	src := f.produce(t, f.cfg.CommandsTopic, "hal", string(b2), nil)
	eventually(t, "the partition reported stalled", func() error {
		for _, p := range b.Stalled(time.Now()) {
			if p.Topic == f.cfg.CommandsTopic && p.Partition == src.Partition && p.Watermark == src.Offset && p.Lag >= 1 {
				return nil
			}
		}
		return fmt.Errorf("stalled: %+v", b.Stalled(time.Now()))
	})
	release.Store(true)
	f.waitInbox(t, "hal", 1)
	eventually(t, "no partition stalled", func() error {
		if s := b.Stalled(time.Now()); len(s) > 0 {
			return fmt.Errorf("still stalled: %+v", s)
		}
		return nil
	})
}

// committed is the group's committed offset of a partition (-1: none).
func committed(t *testing.T, cl *kgo.Client, group, topic string, partition int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	off, err := kafkaadmin.Committed(ctx, cl, group, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// consumeNow reads what a topic holds right now.
func consumeNow(t *testing.T, f *fixture, topic string) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(f.cfg.Brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []*kgo.Record
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if !strings.Contains(string(r.Value), `"warmup"`) {
				got = append(got, r)
			}
		})
		cancel()
	}
	return got
}

// Rebalances move partitions between members without losing, repeating or reordering a key's
// commands: 400 notifications each sent, read, unread and canceled, keyed by notification id,
// in four waves over 8 partitions; a second member joins after the first wave and the first
// leaves after the second.
func TestRebalance_KeepsOrderPerKeyAndAppliesEachCommandOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cfg.CommandsTopic += "-8"
	createTopic(t, f.client, f.cfg.CommandsTopic, 8)
	const n = 400
	steps := []string{kafkabridge.TypeSend, kafkabridge.TypeRead, kafkabridge.TypeUnread, kafkabridge.TypeCancel}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	wave := func(step int) {
		var records []*kgo.Record
		for i, id := range ids {
			e := kafkabridge.Envelope{Type: steps[step], CommandID: fmt.Sprintf("%s-%d", id, step), NotificationID: id}
			if step == 0 {
				e.RecipientID, e.Content, e.Category = fmt.Sprintf("moved-%d", i%8), fmt.Sprintf("Notification number %d", i), "c"
			}
			b, _ := json.Marshal(e)
			records = append(records, &kgo.Record{Topic: f.cfg.CommandsTopic, Key: []byte(id), Value: b})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.client.ProduceSync(ctx, records...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	countStatus := func(st inbox.Status) int {
		c := 0
		for r := range 8 {
			for _, v := range f.inbox(t, fmt.Sprintf("moved-%d", r)) {
				if v.Status == st {
					c++
				}
			}
		}
		return c
	}
	_, stopFirst := f.run(t, "")
	t.Cleanup(stopFirst)
	wave(0)
	eventually(t, "first wave applied", func() error {
		if c := countStatus(inbox.StatusSent); c != n {
			return fmt.Errorf("%d of %d sent", c, n)
		}
		return nil
	})
	second := f.start(t, "") // joins: the partitions are shared out again
	owned := func(b *kafkabridge.Bridge) int {
		c := 0
		for _, p := range b.Partitions() {
			if p.Topic == f.cfg.CommandsTopic {
				c++
			}
		}
		return c
	}
	eventually(t, "the second member given partitions", func() error {
		if c := owned(second); c == 0 || c == 8 {
			return fmt.Errorf("it owns %d of 8", c)
		}
		return nil
	})
	wave(1)
	wave(2)
	stopFirst() // leaves: its partitions move to the second member
	eventually(t, "the second member given every partition", func() error {
		if c := owned(second); c != 8 {
			return fmt.Errorf("it owns %d of 8", c)
		}
		return nil
	})
	wave(3)
	eventually(t, "every notification canceled", func() error {
		if c := countStatus(inbox.StatusCanceled); c != n {
			return fmt.Errorf("%d of %d canceled", c, n)
		}
		return nil
	})
	f.wantLifecycles(t, ids)
}

func createTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := kafkaadmin.CreateTopic(ctx, cl, topic, partitions); err != nil {
		t.Fatal(err)
	}
}

// wantLifecycles checks that each notification's history is sent, read, unread, canceled.
func (f *fixture) wantLifecycles(t *testing.T, ids []string) {
	t.Helper()
	want := []string{notification.TypeSent, notification.TypeRead, notification.TypeUnread, notification.TypeCanceled}
	for _, id := range ids {
		recs, err := f.log.ReadStream(context.Background(), notification.Stream(id), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(recs))
		for i, r := range recs {
			got[i] = r.Type
		}
		if !slices.Equal(got, want) {
			t.Fatalf("notification %s: history %v, want %v", id, got, want)
		}
	}
}

// gauge records how many calls run at once, and the most seen.
type gauge struct{ now, max atomic.Int64 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
}

type counted[C any] struct {
	g    *gauge
	next interface {
		Handle(context.Context, C) (command.Result, error)
	}
}

func (c counted[C]) Handle(ctx context.Context, cmd C) (command.Result, error) {
	c.g.enter()
	defer c.g.now.Add(-1)
	return c.next.Handle(ctx, cmd)
}

// Order per key: 1,000 notifications each sent, read, unread and canceled, the 4,000 commands
// interleaved at random on one partition and keyed by notification id. Every notification's
// history is in the order its commands were produced, while commands of different
// notifications were handled concurrently.
func TestOrderPerKey_InterleavedCommandsOnOnePartition(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	g := &gauge{}
	f.cmds = app.Commands{
		Send:   counted[command.SendNotification]{g, f.cmds.Send},
		Read:   counted[command.ReadNotification]{g, f.cmds.Read},
		Unread: counted[command.UnreadNotification]{g, f.cmds.Unread},
		Cancel: counted[command.CancelNotification]{g, f.cmds.Cancel},
	}
	f.start(t, "")
	const n = 1000
	steps := []string{kafkabridge.TypeSend, kafkabridge.TypeRead, kafkabridge.TypeUnread, kafkabridge.TypeCancel}
	ids := make([]string, n)
	next := make([]int, n) // the next step of each notification
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var records []*kgo.Record
	for pending := n; pending > 0; {
		i := rng.IntN(n)
		if next[i] == len(steps) {
			continue
		}
		e := kafkabridge.Envelope{Type: steps[next[i]], CommandID: fmt.Sprintf("%s-%d", ids[i], next[i]), NotificationID: ids[i]}
		if next[i] == 0 {
			e.RecipientID, e.Content, e.Category = fmt.Sprintf("ordered-%d", i%10), fmt.Sprintf("Notification number %d", i), "c"
		}
		b, _ := json.Marshal(e)
		records = append(records, &kgo.Record{Topic: f.cfg.CommandsTopic, Key: []byte(ids[i]), Value: b})
		if next[i]++; next[i] == len(steps) {
			pending--
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.client.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every notification canceled", func() error {
		canceled := 0
		for r := range 10 {
			for _, v := range f.inbox(t, fmt.Sprintf("ordered-%d", r)) {
				if v.Status == inbox.StatusCanceled {
					canceled++
				}
			}
		}
		if canceled != n {
			return fmt.Errorf("%d of %d canceled", canceled, n)
		}
		return nil
	})
	f.wantLifecycles(t, ids)
	if g.max.Load() < 2 {
		t.Fatalf("at most %d command handled at a time: no concurrency on the partition", g.max.Load())
	}
	t.Logf("%d commands, at most %d handled at once", len(records), g.max.Load())
}
