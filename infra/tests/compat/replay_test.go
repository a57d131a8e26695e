package compat_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/readmodel/pginbox"
	"github.com/eventnotify/notify/infra/store/esdb"
	"github.com/eventnotify/notify/infra/store/esdb/esdbtest"
	"github.com/eventnotify/notify/infra/tests/inboxhash"
	"github.com/eventnotify/notify/projections/inbox"
)

// A log written by the code before event schemas could evolve (testdata/v1, see its README)
// replays with this code to the inbox that code built: projected by today's projection into a
// fresh read model, from the embedded log file as it was written, from the EventStoreDB export
// imported through the adapter, and into PostgreSQL when PG_URL is set, it hashes as the
// fixture says (inboxhash.Hash over the recipients of recipients.txt).
func TestFixtureV1_ReplaysToTheSameInbox(t *testing.T) {
	f := loadFixture(t, filepath.Join("testdata", "v1"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		log := openLogCopy(t, f.logFile)
		if n := log.Health().Records; n != len(f.export) {
			t.Fatalf("the log holds %d records, the export %d events", n, len(f.export))
		}
		events, err := readLog(ctx, log, log.Head())
		if err != nil {
			t.Fatal(err)
		}
		if err := sameEvents(f.export, events); err != nil {
			t.Fatalf("%s and %s do not hold the same events: %v", fileLog, fileExport, err)
		}
		rm := openInbox(t)
		if err := project(t, log, rm).caughtUp(ctx, log.Head()); err != nil {
			t.Fatal(err)
		}
		f.check(t, ctx, rm)
	})

	t.Run("esdb", func(t *testing.T) {
		t.Parallel()
		srv := esdbtest.Run(t)
		es, err := esdb.Open(srv.URL(), esdb.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { es.Close() })
		if err := importExport(ctx, es, f.export); err != nil {
			t.Fatalf("import %s: %v", fileExport, err)
		}
		back, err := exportDouble(ctx, srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		if err := sameExport(f.export, back); err != nil {
			t.Fatalf("the double does not hold %s as it reads: %v", fileExport, err)
		}
		head, err := es.Head(ctx, inbox.Projection().Filter)
		if err != nil {
			t.Fatal(err)
		}
		rm := openInbox(t)
		if err := project(t, es, rm).caughtUp(ctx, head); err != nil {
			t.Fatal(err)
		}
		f.check(t, ctx, rm)
	})

	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("PG_URL")
		if url == "" {
			t.Skip("NOT RUN: PG_URL is not set, so the fixture was not projected into PostgreSQL; start one with `deploy/postgres/pg.sh up` (CI does) and set PG_URL to run it")
		}
		log := openLogCopy(t, f.logFile)
		rm := openPostgres(t, ctx, url)
		if err := project(t, log, rm).caughtUp(ctx, log.Head()); err != nil {
			t.Fatal(err)
		}
		f.check(t, ctx, rm)
	})
}

// fixture is a fixture directory as committed.
type fixture struct {
	logFile    string
	export     []exported
	recipients []string
	canonical  []byte
	hash       string
}

// loadFixture reads a fixture directory and checks that its files agree with one another
// where they can without a replay: the hash is the canonical form's.
func loadFixture(t *testing.T, dir string) fixture {
	t.Helper()
	f := fixture{logFile: filepath.Join(dir, fileLog)}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var err error
	if f.export, err = readExport(filepath.Join(dir, fileExport)); err != nil {
		t.Fatal(err)
	}
	if len(f.export) == 0 {
		t.Fatalf("%s holds no event", fileExport)
	}
	f.recipients = strings.Fields(string(read(fileRecipients)))
	f.canonical = read(fileCanonical)
	hash, name, ok := strings.Cut(strings.TrimSpace(string(read(fileHash))), "  ")
	if !ok || name != fileCanonical || len(hash) != sha256.Size*2 {
		t.Fatalf("%s: want \"<sha256 in hex>  %s\" (sha256sum's format)", fileHash, fileCanonical)
	}
	f.hash = hash
	if sum := sha256.Sum256(f.canonical); hex.EncodeToString(sum[:]) != f.hash {
		t.Fatalf("%s says %s, but %s hashes %x", fileHash, f.hash, fileCanonical, sum)
	}
	return f
}

// check fails unless the read model hashes as the fixture says, and then shows where its
// canonical form first departs from the fixture's. testdata/v1 was written before issue #13,
// so it is compared in that form (inboxhash.HashV1: the fields and counts it had, byte for
// byte); what #13 added is checked against the log (checkV1Additions).
func (f fixture) check(t *testing.T, ctx context.Context, rm inboxhash.Reader) {
	t.Helper()
	got, _, err := inboxhash.HashV1(ctx, rm, f.recipients)
	if err != nil {
		t.Fatal(err)
	}
	f.checkV1Additions(t, ctx, rm)
	if got != f.hash {
		form, err := canonicalForm(ctx, rm, f.recipients, inboxhash.WriteV1)
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("the inbox replayed from the fixture hashes %s, the one the old code built %s; against %s, %s", got, f.hash, fileCanonical, firstDifference(f.canonical, form))
	}
	t.Logf("inbox %s, as the old code built it", got)
}

