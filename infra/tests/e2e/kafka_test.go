package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/transport/kafkasub/kafkaadmin"
)

// kafkaEnv returns the broker and the service flags for topics unique to this test. These
// tests need a real broker (KAFKA_BROKERS; CI starts one) and kcat, the way an operator
// would drive the service.
func kafkaEnv(t *testing.T) (broker string, topics map[string]string, flags []string) {
	t.Helper()
	broker = os.Getenv("KAFKA_BROKERS")
	if broker == "" {
		t.Skip("KAFKA_BROKERS is not set: start a broker with `make kafka-up` (CI does) to run the Kafka end-to-end tests")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is not installed (apt-get install -y kcat; .ci/run installs it)")
	}
	p := "e2e" + uuid.NewString()[:8] + "."
	topics = map[string]string{"send": p + "send-notification", "commands": p + "commands", "events": p + "events", "poison": p + "poison"}
	flags = []string{"--kafka-brokers", broker, "--kafka-group", p + "group",
		"--kafka-topic-send", topics["send"], "--kafka-topic-commands", topics["commands"],
		"--kafka-topic-events", topics["events"], "--kafka-topic-poison", topics["poison"]}
	for _, topic := range topics { // an operator creates the topics first
		kcat(t, broker, "-P", "-t", topic, "-K", "\t")(`warmup` + "\t" + `{"warmup":true}`)
	}
	return broker, topics, flags
}

// kcat runs kcat with args and returns a function feeding it stdin lines.
func kcat(t *testing.T, broker string, args ...string) func(lines ...string) {
	return func(lines ...string) {
		t.Helper()
		cmd := exec.Command("kcat", append([]string{"-b", broker, "-X", "enable.idempotence=true"}, args...)...)
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
	}
}

