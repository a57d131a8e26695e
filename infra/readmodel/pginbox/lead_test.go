package pginbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

const poll = 100 * time.Millisecond

// terminate ends a server session from outside, as a crashed process or a dropped network
// would: the server frees the session's advisory locks.
func terminate(t *testing.T, pid uint32) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate backend %d: %v, %v", pid, ok, err)
	}
}

// Given several instances contending for one projection, exactly one leads; when it leaves
// (releases, or its connection is killed) exactly one other takes over within seconds, and
// the old lease can no longer commit.
func TestLead_ExactlyOneLeaderAndTakeover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		leave func(t *testing.T, l *pginbox.Lease)
	}{
		{"leader releases", func(_ *testing.T, l *pginbox.Lease) { l.Release() }},
		{"leader's connection is killed", func(t *testing.T, l *pginbox.Lease) { terminate(t, l.BackendPID()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			schema := freshSchema(t)
			const contenders = 4
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			leases := make(chan *pginbox.Lease, contenders)
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			start := make(chan struct{})
			for range contenders {
				s := open(t, schema, pginbox.Options{LeadPoll: poll}) // one instance each
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					l, err := s.Lead(ctx, inbox.Name)
					if err != nil {
						if !errors.Is(err, context.Canceled) {
							t.Errorf("lead: %v", err)
						}
						return
					}
					leases <- l
					<-ctx.Done()
					l.Release()
				}()
			}
			close(start)

			first := <-leases
			time.Sleep(5 * poll) // every contender has tried several times meanwhile
			if n := len(leases); n != 0 {
				t.Fatalf("%d more instances lead alongside the first", n)
			}
			if err := first.Apply(ctx, inbox.Name, 0, 1, func(inbox.Tx) error { return nil }); err != nil {
				t.Fatalf("the leader cannot apply: %v", err)
			}

			left := time.Now()
			tt.leave(t, first)
			var second *pginbox.Lease
			select {
			case second = <-leases:
			case <-time.After(5 * time.Second):
				t.Fatal("no instance took over within 5s")
			}
			t.Logf("takeover after %v", time.Since(left).Round(time.Millisecond))
			select {
			case <-first.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the old lease does not know it ended")
			}
			if err := first.Apply(ctx, inbox.Name, 1, 99, func(inbox.Tx) error { return nil }); !errors.Is(err, pginbox.ErrNotLeader) {
				t.Fatalf("the old leader's apply = %v, want ErrNotLeader", err)
			}
			time.Sleep(5 * poll)
			if n := len(leases); n != 0 {
				t.Fatalf("%d more instances lead alongside the new leader", n)
			}
			if err := second.Apply(ctx, inbox.Name, 1, 2, func(inbox.Tx) error { return nil }); err != nil {
				t.Fatalf("the new leader cannot apply: %v", err)
			}
			if err := second.Apply(ctx, "another", 0, 2, func(inbox.Tx) error { return nil }); err == nil {
				t.Fatal("a lease applied for a projection it does not lead")
			}
			if p, _ := second.Checkpoint(ctx, inbox.Name); p != 2 {
				t.Fatalf("checkpoint %d, want 2: the old leader's apply must not have landed", p)
			}
		})
	}
}

// ledger wraps the inbox projection with a counter of applied events kept in the read model
// itself: it moves in the batch's transaction, so it ends equal to the number of events in the
// log only if each was applied exactly once.
func ledger(name, counter string) projections.Projection[inbox.Tx] {
	p := inbox.Projection()
	p.Name = name
	p.Decode, p.Fold = nil, nil // the runner then uses Apply, wrapped below
	base := p.Apply
	p.Apply = func(tx inbox.Tx, e eventstore.RecordedEvent) error {
		if err := base(tx, e); err != nil {
			return err
		}
		v, ok, err := tx.Get(counter)
		if err != nil {
			return err
		}
		n := 0
		if ok {
			n, _ = strconv.Atoi(v.Content)
		} else {
			v = inbox.View{ID: counter, RecipientID: counter, Category: "ledger", Status: inbox.StatusRead, Seq: 1}
		}
		v.Content = strconv.Itoa(n + 1)
		return tx.Put(v)
	}
	return p
}

