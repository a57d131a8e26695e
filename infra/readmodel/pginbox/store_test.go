package pginbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/projections/inbox"
	"github.com/eventnotify/notify/projections/inbox/inboxtest"
)

// pgURL is the server under test; without one the tests skip and say how to get one.
func pgURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PG_URL")
	if u == "" {
		t.Skip(`PG_URL is unset: start PostgreSQL with eval "$(deploy/postgres/pg.sh up | sed 's/^/export /')" (from the repository root), then run go test ./infra/readmodel/pginbox/`)
	}
	return u
}

// freshSchema names a schema no other test uses; it is dropped when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	schema := "t_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	url := pgURL(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// open opens a store on schema; each call is a separate instance with its own pool.
func open(t testing.TB, schema string, opts pginbox.Options) *pginbox.Store {
	t.Helper()
	opts.Schema = schema
	s, err := pginbox.Open(context.Background(), pgURL(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t), pginbox.Options{})
	inboxtest.Run(t, func(*testing.T) inboxtest.Store { return s })
}

// Opening is idempotent, also when instances start at once on an empty database.
func TestOpen_ConcurrentInstancesMigrateOnce(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	pgURL(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := pginbox.Open(context.Background(), pgURL(t), pginbox.Options{Schema: schema})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	s := open(t, schema, pginbox.Options{})
	if err := s.Apply(context.Background(), "p", 0, 3, func(inbox.Tx) error { return nil }); err != nil {
		t.Fatalf("apply after reopening: %v", err)
	}
}

// The documents served are byte for byte those of the embedded read model, for the same events.
func TestList_SameBytesAsEmbedded(t *testing.T) {
	t.Parallel()
	pg := open(t, freshSchema(t), pginbox.Options{})
	emb, err := inboxdb.Open(filepath.Join(t.TempDir(), "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })

	r := "bob@example.com"
	at := time.Date(2026, 1, 2, 3, 4, 5, 600700800, time.UTC)
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	events := []notification.Event{
		notification.Sent{NotificationID: ids[0], RecipientID: r, Content: `Ünïcödé 🎉 "quoted" <b>&amp;</b>`, Category: "social", SentAt: at},
		notification.Sent{NotificationID: ids[1], RecipientID: r, Content: "line\nbreak\ttab", Category: "billing", SentAt: at.Add(time.Second)},
		notification.Sent{NotificationID: ids[2], RecipientID: r, Content: "plain text", Category: "c", SentAt: at.Add(2 * time.Second)},
		notification.Read{NotificationID: ids[0], RecipientID: r, ReadAt: at.Add(time.Minute)},
		notification.Canceled{NotificationID: ids[1], RecipientID: r, CanceledAt: at.In(time.FixedZone("x", 5*3600))},
	}
	var recs []eventstore.RecordedEvent
	for i, e := range events {
		data, _ := json.Marshal(e)
		recs = append(recs, eventstore.RecordedEvent{Stream: notification.Stream(e.Notification()), Position: eventstore.Position(i + 1), Type: e.Type(), Data: data})
	}
	p := inbox.Projection()
	fn := func(tx inbox.Tx) error {
		for _, e := range recs {
			if err := p.Apply(tx, e); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := context.Background()
	if err := pg.Apply(ctx, inbox.Name, 0, 5, fn); err != nil {
		t.Fatal(err)
	}
	if err := emb.Apply(ctx, inbox.Name, 0, 5, fn); err != nil {
		t.Fatal(err)
	}
	if n, _ := sameInbox(t, r, 10, "postgres", pg, "embedded", emb); n != 3 {
		t.Fatalf("both list %d, want 3", n)
	}
}

// inboxReader is what sameInbox compares.
type inboxReader interface {
	List(ctx context.Context, recipient string, limit int) ([]json.RawMessage, error)
	Count(ctx context.Context, recipient string) (inbox.Counts, error)
}

// sameInbox fails the test unless a and b (named an and bn in the failure) list the
// recipient's documents (up to limit) byte for byte alike and count them alike; it returns
// how many they list and their counts.
func sameInbox(t *testing.T, recipient string, limit int, an string, a inboxReader, bn string, b inboxReader) (int, inbox.Counts) {
	t.Helper()
	ctx := context.Background()
	got, err := a.List(ctx, recipient, limit)
	if err != nil {
		t.Fatal(err)
	}
	want, err := b.List(ctx, recipient, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %s lists %d, %s %d", recipient, an, len(got), bn, len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s document %d differs\n%s: %s\n%s: %s", recipient, i, an, got[i], bn, want[i])
		}
	}
	gc, _ := a.Count(ctx, recipient)
	wc, _ := b.Count(ctx, recipient)
	if gc != wc {
		t.Fatalf("%s: counts %s %+v, %s %+v", recipient, an, gc, bn, wc)
	}
	return len(got), wc
}

// A Put without a Get first (allowed by the port) still keeps the counts right, and a
// notification cannot move to another recipient or position.
func TestPut_WithoutGetKeepsCounts(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t), pginbox.Options{})
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := uuid.NewString()
	v := inbox.View{ID: id, RecipientID: "r1", Content: "hello", Category: "c", Status: inbox.StatusSent, CreatedAt: at, Seq: 1}
	tests := []struct {
		name    string
		put     func(inbox.View) inbox.View
		wantErr bool
		want    inbox.Counts
	}{
		{"insert", func(v inbox.View) inbox.View { return v }, false, inbox.Counts{Total: 1, Unread: 1, Unseen: 1}},
		{"replace as read", func(v inbox.View) inbox.View { v.Status, v.ReadAt = inbox.StatusRead, &at; return v }, false, inbox.Counts{Total: 1}},
		{"replace as canceled", func(v inbox.View) inbox.View { v.Status, v.CanceledAt = inbox.StatusCanceled, &at; return v }, false, inbox.Counts{Total: 1, Canceled: 1}},
		{"move recipient", func(v inbox.View) inbox.View { v.RecipientID = "r2"; return v }, true, inbox.Counts{Total: 1, Canceled: 1}},
		{"move position", func(v inbox.View) inbox.View { v.Seq = 9; return v }, true, inbox.Counts{Total: 1, Canceled: 1}},
	}
	var cp eventstore.Position
	for i, tt := range tests {
		err := s.Apply(ctx, "p", cp, eventstore.Position(i+1), func(tx inbox.Tx) error { return tx.Put(tt.put(v)) })
		if err == nil {
			cp = eventstore.Position(i + 1)
		}
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: err = %v, want error %v", tt.name, err, tt.wantErr)
		}
		if c, _ := s.Count(ctx, "r1"); c != tt.want {
			t.Fatalf("%s: counts %+v, want %+v", tt.name, c, tt.want)
		}
	}
	if c, _ := s.Count(ctx, "r2"); c != (inbox.Counts{}) {
		t.Fatalf("a refused move left counts %+v on the other recipient", c)
	}
}