// consumeWithKcat reads a topic from the start to its current end: key, headers, payload.
func consumeWithKcat(t *testing.T, broker, topic string) []string {
	t.Helper()
	out, err := exec.Command("kcat", "-b", broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%h\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat consume %s: %v", topic, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.Contains(l, `"warmup"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

func startWithArgs(t *testing.T, dataDir, addr string, flags []string) *service {
	t.Helper()
	return startServiceArgs(t, append([]string{"--data-dir", dataDir, "--http-addr", addr}, flags...))
}

// The seed's producer payload and typed commands, produced with kcat, reach the inbox; our
// events appear on the events topic in order for the recipient.
func TestKafka_CommandsInEventsOut(t *testing.T) {
	t.Parallel()
	broker, topics, flags := kafkaEnv(t)
	s := startWithArgs(t, t.TempDir(), freePort(t), flags)
	recipient := uuid.NewString()
	kcat(t, broker, "-P", "-t", topics["send"])(fmt.Sprintf(`{"recipientId":%q,"content":"Você recebeu uma solicitação de amizade","category":"social"}`, recipient))
	id := uuid.NewString()
	kcat(t, broker, "-P", "-t", topics["commands"], "-K", "\t")(
		fmt.Sprintf("%s\t{\"type\":\"SendNotification\",\"commandId\":\"k-1\",\"notificationId\":%q,\"recipientId\":%q,\"content\":\"Your purchase is confirmed\",\"category\":\"purchase\"}", id, id, recipient),
		fmt.Sprintf("%s\t{\"type\":\"ReadNotification\",\"commandId\":\"k-2\",\"notificationId\":%q}", id, id),
	)
	eventually(t, "both in the inbox, the typed one read", func() error {
		views := s.inbox(t, recipient)
		if len(views) != 2 {
			return fmt.Errorf("%d notifications", len(views))
		}
		for _, v := range views {
			if v.ID == id && v.ReadAt == nil {
				return fmt.Errorf("%s not read yet", id)
			}
		}
		return nil
	})
	// Commands from Kafka are counted like those from HTTP.
	s.wantMetric(t, 2, "notify_commands_total", "command", "send", "outcome", "ok")
	s.wantMetric(t, 1, "notify_commands_total", "command", "read", "outcome", "ok")
	var events []string
	eventually(t, "three events on the events topic", func() error {
		events = consumeWithKcat(t, broker, topics["events"])
		if len(events) < 3 {
			return fmt.Errorf("%d events", len(events))
		}
		return nil
	})
	// The two topics are consumed independently, so only each notification's own events
	// have an order: the typed one's Sent must precede its Read.
	typed := []string{}
	for _, e := range events {
		if !strings.HasPrefix(e, recipient+"\t") {
			t.Fatalf("event %s is not keyed by the recipient %s", e, recipient)
		}
		if strings.Contains(e, "stream="+notification.Stream(id)) {
			typed = append(typed, e)
		}
	}
	if len(events) != 3 || len(typed) != 2 || !strings.Contains(typed[0], "event-type=NotificationSent") || !strings.Contains(typed[1], "event-type=NotificationRead") {
		t.Fatalf("events = %v; want the seed's Sent and the typed notification's Sent then Read", events)
	}
}

// Three SIGKILLs while 100,000 commands flow on the seed's one-partition topic, produced
// as its producer does (no key, no id: the command id is topic/partition/offset). At each kill
// the group's committed offset never passed a command whose event is not in the log; each
// restarted instance (static membership, the default) consumes again at once instead of after
// the dead member's session timeout; at the end every command produced exactly one event and
// the inbox counts them all.
func TestKafka_ThreeKillsDuring100kCommandsLoseAndDuplicateNothing(t *testing.T) {
	t.Parallel()
	broker, topics, flags := kafkaEnv(t)
	group := flags[slices.Index(flags, "--kafka-group")+1]
	dir, addr := t.TempDir(), freePort(t)
	const n, recipients = 100_000, 100
	prefix := "kill-" + topics["send"][3:11]
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"recipientId":"%s-%d","content":"Seed command number %d","category":"stream"}`, prefix, i%recipients, i)
	}
	s := startWithArgs(t, dir, addr, flags)
	kcat(t, broker, "-P", "-t", topics["send"])(lines...) // offsets 1..n: 0 is the warm-up record
	applied := func(path string) map[int64]int {
		out := map[int64]int{}
		for id, c := range eventsPerCommand(t, path) {
			var off int64
			if _, err := fmt.Sscanf(id, topics["send"]+"/0/%d", &off); err == nil {
				out[off] += c
			}
		}
		return out
	}
	for kill := 1; kill <= 3; kill++ {
		eventuallyWithin(t, 60*time.Second, fmt.Sprintf("log head past %d before kill %d", kill*n/4, kill), func() error {
			if h := s.logHead(t); h < kill*n/4 {
				return fmt.Errorf("log head %d", h)
			}
			return nil
		})
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		s.done <- nil
		committed := committedOffset(t, broker, group, topics["send"], 0)
		got := applied(filepath.Join(dir, "events.db"))
		for off := int64(1); off < committed; off++ {
			if got[off] != 1 {
				t.Fatalf("kill %d: offset %d is committed (the group is at %d) but has %d events in the log", kill, off, committed, got[off])
			}
		}
		t.Logf("kill %d: %d commands in the log, the group committed up to %d", kill, len(got), committed)
		if len(got) >= n {
			t.Fatalf("kill %d: all %d commands were applied before it; the test proves nothing", kill, n)
		}

		launched := time.Now()
		s = startWithArgs(t, dir, addr, flags)
		head := s.logHead(t)
		eventuallyWithin(t, 40*time.Second, "the restarted instance consuming", func() error {
			if s.logHead(t) == head {
				return fmt.Errorf("log head still %d", head)
			}
			return nil
		})
		// A dynamic member would wait for the killed one's session to expire (45 s).
		t.Logf("restart %d: consuming again %v after it was launched", kill, time.Since(launched).Round(time.Millisecond))
	}
	eventuallyWithin(t, 120*time.Second, "every command applied", func() error {
		if h := s.logHead(t); h < n {
			return fmt.Errorf("log head %d of %d", h, n)
		}
		return nil
	})
	total := 0
	eventually(t, "the inbox counts every command", func() error {
		total = 0
		for r := range recipients {
			c := s.count(t, fmt.Sprintf("%s-%d", prefix, r))
			if c != n/recipients {
				return fmt.Errorf("%s-%d has %d, want %d", prefix, r, c, n/recipients)
			}
			total += c
		}
		return nil
	})
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
	s.done <- nil
	got := applied(filepath.Join(dir, "events.db"))
	for off := int64(1); off <= n; off++ {
		if got[off] != 1 {
			t.Fatalf("offset %d produced %d events, want exactly 1", off, got[off])
		}
	}
	if len(got) != n {
		t.Fatalf("the log holds events of %d offsets, want %d", len(got), n)
	}
}

// logHead is the event log's head as /readyz reports it.
func (s *service) logHead(t *testing.T) int {
	t.Helper()
	code, _, body := s.do(t, "GET", "/readyz", "")
	var r struct{ LogHead int }
	if code != 200 || json.Unmarshal(body, &r) != nil {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	return r.LogHead
}

// committedOffset is the consumer group's committed offset of a partition (-1: none).
func committedOffset(t *testing.T, broker, group, topic string, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	off, err := kafkaadmin.Committed(ctx, cl, group, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

func eventsPerCommand(t *testing.T, path string) map[string]int {
	t.Helper()
	log, err := eventlog.Open(path, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	head := log.Head()
	out := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stop := fmt.Errorf("done")
	err = log.Subscribe(ctx, 0, eventstore.Filter{StreamPrefix: notification.StreamPrefix}, func(_ context.Context, b eventstore.Batch) error {
		for _, e := range b.Events {
			var md struct{ CommandID string }
			json.Unmarshal(e.Metadata, &md)
			out[md.CommandID]++
		}
		if b.Position >= head {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("read the log: %v", err)
	}
	return out
}

// A partition that cannot move is never silent: with a poison topic the broker refuses, a
// malformed command cannot be parked and holds its partition's offset (the commands after
// it are still applied), and /readyz answers 503 naming the partition and the offset it is
// stuck at; restarted with a poison topic that works, the command is parked and the service
// is ready again.
func TestKafka_StalledPartitionMakesReadyzNotReady(t *testing.T) {
	t.Parallel()
	broker, topics, flags := kafkaEnv(t)
	dir, addr := t.TempDir(), freePort(t)
	bad := append(slices.Clone(flags), "--kafka-topic-poison", "not a valid topic!", "--kafka-stall-after", "1s")
	s := startWithArgs(t, dir, addr, bad)
	recipient := uuid.NewString()
	kcat(t, broker, "-P", "-t", topics["send"])(`{"recipientId":`, fmt.Sprintf(`{"recipientId":%q,"content":"Behind the malformed one","category":"c"}`, recipient))
	eventually(t, "the command after the malformed one applied", func() error {
		if c := s.count(t, recipient); c != 1 {
			return fmt.Errorf("%d notifications", c)
		}
		return nil
	})
	type ready struct {
		Status any // "ready", or the problem's 503
		Kafka  struct {
			Status  string
			Stalled []struct {
				Topic     string
				Partition int32
				Offset    int64
			}
		}
	}
	readyz := func() (int, ready) {
		code, _, body := s.do(t, "GET", "/readyz", "")
		var r ready
		if json.Unmarshal(body, &r) != nil {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		return code, r
	}
	// The first record of each topic, the warm-up record kafkaEnv writes, is no command
	// either: it is where each partition is held.
	eventually(t, "/readyz not ready, naming the partition", func() error {
		code, r := readyz()
		held := map[string]int64{}
		for _, p := range r.Kafka.Stalled {
			held[p.Topic] = p.Offset
		}
		if off, ok := held[topics["send"]]; code != 503 || r.Status != float64(503) || r.Kafka.Status != "degraded" || !ok || off != 0 {
			return fmt.Errorf("%d %+v", code, r)
		}
		return nil
	})
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	s.done <- nil

	s = startWithArgs(t, dir, addr, append(slices.Clone(flags), "--kafka-stall-after", "1s"))
	eventually(t, "the malformed command parked", func() error {
		if got := consumeWithKcat(t, broker, topics["poison"]); len(got) != 1 { // the warm-up records' are left out
			return fmt.Errorf("%d on the poison topic", len(got))
		}
		return nil
	})
	eventually(t, "/readyz ready again", func() error {
		if code, r := readyz(); code != 200 || r.Kafka.Status != "ok" {
			return fmt.Errorf("%d %+v", code, r)
		}
		return nil
	})
}
