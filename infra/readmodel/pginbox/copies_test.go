package pginbox_test

import (
	"bytes"
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
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
	"github.com/eventnotify/notify/projections/inbox/inboxtest"
)

func TestCopiesContract(t *testing.T) {
	t.Parallel()
	pgURL(t)
	inboxtest.RunCopies(t, func(t *testing.T) inboxtest.CopyStore {
		return open(t, freshSchema(t), pginbox.Options{})
	})
}

// Queries on pooled connections that already ran them (so hold them prepared, with cached
// plans on the old copy's tables) read the promoted copy after each switch, and never fail.
func TestPromote_PreparedStatementsFollowTheSwitch(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx := context.Background()
	writer := open(t, schema, pginbox.Options{})
	// A reader instance with one pooled connection: each query below runs on it, prepared.
	reader, err := pginbox.Open(ctx, pgURL(t)+"&pool_max_conns=1", pginbox.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)

	r := "r-prepared"
	fill := func(s projections.Store[inbox.Tx], n int) {
		t.Helper()
		var b []eventstore.RecordedEvent
		p := inbox.Projection()
		for i := range n {
			b = append(b, sentEvent(r, i+1, fmt.Sprintf("gen message %d of %d", i, n)))
		}
		if err := s.Apply(ctx, inbox.Name, 0, eventstore.Position(n), func(tx inbox.Tx) error {
			for _, e := range b {
				if err := p.Apply(tx, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(n int) {
		t.Helper()
		docs, err := reader.List(ctx, r, 100)
		if err != nil || len(docs) != n || !bytes.Contains(docs[0], fmt.Appendf(nil, "of %d", n)) {
			t.Fatalf("list: %d documents, %v; want %d of the copy with %d", len(docs), err, n, n)
		}
		page, err := reader.Page(ctx, inbox.PageQuery{Recipient: r, Limit: 100, Status: inbox.StatusSent})
		if err != nil || len(page.Items) != n {
			t.Fatalf("page: %d items, %v; want %d", len(page.Items), err, n)
		}
		c, err := reader.Count(ctx, r)
		if err != nil || c.Total != n || c.Unread != n {
			t.Fatalf("count: %+v, %v; want %d", c, err, n)
		}
		p, err := reader.Checkpoint(ctx, inbox.Name)
		if err != nil || p != eventstore.Position(n) {
			t.Fatalf("checkpoint: %d, %v; want %d", p, err, n)
		}
	}
	fill(writer, 3)
	for range 6 { // past pgx's and the server's thresholds for caching and generic plans
		check(3)
	}
	for _, n := range []int{5, 8} {
		c, err := writer.Fresh(ctx, inbox.Name)
		if err != nil {
			t.Fatal(err)
		}
		fill(c, n)
		if err := c.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		for range 6 {
			check(n)
		}
	}
}

func sentEvent(r string, pos int, content string) eventstore.RecordedEvent {
	id := uuid.NewString()
	e := notification.Sent{NotificationID: id, RecipientID: r, Content: content, Category: "c", SentAt: time.Unix(int64(pos), 0).UTC()}
	data, _ := json.Marshal(e)
	return eventstore.RecordedEvent{Stream: notification.Stream(id), Position: eventstore.Position(pos), Type: e.Type(), Data: data}
}

// Only one replay at a time per read model: another instance's Fresh is refused until the copy
// is promoted or dropped; the same instance's Fresh replaces its own unfinished copy.
func TestFresh_OneReplayAtATime(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx := context.Background()
	a, b := open(t, schema, pginbox.Options{}), open(t, schema, pginbox.Options{})
	c, err := a.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fresh(ctx, inbox.Name); !errors.Is(err, pginbox.ErrReplayRunning) {
		t.Fatalf("fresh on a second instance during a replay: %v, want ErrReplayRunning", err)
	}
	c2, err := a.Fresh(ctx, inbox.Name) // replaces c, keeps the lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fresh(ctx, inbox.Name); !errors.Is(err, pginbox.ErrReplayRunning) {
		t.Fatalf("fresh on a second instance after the first replaced its copy: %v, want ErrReplayRunning", err)
	}
	if err := c.Drop(ctx); err != nil { // the replaced copy: a no-op, keeps c2's lock
		t.Fatal(err)
	}
	if _, err := b.Fresh(ctx, inbox.Name); !errors.Is(err, pginbox.ErrReplayRunning) {
		t.Fatalf("fresh on a second instance after dropping a replaced copy: %v, want ErrReplayRunning", err)
	}
	if err := c2.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	c3, err := b.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatalf("fresh once the replay was promoted: %v", err)
	}
	if _, err := a.Fresh(ctx, inbox.Name); !errors.Is(err, pginbox.ErrReplayRunning) {
		t.Fatalf("fresh on the first instance during the second's replay: %v, want ErrReplayRunning", err)
	}
	if err := c3.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	c4, err := a.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatalf("fresh once the replay was dropped: %v", err)
	}
	if err := c4.Drop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A replay through projections.Replay while the service runs: commands keep appending, a
// leased live runner keeps projecting, and readers on another instance query all along. They
// never fail nor see a count go back; the live projector moves to the promoted copy; and the
// read model ends equal to a projection of the whole log from scratch.
func TestReplay_WhileLiveProjectsAndReadersRead(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	projector, readerInst, replayer := open(t, schema, pginbox.Options{LeadPoll: poll}), open(t, schema, pginbox.Options{}), open(t, schema, pginbox.Options{})

	const recipients = 6
	prefix := "r-" + uuid.NewString()[:6] + "-"
	send := command.NewSendNotificationHandler(log, nil)
	read := command.NewReadNotificationHandler(log, nil)
	cancelN := command.NewCancelNotificationHandler(log, nil)
	var sent atomic.Int64
	issue := func(ctx context.Context) error {
		i := int(sent.Add(1))
		res, err := send.Handle(ctx, command.SendNotification{RecipientID: prefix + strconv.Itoa(i%recipients), Content: fmt.Sprintf("message %d", i), Category: "c"})
		if err != nil {
			return err
		}
		switch {
		case i%7 == 0:
			_, err = cancelN.Handle(ctx, command.CancelNotification{NotificationID: res.Notification.ID()})
		case i%3 == 0:
			_, err = read.Handle(ctx, command.ReadNotification{NotificationID: res.Notification.ID()})
		}
		return err
	}
	for range 1500 {
		if err := issue(ctx); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	lease, err := projector.Lead(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = projections.NewRunner(log, lease, inbox.Projection(), nil).Run(ctx)
	}()
	waitFor := func(s *pginbox.Store, p eventstore.Position) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			at, err := s.Checkpoint(ctx, inbox.Name)
			if err != nil {
				t.Fatal(err)
			}
			if at >= p {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("projection at %d after 30s, want %d", at, p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(readerInst, log.Head())

	// Commands keep coming, and readers keep reading, until stopped.
	writeCtx, stopWriting := context.WithCancel(ctx)
	readCtx, stopReading := context.WithCancel(ctx)
	var writers, readers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		for writeCtx.Err() == nil {
			if err := issue(ctx); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var reads atomic.Int64
	for w := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := map[string]int{}
			for i := w; readCtx.Err() == nil; i++ {
				r := prefix + strconv.Itoa(i%recipients)
				c, err := readerInst.Count(readCtx, r)
				if err == nil {
					_, err = readerInst.List(readCtx, r, 20)
				}
				if err == nil {
					_, err = readerInst.Page(readCtx, inbox.PageQuery{Recipient: r, Limit: 10, Status: inbox.StatusSent})
				}
				if readCtx.Err() != nil {
					return
				}
				if err != nil {
					t.Errorf("query during the replay: %v", err)
					return
				}
				if c.Total < last[r] {
					t.Errorf("%s: total went back from %d to %d", r, last[r], c.Total)
					return
				}
				last[r] = c.Total
				reads.Add(1)
			}
		}()
	}

	var progressed atomic.Int64
	c, err := replayer.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	at, err := projections.Replay(ctx, log, replayer, c, inbox.Projection(), nil, func(p eventstore.Position) { progressed.Store(int64(p)) })
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	before := sent.Load()
	for sent.Load() < before+100 && !t.Failed() { // the live projector must carry on in the copy
		time.Sleep(5 * time.Millisecond)
	}
	stopWriting()
	writers.Wait()
	head := log.Head()
	waitFor(readerInst, head)
	stopReading()
	readers.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if lease.Err() != nil {
		t.Fatalf("the live projector lost its lease: %v", lease.Err())
	}
	t.Logf("replayed to %d (progress seen up to %d); log head %d; %d reads during the replay", at, progressed.Load(), head, reads.Load())

	// From scratch, in a schema of its own.
	ref := open(t, freshSchema(t), pginbox.Options{})
	refCtx, stopRef := context.WithCancel(ctx)
	refDone := make(chan struct{})
	go func() {
		defer close(refDone)
		_ = projections.NewRunner(log, ref, inbox.Projection(), nil).Run(refCtx)
	}()
	waitFor(ref, head)
	stopRef()
	<-refDone
	for i := range recipients {
		r := prefix + strconv.Itoa(i)
		if _, c := sameInbox(t, r, 100_000, "replayed", readerInst, "from scratch", ref); c.Total == 0 {
			t.Fatalf("%s: nothing counted", r)
		}
	}
}

// A read model of the layout before copies is dropped and rebuilt from the log: the inbox
// checkpoint goes back to 0, the relay's checkpoint stays.
func TestOpen_MigratesToCopies(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := pgx.Identifier{schema}.Sanitize()
	_, err = conn.Exec(ctx, `CREATE SCHEMA `+q+`; SET search_path = `+q+`;
		CREATE TABLE pgread_schema (version int NOT NULL); INSERT INTO pgread_schema VALUES (1);
		CREATE TABLE inbox_notifications (id text COLLATE "C" PRIMARY KEY, recipient_id text COLLATE "C" NOT NULL,
			seq bigint NOT NULL, status text NOT NULL, doc text NOT NULL);
		CREATE TABLE inbox_counts (recipient_id text COLLATE "C" PRIMARY KEY, total bigint NOT NULL, unread bigint NOT NULL, canceled bigint NOT NULL);
		CREATE TABLE checkpoints (name text COLLATE "C" PRIMARY KEY, position bigint NOT NULL);
		INSERT INTO inbox_notifications VALUES ('n1', 'r1', 1, 'sent', '{}');
		INSERT INTO inbox_counts VALUES ('r1', 1, 1, 0);
		INSERT INTO checkpoints VALUES ('inbox', 1), ('kafka-events', 7);`)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, schema, pginbox.Options{})
	if p, err := s.Checkpoint(ctx, inbox.Name); err != nil || p != 0 {
		t.Fatalf("inbox checkpoint after the migration: %d, %v; want 0", p, err)
	}
	if p, err := s.RelayCheckpoint(ctx, "kafka-events"); err != nil || p != 7 {
		t.Fatalf("relay checkpoint after the migration: %d, %v; want 7", p, err)
	}
	if c, err := s.Count(ctx, "r1"); err != nil || c.Total != 0 {
		t.Fatalf("counts after the migration: %+v, %v; want none", c, err)
	}
	e := sentEvent("r1", 1, "again")
	if err := s.Apply(ctx, inbox.Name, 0, 1, func(tx inbox.Tx) error { return inbox.Projection().Apply(tx, e) }); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Count(ctx, "r1"); err != nil || c.Total != 1 {
		t.Fatalf("counts after rebuilding: %+v, %v", c, err)
	}
}

// A session holding the views in a long transaction delays the switch only for a bounded time:
// Promote then reports ErrBehind, having changed nothing, and succeeds once the session is gone.
func TestPromote_GivesUpOnALongReader(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx := context.Background()
	s := open(t, schema, pginbox.Options{})
	conn, err := pgx.Connect(ctx, pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "inbox_counts"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	c, err := s.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Promote(ctx); !errors.Is(err, projections.ErrBehind) {
		t.Fatalf("promote while a transaction holds a view: %v, want ErrBehind", err)
	}
	if c, err := s.Count(ctx, "r"); err != nil || c.Total != 0 {
		t.Fatalf("queries after a refused switch: %+v, %v", c, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Promote(ctx); err != nil {
		t.Fatalf("promote once the reader is gone: %v", err)
	}
}

// A replay stopped half way drops its copy (batches under way included) and frees the replay
// lock; the live read model is untouched.
func TestReplay_CanceledDropsTheCopy(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	log, err := eventlog.Open(filepath.Join(t.TempDir(), "events.db"), eventlog.Options{ReadBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx := context.Background()
	send := command.NewSendNotificationHandler(log, nil)
	for i := range 3000 {
		if _, err := send.Handle(ctx, command.SendNotification{RecipientID: "r-" + strconv.Itoa(i%5), Content: "message " + strconv.Itoa(i), Category: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := open(t, schema, pginbox.Options{}), open(t, schema, pginbox.Options{})
	// The live model: the whole log.
	lctx, stopLive := context.WithCancel(ctx)
	liveDone := make(chan struct{})
	go func() {
		defer close(liveDone)
		_ = projections.NewRunner(log, a, inbox.Projection(), nil).Run(lctx)
	}()
	for p, _ := a.Checkpoint(ctx, inbox.Name); p < log.Head(); p, _ = a.Checkpoint(ctx, inbox.Name) {
		time.Sleep(10 * time.Millisecond)
	}
	stopLive()
	<-liveDone

	rctx, stop := context.WithCancel(ctx)
	c, err := a.Fresh(rctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = projections.Replay(rctx, log, a, c, inbox.Projection(), nil, func(p eventstore.Position) {
		if p >= 640 {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("replay stopped half way: %v, want context.Canceled", err)
	}
	if p, err := b.Checkpoint(ctx, inbox.Name); err != nil || p != 3000 {
		t.Fatalf("live checkpoint after a cancelled replay: %d, %v; want 3000", p, err)
	}
	if c, err := b.Count(ctx, "r-0"); err != nil || c.Total != 600 {
		t.Fatalf("live counts after a cancelled replay: %+v, %v; want 600", c, err)
	}
	conn, err := pgx.Connect(ctx, pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'inbox\_%\_g%'`, schema).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("after a cancelled replay the schema holds %d generation tables (%v), want the live 3", tables, err)
	}
	c, err = b.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatalf("fresh on another instance after a cancelled replay: %v", err)
	}
	if err := c.Drop(ctx); err != nil {
		t.Fatal(err)
	}
}

// After a failed batch a copy forgets the rows it remembered, and reads them from the
// database again: the updates that follow still find them.
func TestCopy_ReadsBackAfterAFailedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, freshSchema(t), pginbox.Options{})
	c, err := s.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	p := inbox.Projection()
	var sent []eventstore.RecordedEvent
	for i := range 40 {
		sent = append(sent, sentEvent("r-back", i+1, fmt.Sprintf("message %d", i)))
	}
	project(t, c, inbox.Name, sent, 40)
	boom := errors.New("boom")
	if err := c.Apply(ctx, inbox.Name, 40, 41, func(inbox.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing batch: %v", err)
	}
	var reads []eventstore.RecordedEvent
	for i, e := range sent[:30] {
		var n notification.Sent
		if err := json.Unmarshal(e.Data, &n); err != nil {
			t.Fatal(err)
		}
		r := notification.Read{NotificationID: n.NotificationID, RecipientID: n.RecipientID, ReadAt: time.Unix(100, 0).UTC()}
		data, _ := json.Marshal(r)
		reads = append(reads, eventstore.RecordedEvent{Stream: e.Stream, Position: eventstore.Position(41 + i), Type: r.Type(), Data: data})
	}
	if err := c.Apply(ctx, inbox.Name, 40, 70, func(tx inbox.Tx) error {
		for _, e := range reads {
			if err := p.Apply(tx, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, "r-back"); err != nil || n != (inbox.Counts{Total: 40, Unread: 10, Unseen: 10}) {
		t.Fatalf("counts %+v, %v; want 40 of which 10 unread", n, err)
	}
}
