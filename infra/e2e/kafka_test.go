package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/eventlog"
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

// SIGKILL in the middle of a stream of commands, then a restart: every command produced is
// applied exactly once (the log holds one event per command id), and the inbox shows them all.
func TestKafka_KillDuringCommandStreamLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	broker, topics, flags := kafkaEnv(t)
	dir, addr := t.TempDir(), freePort(t)
	s := startWithArgs(t, dir, addr, flags)
	const n, recipients = 3000, 10
	lines := make([]string, n)
	for i := range lines {
		r := fmt.Sprintf("kill-%s-%d", topics["send"][:11], i%recipients)
		lines[i] = fmt.Sprintf("%s\t{\"type\":\"SendNotification\",\"commandId\":\"cmd-%d\",\"recipientId\":%q,\"content\":\"Command number %d\",\"category\":\"stream\"}", r, i, r, i)
	}
	total := func(s *service) int {
		sum := 0
		for r := range recipients {
			sum += s.count(t, fmt.Sprintf("kill-%s-%d", topics["send"][:11], r))
		}
		return sum
	}
	kcat(t, broker, "-P", "-t", topics["commands"], "-K", "\t")(lines...)
	deadline := time.Now().Add(30 * time.Second)
	for total(s) < n/4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	before := total(s)
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.done <- nil
	if before >= n {
		t.Fatalf("all %d commands were applied before the kill; the test proves nothing", n)
	}
	t.Logf("SIGKILL after %d of %d commands were visible", before, n)

	s = startWithArgs(t, dir, addr, flags)
	// The killed member holds its partitions until its Kafka session times out.
	eventuallyWithin(t, 90*time.Second, "every command applied after the restart", func() error {
		if got := total(s); got != n {
			return fmt.Errorf("%d of %d", got, n)
		}
		return nil
	})
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
	s.done <- nil

	perCommand := eventsPerCommand(t, filepath.Join(dir, "events.db"))
	for i := range n {
		if c := perCommand[fmt.Sprintf("cmd-%d", i)]; c != 1 {
			t.Fatalf("command cmd-%d produced %d events, want exactly 1", i, c)
		}
	}
	if len(perCommand) != n {
		t.Fatalf("the log holds events of %d commands, want %d", len(perCommand), n)
	}
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
