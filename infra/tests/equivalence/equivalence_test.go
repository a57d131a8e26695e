package equivalence_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/infra/tests/inboxhash"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// readModel is a read model that can be replayed into a copy, with its queries.
type readModel interface {
	projections.Store[inbox.Tx]
	projections.Copies[inbox.Tx]
	query.ReadModel
}

// backend opens a read model and starts its live projector (which runs until ctx ends).
type backend struct {
	name string
	open func(t *testing.T, ctx context.Context, log projections.Log) readModel
}

func embedded() backend {
	return backend{"embedded", func(t *testing.T, ctx context.Context, log projections.Log) readModel {
		s, err := inboxdb.Open(filepath.Join(t.TempDir(), "inbox.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		go projections.NewRunner(log, s, inbox.Projection(), nil).Run(ctx)
		return s
	}}
}

// commands is how many commands the workload sends: REPLAY_COMMANDS, default 10,000 (CI runs
// 100,000 without the race detector).
func commands(t *testing.T) int {
	n := 10_000
	if v := os.Getenv("REPLAY_COMMANDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("REPLAY_COMMANDS=%q: want a positive number", v)
		}
	}
	return n
}

// After a mixed workload, a full replay into a fresh copy builds a read model identical to the
// live one (same canonical hash), while readers query without pause and see no error and no
// change (the workload's recipients get no writes during the replay; other recipients do, so
// the live projector and the copy both follow a moving log).
func TestReplayEquivalence(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testReplayEquivalence(t, b)
		})
	}
}

