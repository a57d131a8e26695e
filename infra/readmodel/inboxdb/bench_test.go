package inboxdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
	"github.com/eventnotify/notify/projections/inbox/inboxtest"
)

// BenchmarkReplay is a full replay of the inbox projection from the embedded event log into a
// fresh copy, promoted over a live copy holding the same (b.N events, 10,000 recipients; 40 %
// of notifications are later read or canceled, as in the PostgreSQL benchmark):
//
//	go test -run '^$' -bench Replay -benchtime 1000000x ./infra/readmodel/inboxdb/
//
// Building the log and the live copy is not timed; the replay, the switch and the drop of the
// old copy are. The log is kept in the temporary directory (notify-bench-replay-N.db) and
// reused by the next run of the same size; delete it to build it again.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("notify-bench-replay-%d.db", b.N))
	_, statErr := os.Stat(path)
	log, err := eventlog.Open(path, eventlog.Options{ReadBatch: readBatch()})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	if statErr != nil || log.Head() < eventstore.Position(b.N/2) {
		fill(b, log, b.N, 10_000)
	}
	s, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	head := log.Head()
	liveCtx, stopLive := context.WithCancel(ctx)
	live := projections.NewRunner(log, s, inbox.Projection(), nil)
	go live.Run(liveCtx)
	if err := live.WaitFor(ctx, head); err != nil {
		b.Fatal(err)
	}
	stopLive()

	if path := os.Getenv("REPLAY_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	start := time.Now()
	c, err := s.Fresh(ctx, inbox.Name)
	if err != nil {
		b.Fatal(err)
	}
	at, err := projections.Replay(ctx, log, s, c, inbox.Projection(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if at != head {
		b.Fatalf("promoted at %d, want the head %d", at, head)
	}
	b.ReportMetric(float64(head)/took.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}

// fill appends about n events: notifications (one stream each) sent to recipients, 30 % of
// them read and 10 % canceled in a later append, from 32 concurrent appenders.
func fill(b *testing.B, log *eventlog.Store, n, recipients int) {
	b.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(e notification.Event) eventstore.EventData {
		data, _ := json.Marshal(e)
		return eventstore.EventData{ID: uuid.New(), Type: e.Type(), Data: data}
	}
	var wg sync.WaitGroup
	per := n / 32
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			var later []notification.Event
			for written := 0; written < per; written++ {
				if len(later) > 8 || (len(later) > 0 && written+len(later) >= per) {
					e := later[0]
					later = later[1:]
					if _, err := log.Append(context.Background(), notification.Stream(e.Notification()), eventstore.StreamExists, ev(e)); err != nil {
						b.Error(err)
						return
					}
					continue
				}
				id, r := uuid.NewString(), fmt.Sprintf("r-%d", rng.IntN(recipients))
				at := t0.Add(time.Duration(written) * time.Millisecond)
				sent := notification.Sent{NotificationID: id, RecipientID: r, Content: fmt.Sprintf("You have a new follower number %d", written), Category: "social", SentAt: at}
				if _, err := log.Append(context.Background(), notification.Stream(id), eventstore.NoStream, ev(sent)); err != nil {
					b.Error(err)
					return
				}
				switch x := rng.IntN(100); {
				case x < 30:
					later = append(later, notification.Read{NotificationID: id, RecipientID: r, ReadAt: at.Add(time.Minute)})
				case x < 40:
					later = append(later, notification.Canceled{NotificationID: id, RecipientID: r, CanceledAt: at.Add(time.Minute)})
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

func readBatch() int {
	n, _ := strconv.Atoi(os.Getenv("READ_BATCH"))
	return n
}

// BenchmarkInboxPage is the latency of a 20-item inbox page (the /v1 page query) and of a
// count, for a random recipient, with INBOXDB_BENCH_ROWS events stored (default 100,000),
// one recipient per 100 events so that every page is full whatever the total:
//
//	INBOXDB_BENCH_ROWS=10000 go test -run '^$' -bench InboxPage -benchtime 20000x ./infra/readmodel/inboxdb/
//	INBOXDB_BENCH_ROWS=1000000 go test -run '^$' -bench InboxPage -benchtime 20000x ./infra/readmodel/inboxdb/
//
// INBOX_BENCH_RICH=1 stores #13's shapes instead (inboxtest.RichWorkload).
func BenchmarkInboxPage(b *testing.B) {
	rows := 100_000
	if v, err := strconv.Atoi(os.Getenv("INBOXDB_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	recipients := max(rows/100, 10)
	s, err := inboxdb.Open(filepath.Join(b.TempDir(), "inbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	start := time.Now()
	events := inboxtest.Workload(rows, recipients)
	if os.Getenv("INBOX_BENCH_RICH") != "" { // #13's fields on every notification, some seen or archived
		events = inboxtest.RichWorkload(rows, recipients)
	}
	var at eventstore.Position
	for i := 0; i < len(events); i += 4096 {
		batch := events[i:min(i+4096, len(events))]
		to := batch[len(batch)-1].Position
		err := s.Apply(ctx, inbox.Name, at, to, func(tx inbox.Tx) error {
			return inboxtest.Fold(tx, batch)
		})
		if err != nil {
			b.Fatal(err)
		}
		at = to
	}
	b.Logf("stored %d events in %v", rows, time.Since(start).Round(time.Millisecond))

	inboxtest.BenchQueries(b, s, recipients)
}

// BenchmarkLiveProjection is the live projector's rate: the runner applying b.N events from
// the embedded event log into the live read model in its batches, as it does while commands
// arrive (the log is built first, untimed; 30 % read and 10 % canceled later):
//
//	go test -run '^$' -bench LiveProjection -benchtime 200000x ./infra/readmodel/inboxdb/
func BenchmarkLiveProjection(b *testing.B) {
	for _, recipients := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("recipients=%d", recipients), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{ReadBatch: readBatch()})
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			fill(b, log, b.N, recipients)
			s, err := inboxdb.Open(filepath.Join(dir, "inbox.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			head := log.Head()
			b.ResetTimer()
			start := time.Now()
			runCtx, stop := context.WithCancel(ctx)
			r := projections.NewRunner(log, s, inbox.Projection(), nil)
			done := make(chan struct{})
			go func() { r.Run(runCtx); close(done) }()
			if err := r.WaitFor(ctx, head); err != nil {
				b.Fatal(err)
			}
			took := time.Since(start)
			b.StopTimer()
			stop()
			<-done
			b.ReportMetric(float64(head)/took.Seconds(), "events/s")
			b.ReportMetric(float64(took.Nanoseconds())/float64(head), "ns/event")
			b.ReportMetric(0, "ns/op")
		})
	}
}
