package e2e_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/infra/store/esdb/esdbtest"
)

// Two instances share one event store (the EventStoreDB double) and one PostgreSQL read
// model. One of them projects; killing it with SIGKILL hands the projection to the other
// within seconds, and every notification is counted exactly once. Needs PG_URL (CI starts
// PostgreSQL with deploy/postgres/pg.sh).
func TestPostgres_TwoInstancesTakeOverWithoutDoubleApply(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("PG_URL")
	if pg == "" {
		t.Skip("PG_URL is not set: start PostgreSQL with `deploy/postgres/pg.sh up` (CI does) to run this test")
	}
	srv := esdbtest.Run(t)
	schema := "e2e_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	start := func() *service {
		return startServiceArgs(t, []string{"--data-dir", t.TempDir(), "--http-addr", freePort(t),
			"--event-store", srv.URL(), "--read-model", pg, "--read-model-schema", schema, "--log-level", "info"})
	}
	a, b := start(), start()
	recipient := "pg-" + uuid.NewString()[:8]
	send := func(s *service, n int, from int) {
		for i := from; i < from+n; i++ {
			code, _, body := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":"Shared read model %d","category":"c"}`, recipient, i))
			if code != 201 {
				t.Fatalf("POST %d = %d %s", i, code, body)
			}
		}
	}
	send(a, 50, 0)
	send(b, 50, 50)
	for _, s := range []*service{a, b} {
		eventuallyWithin(t, 20*time.Second, "both instances see 100", func() error {
			if c := s.count(t, recipient); c != 100 {
				return fmt.Errorf("count %d", c)
			}
			return nil
		})
	}
	leader, follower := a, b
	if !strings.Contains(a.logs.String(), "leading the inbox projection") {
		leader, follower = b, a
	}
	if !strings.Contains(leader.logs.String(), "leading the inbox projection") || strings.Contains(follower.logs.String(), "leading the inbox projection") {
		t.Fatalf("want exactly one leader; logs:\nA: %s\nB: %s", a.logs, b.logs)
	}
	leader.cmd.Process.Signal(syscall.SIGKILL)
	<-leader.done
	leader.done <- nil
	killed := time.Now()

	send(follower, 40, 100)
	eventuallyWithin(t, 30*time.Second, "the survivor takes over and projects", func() error {
		if c := follower.count(t, recipient); c != 140 {
			return fmt.Errorf("count %d, want 140", c)
		}
		return nil
	})
	t.Logf("the survivor projected every event %v after the leader was killed", time.Since(killed).Round(10*time.Millisecond))
	if got := len(follower.inbox(t, recipient)); got != 140 {
		t.Fatalf("inbox lists %d, want 140", got)
	}
	if !strings.Contains(follower.logs.String(), "leading the inbox projection") {
		t.Fatalf("the survivor never took the lead:\n%s", follower.logs)
	}
}

// Two instances sharing a PostgreSQL read model both take commands, but only the one that
// leads the relay publishes events: each event reaches the events topic once. When the relay
// leader is killed, the other takes the relay over and publishes what came after (at least
// once: events after the last saved checkpoint may be published again). Needs PG_URL and
// KAFKA_BROKERS (CI starts both).
func TestPostgres_OneInstanceRelaysEvents(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("PG_URL")
	if pg == "" {
		t.Skip("PG_URL is not set: start PostgreSQL with `deploy/postgres/pg.sh up` (CI does) to run this test")
	}
	broker, topics, kafkaFlags := kafkaEnv(t)
	srv := esdbtest.Run(t)
	schema := "e2e_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	start := func() *service {
		return startServiceArgs(t, append([]string{"--data-dir", t.TempDir(), "--http-addr", freePort(t),
			"--event-store", srv.URL(), "--read-model", pg, "--read-model-schema", schema, "--log-level", "info"}, kafkaFlags...))
	}
	a, b := start(), start()
	recipient := "relay-" + uuid.NewString()[:8]
	send := func(s *service, from, n int) {
		for i := from; i < from+n; i++ {
			code, _, body := s.do(t, "POST", "/notifications", fmt.Sprintf(`{"recipientId":%q,"content":"Relayed once %d","category":"c"}`, recipient, i))
			if code != 201 {
				t.Fatalf("POST %d = %d %s", i, code, body)
			}
		}
	}
	// eventIDs counts each event id on the events topic (the id header of §4).
	eventIDs := func() map[string]int {
		ids := map[string]int{}
		for _, line := range consumeWithKcat(t, broker, topics["events"]) {
			if !strings.Contains(line, recipient) {
				continue
			}
			for _, h := range strings.Split(strings.SplitN(line, "\t", 3)[1], ",") {
				if k, v, ok := strings.Cut(h, "="); ok && k == "event-id" {
					ids[v]++
				}
			}
		}
		return ids
	}
	send(a, 0, 20)
	send(b, 20, 20)
	eventuallyWithin(t, 30*time.Second, "40 events on the topic", func() error {
		if n := len(eventIDs()); n != 40 {
			return fmt.Errorf("%d distinct events", n)
		}
		return nil
	})
	time.Sleep(time.Second) // a second relay, if there were one, would have published too
	for id, n := range eventIDs() {
		if n != 1 {
			t.Fatalf("event %s published %d times by two instances", id, n)
		}
	}
	relay, other := a, b
	if !strings.Contains(a.logs.String(), "this instance leads the relay") {
		relay, other = b, a
	}
	if !strings.Contains(relay.logs.String(), "this instance leads the relay") || strings.Contains(other.logs.String(), "this instance leads the relay") {
		t.Fatalf("want exactly one relay; logs:\nA: %s\nB: %s", a.logs, b.logs)
	}
	relay.cmd.Process.Signal(syscall.SIGKILL)
	<-relay.done
	relay.done <- nil
	send(other, 40, 10)
	eventuallyWithin(t, 30*time.Second, "the survivor relays the rest", func() error {
		if n := len(eventIDs()); n != 50 {
			return fmt.Errorf("%d distinct events", n)
		}
		return nil
	})
}