// Replay-sized batches (new rows by COPY, updates of rows from earlier batches) build the same
// inboxes, byte for byte, as the embedded read model.
func TestApply_BatchesMatchEmbedded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		batch int
		copy  bool // into a fresh copy, then promoted (no counts nor index until then)
	}{
		{"batches of 1", 1, false},
		{"batches of 31", 31, false},
		{"batches of 512", 512, false},
		{"copy, batches of 1", 1, true},
		{"copy, batches of 31", 31, true},
		{"copy, batches of 512", 512, true},
	}
	events := workload(1500, 20)
	emb, err := inboxdb.Open(filepath.Join(t.TempDir(), "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	ctx := context.Background()
	p := inbox.Projection()
	for i := 0; i < len(events); i += 512 {
		b := events[i:min(i+512, len(events))]
		from := eventstore.Position(0)
		if i > 0 {
			from = events[i-1].Position
		}
		if err := emb.Apply(ctx, inbox.Name, from, b[len(b)-1].Position, func(tx inbox.Tx) error {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, freshSchema(t), pginbox.Options{})
			if tt.copy {
				c, err := s.Fresh(ctx, inbox.Name)
				if err != nil {
					t.Fatal(err)
				}
				project(t, c, inbox.Name, events, tt.batch)
				if err := c.Promote(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				l, err := s.Lead(ctx, inbox.Name)
				if err != nil {
					t.Fatal(err)
				}
				project(t, l, inbox.Name, events, tt.batch)
				l.Release()
			}
			for r := range 20 {
				sameInbox(t, "r-"+strconv.Itoa(r), 1000, "postgres", s, "embedded", emb)
			}
		})
	}
}

// With StartUnreachable, Open returns while the server cannot be reached, and every call
// answers ErrUnavailable (a 503 at the edge) instead of failing the process; without it Open
// fails. That the store serves once the server is reached is shown through the binary
// (infra/tests/e2e TestDependency_PostgresUnreachableAtStart).
func TestOpen_StartUnreachable(t *testing.T) {
	t.Parallel()
	url := "postgres://notify:notify@127.0.0.1:1/notify?sslmode=disable&connect_timeout=2"
	ctx := context.Background()
	if s, err := pginbox.Open(ctx, url, pginbox.Options{}); err == nil {
		s.Close()
		t.Fatal("Open on an unreachable server succeeded without StartUnreachable")
	}
	s, err := pginbox.Open(ctx, url, pginbox.Options{StartUnreachable: true})
	if err != nil {
		t.Fatalf("Open with StartUnreachable: %v", err)
	}
	defer s.Close()
	select {
	case <-s.Ready():
		t.Fatal("Ready is closed although the server was never reached")
	default:
	}
	calls := map[string]func() error{
		"List":                func() error { _, err := s.List(ctx, "r", 10); return err },
		"Page":                func() error { _, err := s.Page(ctx, inbox.PageQuery{Recipient: "r", Limit: 10}); return err },
		"Count":               func() error { _, err := s.Count(ctx, "r"); return err },
		"Checkpoint":          func() error { _, err := s.Checkpoint(ctx, "inbox"); return err },
		"RelayCheckpoint":     func() error { _, err := s.RelayCheckpoint(ctx, "relay"); return err },
		"SaveRelayCheckpoint": func() error { return s.SaveRelayCheckpoint(ctx, "relay", 1) },
		"LogID":               func() error { _, err := s.LogID(ctx); return err },
		"BindLog":             func() error { return s.BindLog(ctx, "id") },
		"Apply":               func() error { return s.Apply(ctx, "inbox", 0, 1, func(inbox.Tx) error { return nil }) },
		"Fresh":               func() error { _, err := s.Fresh(ctx, "inbox"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("%s before the server is reached = %v, want ErrUnavailable", name, err)
		}
	}
}
