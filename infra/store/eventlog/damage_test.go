package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/platform/boltfile"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

// writeLog appends n events, one stream per event, event i carrying "needle-<i>", and closes
// the file.
func writeLog(t *testing.T, path string, n int) {
	t.Helper()
	s, err := eventlog.Open(path, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := fmt.Appendf(nil, `{"needle":"needle-%06d","pad":"%0200d"}`, i, i)
		if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i), eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "T", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func damage(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A file cut short, as by a failed copy, is refused with a message that says so, instead of
// the SIGBUS bbolt would take on the first page past the end.
func TestDamage_TruncatedFileIsRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	writeLog(t, path, 2000)
	info, _ := os.Stat(path)
	if err := os.Truncate(path, info.Size()/3); err != nil {
		t.Fatal(err)
	}
	_, err := eventlog.Open(path, eventlog.Options{})
	if !errors.Is(err, boltfile.ErrDamaged) || !bytes.Contains([]byte(err.Error()), []byte("cut short")) {
		t.Fatalf("open = %v, want a damage error saying the file was cut short", err)
	}
}

// Garbage over the middle of the file, wherever it lands (a page header, a branch, a leaf),
// is refused with a damage error or reported as corrupt records: never a panic.
func TestDamage_OverwrittenPagesNeverPanic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pristine := filepath.Join(dir, "pristine.db")
	writeLog(t, pristine, 3000)
	orig, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range []int{2 * 4096, 3 * 4096, len(orig) / 4, len(orig) / 2, len(orig)/2 + 100, len(orig) - 3*4096} {
		path := filepath.Join(dir, fmt.Sprintf("damaged-%d.db", i))
		b := bytes.Clone(orig)
		for j := range 64 {
			b[at+j] ^= 0xA5
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := eventlog.Open(path, eventlog.Options{})
		t.Logf("offset %d: %v", at, err)
		if err != nil {
			if !errors.Is(err, boltfile.ErrDamaged) && !errors.Is(err, bolterrors.ErrInvalid) && !errors.Is(err, bolterrors.ErrChecksum) {
				t.Errorf("offset %d: open = %v, want a damage error", at, err)
			}
			continue
		}
		// Opened: whatever it reads is either an event or a reported corrupt record.
		got := len(subscribeAll(t, s, 0, "")) + len(s.Health().Corrupt)
		if got < 2900 && len(s.Health().Corrupt) == 0 {
			t.Errorf("offset %d: opened, %d events readable and nothing reported corrupt", at, got)
		}
		s.Close()
	}
}

// A flipped byte inside one event's data fails that record's checksum: the log opens and
// reports it, subscriptions deliver every other event and name the corrupt one, and reading
// its stream fails with ErrCorrupt naming the position.
func TestDamage_FlippedByteInAnEventIsReportedNotServed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	writeLog(t, path, 500)
	damage(t, path, func(b []byte) {
		i := bytes.Index(b, []byte("needle-000321"))
		if i < 0 {
			t.Fatal("event 321 not found in the file")
		}
		b[i] ^= 0x01 // "needle-000321" becomes "oeedle-000321": still JSON, now wrong
	})
	s := open(t, path)
	h := s.Health()
	if len(h.Corrupt) != 1 || h.Corrupt[0].Position != 322 || h.Corrupt[0].Stream != "s-321" {
		t.Fatalf("health = %+v, want position 322 (stream s-321) corrupt", h)
	}
	var events []eventstore.RecordedEvent
	var corrupt []*eventstore.CorruptError
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_ = s.Subscribe(ctx, 0, eventstore.Filter{}, func(_ context.Context, b eventstore.Batch) error {
		events, corrupt = append(events, b.Events...), append(corrupt, b.Corrupt...)
		if b.Position >= s.Head() {
			cancel()
		}
		return nil
	})
	if len(events) != 499 || len(corrupt) != 1 || corrupt[0].Position != 322 {
		t.Fatalf("subscription: %d events and corrupt %v; want 499 and position 322", len(events), corrupt)
	}
	for _, e := range events {
		if bytes.Contains(e.Data, []byte("oeedle")) {
			t.Fatalf("the damaged event was delivered: %s", e.Data)
		}
	}
	_, err := s.ReadStream(t.Context(), "s-321", 0, 0)
	var ce *eventstore.CorruptError
	if !errors.As(err, &ce) || ce.Position != 322 {
		t.Fatalf("read the damaged stream = %v, want a CorruptError at 322", err)
	}
	if got, err := s.ReadStream(t.Context(), "s-320", 0, 0); err != nil || len(got) != 1 {
		t.Fatalf("a neighbouring stream reads %d events, %v", len(got), err)
	}
}

// A log written before checksums (no meta bucket, records without the trailing CRC) opens and
// reads as before; what is appended from then on carries checksums.
func TestDamage_LogFromBeforeChecksumsStillReads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	writeLog(t, path, 50)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { // back to the old layout
		if err := tx.DeleteBucket([]byte("meta")); err != nil {
			return err
		}
		log := tx.Bucket([]byte("log"))
		c := log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := log.Put(bytes.Clone(k), bytes.Clone(v[:len(v)-4])); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	if len(s.Health().Corrupt) != 0 {
		t.Fatalf("old records reported corrupt: %v", s.Health().Corrupt)
	}
	if _, err := s.Append(t.Context(), "s-new", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "T", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if got := subscribeAll(t, s, 0, ""); len(got) != 51 {
		t.Fatalf("%d events readable, want 51", len(got))
	}
}

// Every log has an identity, kept across reopens and distinct from another log's.
func TestIdentity_StableAndDistinct(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	writeLog(t, a, 1)
	writeLog(t, b, 1)
	sa := open(t, a)
	sb := open(t, b)
	if sa.ID() == "" || sa.ID() == sb.ID() {
		t.Fatalf("ids %q and %q", sa.ID(), sb.ID())
	}
	first := sa.ID()
	sa.Close()
	if again := open(t, a).ID(); again != first {
		t.Fatalf("id changed across a reopen: %s → %s", first, again)
	}
}