func testReplayEquivalence(t *testing.T, b backend) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	rm := b.open(t, ctx, log)

	n := commands(t)
	recipients := make([]string, max(n/200, 10))
	for i := range recipients {
		recipients[i] = fmt.Sprintf("eq-%s-%04d", b.name, i)
	}
	start := time.Now()
	stats := workload(t, ctx, log, rm, recipients, n)
	t.Logf("%d commands in %v: %+v; log head %d", n, time.Since(start).Round(time.Millisecond), stats, log.Head())
	caughtUp(t, ctx, rm, log.Head())

	before, snapshot := canonical(t, ctx, rm, recipients)

	// Readers query the workload's recipients throughout the replay; every answer must be the
	// snapshot's. A writer keeps sending to other recipients meanwhile.
	var queries, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := recipients[rng.IntN(len(recipients))]
				c, err := rm.Count(ctx, r)
				if err == nil && c != snapshot[r] {
					err = fmt.Errorf("count of %s = %+v, want %+v", r, c, snapshot[r])
				}
				if err == nil {
					var p inbox.Page
					p, err = rm.Page(ctx, inbox.PageQuery{Recipient: r, Limit: 20, Archived: inbox.ArchivedAll})
					if err == nil && len(p.Items) != min(20, snapshot[r].Total) {
						err = fmt.Errorf("first page of %s has %d items, want %d", r, len(p.Items), min(20, snapshot[r].Total))
					}
				}
				queries.Add(1)
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	send := command.NewSendNotificationHandler(log, nil)
	var duringReplay atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			_, err := send.Handle(ctx, command.SendNotification{RecipientID: fmt.Sprintf("eq-live-%d", i%10), Content: "sent during the replay", Category: "live"})
			if err != nil {
				t.Errorf("send during the replay: %v", err)
				return
			}
			duringReplay.Add(1)
		}
	}()

	replayStart := time.Now()
	c, err := rm.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	at, err := projections.Replay(ctx, log, rm, c, inbox.Projection(), nil, nil)
	took := time.Since(replayStart)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	t.Logf("replay promoted at %d after %v (%.0f events/s); %d queries during it, %d failed; %d sends to other recipients meanwhile",
		at, took.Round(time.Millisecond), float64(at)/took.Seconds(), queries.Load(), failures.Load(), duringReplay.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d of %d queries during the replay failed or saw a change; first: %v", failures.Load(), queries.Load(), firstFailure.Load())
	}
	if queries.Load() == 0 {
		t.Fatal("no query ran during the replay")
	}

	caughtUp(t, ctx, rm, log.Head())
	after, _ := canonical(t, ctx, rm, recipients)
	if after != before {
		t.Fatalf("read model after the replay hashes %s, before %s", after, before)
	}
	var live int
	for i := range 10 {
		c, err := rm.Count(ctx, fmt.Sprintf("eq-live-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		live += c.Total
	}
	if int64(live) != duringReplay.Load() {
		t.Fatalf("the live projector resumed on the promoted copy with %d of the %d notifications sent during the replay", live, duringReplay.Load())
	}
	t.Logf("canonical hash %s before and after", before)
}

type workloadStats struct {
	Sent, Rich, Read, Unread, Canceled, Seen, Archived, Unarchived, ReadAll, Bulk, Redelivered, Rejected, Conflicts int64
}

// workload runs n commands from 16 workers: sends (a third of them with a title, data, an
// action and tags), reads, unreads, cancels, sees, archives, unarchives, read-alls, bulk
// changes (by tag or status, one action each),
// redeliveries of earlier commands (no-ops) and invalid commands (rejected).
func workload(t *testing.T, ctx context.Context, log *eventlog.Store, rm readModel, recipients []string, n int) workloadStats {
	t.Helper()
	send := command.NewSendNotificationHandler(log, nil)
	read := command.NewReadNotificationHandler(log, nil)
	unread := command.NewUnreadNotificationHandler(log, nil)
	cancel := command.NewCancelNotificationHandler(log, nil)
	see := command.NewSeeNotificationHandler(log, nil)
	archive := command.NewArchiveNotificationHandler(log, nil)
	unarchive := command.NewUnarchiveNotificationHandler(log, nil)
	readAll := command.NewReadAllNotificationsHandler(read, query.NewInbox(rm))
	bulk := command.NewBulkChangeHandler(see, read, unread, archive, unarchive, query.NewInbox(rm))

	var (
		mu    sync.Mutex
		ids   []string                   // notifications sent so far
		sends []command.SendNotification // for redelivery
		stats workloadStats              // guarded by mu
		next  atomic.Int64               // commands taken
		count = func(f *int64) { mu.Lock(); *f++; mu.Unlock() }
	)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			pick := func() string {
				mu.Lock()
				defer mu.Unlock()
				if len(ids) == 0 {
					return ""
				}
				return ids[rng.IntN(len(ids))]
			}
			for next.Add(1) <= int64(n) {
				var err error
				switch op := rng.IntN(100); {
				case op < 40 || pick() == "":
					cmd := command.SendNotification{
						Meta:        command.Meta{CommandID: fmt.Sprintf("w%d-%d", w, rng.Uint64())},
						RecipientID: recipients[rng.IntN(len(recipients))],
						Content:     fmt.Sprintf("notification %d of worker %d", rng.IntN(1e6), w),
						Category:    []string{"sales", "billing", "social", "system"}[rng.IntN(4)],
					}
					rich := rng.IntN(3) == 0
					if rich {
						tags := []string{"urgent", "billing", "team-a", "weekly"}
						cmd.Rich = notification.Rich{
							Title:     fmt.Sprintf("Title <%d> & more", rng.IntN(100)),
							Data:      json.RawMessage(fmt.Sprintf(`{"order": %d, "lines": [{"sku": "a&b"}], "note": "\u00e9"}`, rng.IntN(1e6))),
							ActionURL: "/orders/" + strconv.Itoa(rng.IntN(1e6)),
							Actions:   []notification.Action{{Label: "Open", URL: "https://example.com/o"}},
							Tags:      []string{tags[rng.IntN(2)], tags[2+rng.IntN(2)]},
						}
					}
					var res command.Result
					if res, err = send.Handle(ctx, cmd); err == nil {
						mu.Lock()
						ids, sends = append(ids, res.Notification.ID()), append(sends, cmd)
						stats.Sent++
						if rich {
							stats.Rich++
						}
						mu.Unlock()
					}
				case op < 55:
					_, err = read.Handle(ctx, command.ReadNotification{NotificationID: pick()})
					count(&stats.Read)
				case op < 62:
					_, err = unread.Handle(ctx, command.UnreadNotification{NotificationID: pick()})
					count(&stats.Unread)
				case op < 68:
					_, err = cancel.Handle(ctx, command.CancelNotification{NotificationID: pick()})
					count(&stats.Canceled)
				case op < 74:
					_, err = see.Handle(ctx, command.SeeNotification{NotificationID: pick()})
					count(&stats.Seen)
				case op < 80:
					_, err = archive.Handle(ctx, command.ArchiveNotification{NotificationID: pick()})
					count(&stats.Archived)
				case op < 84:
					_, err = unarchive.Handle(ctx, command.UnarchiveNotification{NotificationID: pick()})
					count(&stats.Unarchived)
				case op < 86:
					_, err = readAll.Handle(ctx, command.ReadAllNotifications{RecipientID: recipients[rng.IntN(len(recipients))]})
					count(&stats.ReadAll)
				case op < 88:
					f := []command.BulkFilter{{Tag: "urgent"}, {Tag: "team-a"}, {Status: "unread"}, {Category: "billing"}}[rng.IntN(4)]
					_, err = bulk.Handle(ctx, command.BulkChange{RecipientID: recipients[rng.IntN(len(recipients))], Action: command.BulkActions[rng.IntN(len(command.BulkActions))], Filter: f})
					count(&stats.Bulk)
				case op < 96:
					mu.Lock()
					cmd := sends[rng.IntN(len(sends))]
					mu.Unlock()
					var res command.Result
					if res, err = send.Handle(ctx, cmd); err == nil && res.Changed {
						err = fmt.Errorf("redelivered send %s changed the log", cmd.Meta.CommandID)
					}
					count(&stats.Redelivered)
				default:
					_, err = send.Handle(ctx, command.SendNotification{RecipientID: recipients[0], Content: ""})
					var ve *notification.ValidationError
					if errors.As(err, &ve) {
						err = nil
						count(&stats.Rejected)
					} else {
						err = fmt.Errorf("send with no content: %v, want a validation error", err)
					}
				}
				if errors.Is(err, notification.ErrConflict) {
					err = nil // e.g. reading a canceled notification: refused, nothing appended
					count(&stats.Conflicts)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return stats
}

// caughtUp waits until the live read model reflects the log up to head.
func caughtUp(t *testing.T, ctx context.Context, rm readModel, head eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := rm.Checkpoint(ctx, inbox.Name)
		if err != nil {
			t.Fatal(err)
		}
		if p >= head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live projection is at %d, the log at %d, after 2 minutes", p, head)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// canonical hashes every recipient's counts and whole inbox (inboxhash.Hash) and returns the
// counts too.
func canonical(t *testing.T, ctx context.Context, rm readModel, recipients []string) (string, map[string]inbox.Counts) {
	t.Helper()
	h, counts, err := inboxhash.Hash(ctx, rm, recipients)
	if err != nil {
		t.Fatal(err)
	}
	return h, counts
}