// checkV1Additions checks what issue #13 added to the inbox of a log written before it: no
// notification has a title, data, action or tag, none is archived, each one ever read was seen
// when it was first read (reading implies seeing, and marking it unread again keeps it seen:
// seenAt is readAt for one read once, the first readAt for one read again after an unread),
// every other is unseen, and the counts say so: unseen counts the notifications neither
// canceled nor ever read (the unread ones, less those read and then marked unread), unread
// the ones neither canceled nor read now, as before.
func (f fixture) checkV1Additions(t *testing.T, ctx context.Context, rm inboxhash.Reader) {
	t.Helper()
	firstRead := map[string]time.Time{} // notification → its first read, from the log
	reads := map[string]int{}
	for _, e := range f.export {
		if e.Type != notification.TypeRead {
			continue
		}
		var r notification.Read
		if err := json.Unmarshal(e.Data, &r); err != nil {
			t.Fatal(err)
		}
		if _, ok := firstRead[r.NotificationID]; !ok {
			firstRead[r.NotificationID] = r.ReadAt
		}
		reads[r.NotificationID]++
	}
	seenUnread := 0 // read once, unread now: the notifications where unseen and unread part
	for _, r := range f.recipients {
		c, err := rm.Count(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		p, err := rm.Page(ctx, inbox.PageQuery{Recipient: r, Limit: 1000, Archived: inbox.ArchivedAll})
		if err != nil || p.Next != 0 {
			t.Fatalf("page of %s: next %d, %v; want all of it in one", r, p.Next, err)
		}
		unseen, unread := 0, 0
		for _, doc := range p.Items {
			var v inbox.View
			if err := json.Unmarshal(doc, &v); err != nil {
				t.Fatal(err)
			}
			if v.ArchivedAt != nil || v.Title != "" || v.Data != nil || v.ActionURL != "" || v.Actions != nil || v.Tags != nil {
				t.Errorf("%s: a notification of a log before #13 has fields it could not have: %s", v.ID, doc)
			}
			first, read := firstRead[v.ID]
			switch {
			case read && (v.SeenAt == nil || !v.SeenAt.Equal(first)):
				t.Errorf("%s was first read at %v, but seen at %v: %s", v.ID, first, v.SeenAt, doc)
			case !read && v.SeenAt != nil:
				t.Errorf("%s was never read, but seen at %v", v.ID, v.SeenAt)
			case reads[v.ID] == 1 && v.ReadAt != nil && !v.SeenAt.Equal(*v.ReadAt):
				t.Errorf("%s was read once: seen %v, read %v", v.ID, v.SeenAt, v.ReadAt)
			}
			if v.Status == inbox.StatusCanceled {
				continue
			}
			if !read {
				unseen++
			}
			if v.Status == inbox.StatusSent {
				unread++
				if read {
					seenUnread++
				}
			}
		}
		if c.Unseen != unseen || c.Unread != unread {
			t.Errorf("%s: counts %+v, want %d unseen (never read) and %d unread", r, c, unseen, unread)
		}
	}
	t.Logf("%d notifications of the fixture are unread but seen (read, then marked unread)", seenUnread)
}

// readExport reads an esdb-export.jsonl.
func readExport(path string) ([]exported, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []exported
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for n := 1; sc.Scan(); n++ {
		var e exported
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// importExport appends the exported events through the EventStoreDB adapter, each with its id
// at its revision (expecting no stream before revision 0, the previous revision after), as
// the service appended them.
func importExport(ctx context.Context, s *esdb.Store, events []exported) error {
	for i, e := range events {
		if e.ContentType != contentTypeJSON {
			return fmt.Errorf("line %d: content type %q: the adapter writes JSON data as %q and imports only that", i+1, e.ContentType, contentTypeJSON)
		}
		expected := eventstore.NoStream
		if e.Revision > 0 {
			expected = eventstore.Exact(e.Revision - 1)
		}
		res, err := s.Append(ctx, e.Stream, expected, eventstore.EventData{ID: e.EventID, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
		if err != nil {
			return fmt.Errorf("line %d: append to %s at %d: %w", i+1, e.Stream, e.Revision, err)
		}
		if res.NextRevision != e.Revision {
			return fmt.Errorf("line %d: %s landed at revision %d, want %d", i+1, e.Stream, res.NextRevision, e.Revision)
		}
	}
	return nil
}

// sameExport reports the first difference between two exports, content types included.
func sameExport(want, got []exported) error {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		if w.Stream != g.Stream || w.Revision != g.Revision || w.EventID != g.EventID || w.Type != g.Type ||
			w.ContentType != g.ContentType || !bytes.Equal(w.Data, g.Data) || !bytes.Equal(w.Metadata, g.Metadata) {
			return fmt.Errorf("event %d differs:\n want %+v\n  got %+v", i+1, w, g)
		}
	}
	if len(want) != len(got) {
		return fmt.Errorf("%d events, want %d", len(got), len(want))
	}
	return nil
}

// openPostgres opens a PostgreSQL read model in a schema of its own, dropped when the test
// ends.
func openPostgres(t *testing.T, ctx context.Context, url string) *pginbox.Store {
	t.Helper()
	schema := "compat_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	s, err := pginbox.Open(ctx, url, pginbox.Options{Schema: schema, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_, err = conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(ctx)
		}
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return s
}