// Three service instances share one event log and one PostgreSQL. While commands stream in,
// the active projector dies twice (its database connection is killed, then its process stops);
// another instance takes over each time. In the end every event was applied exactly once and
// the inboxes are exact.
func TestInstances_ProjectorDies_NoEventLostOrAppliedTwice(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	log, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{ReadBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	name, counter := "inbox-"+uuid.NewString()[:8], "ledger-"+uuid.NewString()[:8]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type instance struct {
		store *pginbox.Store
		stop  context.CancelFunc
		lease atomic.Pointer[pginbox.Lease]
		terms atomic.Int32
		dead  atomic.Bool
	}
	var instances []*instance
	var wg sync.WaitGroup
	for range 3 {
		in := &instance{store: open(t, schema, pginbox.Options{LeadPoll: poll})}
		instances = append(instances, in)
		ictx, stop := context.WithCancel(ctx)
		in.stop = stop
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.store.RunLeading(ictx, name, func(ctx context.Context, lease *pginbox.Lease) error {
				in.lease.Store(lease)
				in.terms.Add(1)
				defer in.lease.Store(nil)
				return projections.NewRunner(log, lease, ledger(name, counter), nil).Run(ctx)
			}, nil)
		}()
	}
	defer wg.Wait()
	defer cancel()

	leader := func() (*instance, *pginbox.Lease) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, in := range instances {
				if l := in.lease.Load(); l != nil && l.Err() == nil && !in.dead.Load() {
					return in, l
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no instance leads")
		return nil, nil
	}

	const workers, perWorker, recipients = 4, 60, 8
	send := command.NewSendNotificationHandler(log, nil)
	read := command.NewReadNotificationHandler(log, nil)
	unread := command.NewUnreadNotificationHandler(log, nil)
	cancelN := command.NewCancelNotificationHandler(log, nil)
	prefix := "r-" + uuid.NewString()[:6] + "-"
	// Three phases of commands; after each of the first two, while the projector is still
	// catching up, the leader dies. The next phase's events can only be applied by a successor.
	phase := func(from, to int) {
		var cw sync.WaitGroup
		for w := range workers {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for i := from + w; i < to; i += workers {
					res, err := send.Handle(ctx, command.SendNotification{RecipientID: prefix + strconv.Itoa(i%recipients), Content: fmt.Sprintf("message %d", i), Category: "c"})
					if err != nil {
						t.Error(err)
						return
					}
					id := res.Notification.ID()
					if i%3 == 0 {
						_, err = read.Handle(ctx, command.ReadNotification{NotificationID: id})
					}
					if err == nil && i%6 == 0 {
						_, err = unread.Handle(ctx, command.UnreadNotification{NotificationID: id})
					}
					if err == nil && i%10 == 0 {
						_, err = cancelN.Handle(ctx, command.CancelNotification{NotificationID: id})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		cw.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	const total = workers * perWorker
	for k := range 3 {
		phase(k*total/3, (k+1)*total/3)
		if k < 2 {
			in, l := leader()
			terminate(t, l.BackendPID())
			in.dead.Store(true)
			in.stop()
		}
	}

	head := log.Head()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := instances[0].store.Checkpoint(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if p == head {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection at %d, log head %d after 20s", p, head)
		}
		time.Sleep(20 * time.Millisecond)
	}

	s := instances[0].store
	docs, err := s.List(ctx, counter, 1)
	if err != nil || len(docs) != 1 {
		t.Fatalf("ledger: %d, %v", len(docs), err)
	}
	var l inbox.View
	if err := json.Unmarshal(docs[0], &l); err != nil {
		t.Fatal(err)
	}
	if l.Content != strconv.FormatUint(uint64(head), 10) {
		t.Fatalf("events applied %s times, log holds %d events", l.Content, head)
	}

	want := map[string]inbox.Counts{}
	for i := range total {
		r := prefix + strconv.Itoa(i%recipients)
		c := want[r]
		c.Total++
		read, canceled := i%3 == 0 && i%6 != 0, i%10 == 0
		if canceled {
			c.Canceled++
		} else if !read {
			c.Unread++
			if i%3 != 0 { // read and then unread: seen
				c.Unseen++
			}
		}
		want[r] = c
	}
	for r, w := range want {
		c, err := s.Count(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		docs, _ := s.List(ctx, r, 1000)
		if c != w || len(docs) != w.Total {
			t.Fatalf("%s: counts %+v and %d listed, want %+v", r, c, len(docs), w)
		}
	}
	for i, in := range instances {
		if n := in.terms.Load(); n != 1 {
			t.Fatalf("instance %d led %d times, want once each: every death hands over", i, n)
		}
	}
	t.Logf("%d events applied once each across 3 leadership terms", head)
}
