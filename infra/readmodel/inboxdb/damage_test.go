package inboxdb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/projections/inbox"
)

// fillInbox writes n notifications for alice, each with content "doc-<i>", and closes.
func fillInbox(t *testing.T, path string, n int) {
	t.Helper()
	s, err := inboxdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	err = s.Apply(context.Background(), inbox.Name, 0, 1, func(tx inbox.Tx) error {
		for i := range n {
			v := inbox.View{ID: fmt.Sprintf("id-%05d", i), RecipientID: "alice", Content: fmt.Sprintf("doc-%05d padding padding", i), Category: "c", Status: inbox.StatusSent, CreatedAt: at, Seq: eventstore.Position(i + 1)}
			if err := tx.Put(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte inside one stored document is never served: the list, the page and the
// projection's reads fail with ErrDamaged, the damage is reported once (the wiring starts a
// rebuild), and the next Open drops the file if nothing replaced the damaged copy.
func TestDamage_DocumentFailingItsSealIsNotServed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	fillInbox(t, path, 50)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte("doc-00017"))
	if i < 0 {
		t.Fatal("document 17 not in the file")
	}
	b[i+4] ^= 0x01
	os.WriteFile(path, b, 0o600)

	s := open(t, path)
	var reported atomic.Int32
	s.OnDamage(func(error) { reported.Add(1) })
	ctx := context.Background()
	docs, err := s.List(ctx, "alice", 100)
	if !errors.Is(err, inboxdb.ErrDamaged) {
		t.Fatalf("list = %d documents, %v; want ErrDamaged", len(docs), err)
	}
	for _, d := range docs {
		if !json.Valid(d) {
			t.Fatalf("a malformed document was returned: %s", d)
		}
	}
	if _, err := s.Page(ctx, inbox.PageQuery{Recipient: "alice", Limit: 100}); !errors.Is(err, inboxdb.ErrDamaged) {
		t.Fatalf("page = %v, want ErrDamaged", err)
	}
	err = s.Apply(ctx, inbox.Name, 1, 2, func(tx inbox.Tx) error {
		_, _, err := tx.Get("id-00017")
		return err
	})
	if !errors.Is(err, inboxdb.ErrDamaged) {
		t.Fatalf("the projection's read = %v, want ErrDamaged", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for reported.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := reported.Load(); n != 1 {
		t.Fatalf("damage reported %d times, want once", n)
	}
	s.Close()
	again := open(t, path)
	if why := again.WasReset(); !strings.Contains(why, "damaged") {
		t.Fatalf("reopened: reset %q, want the damaged file dropped", why)
	}
	if c, _ := again.Count(ctx, "alice"); c.Total != 0 {
		t.Fatalf("the dropped read model still counts %d", c.Total)
	}
}

// A flipped byte in stored counts is not served either.
func TestDamage_CountsFailingTheirSealAreNotServed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	fillInbox(t, path, 3)
	s := open(t, path)
	c, err := s.Count(context.Background(), "alice")
	if err != nil || c.Total != 3 {
		t.Fatalf("count = %+v, %v", c, err)
	}
	s.Close()
	b, _ := os.ReadFile(path)
	// The counts value: its key "alice" is followed by 4 seal bytes and 3 big-endian uint64s,
	// the first of which (total) ends in 0x03.
	i := bytes.Index(b, []byte{0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0})
	if i < 0 {
		t.Fatal("counts not found in the file")
	}
	b[i+7] = 4
	os.WriteFile(path, b, 0o600)
	if _, err := open(t, path).Count(context.Background(), "alice"); !errors.Is(err, inboxdb.ErrDamaged) {
		t.Fatalf("count of damaged counts = %v, want ErrDamaged", err)
	}
}

// A read model file cut short, or with pages overwritten, is dropped at Open and rebuilt
// (it is derived from the log), never a crash.
func TestDamage_DamagedFileIsDroppedAtOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pristine := filepath.Join(dir, "pristine.db")
	fillInbox(t, pristine, 3000)
	orig, _ := os.ReadFile(pristine)
	cases := map[string]func([]byte) []byte{
		"cut short":     func(b []byte) []byte { return b[:len(b)/3] },
		"meta zeroed":   func(b []byte) []byte { clear(b[:2*4096]); return b },
		"page zeroed":   func(b []byte) []byte { clear(b[2*4096 : 3*4096]); return b },
		"page garbage":  func(b []byte) []byte { copy(b[3*4096:], bytes.Repeat([]byte{0xA5}, 64)); return b },
		"middle zeroed": func(b []byte) []byte { clear(b[len(b)/2 : len(b)/2+4096]); return b },
	}
	for name, damage := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".db")
		os.WriteFile(path, damage(bytes.Clone(orig)), 0o600)
		s, err := inboxdb.Open(path)
		if err != nil {
			t.Errorf("%s: open = %v, want the file dropped and a fresh one opened", name, err)
			continue
		}
		// Whatever it still holds is served sealed, or refused as damaged.
		docs, err := s.List(context.Background(), "alice", 5000)
		for _, d := range docs {
			if !json.Valid(d) {
				t.Errorf("%s: served a malformed document", name)
			}
		}
		t.Logf("%s: reset %q; %d documents, %v", name, s.WasReset(), len(docs), err)
		s.Close()
	}
}

// The read model remembers which log it was built from.
func TestLogBinding_RoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	s := open(t, path)
	ctx := context.Background()
	if id, err := s.LogID(ctx); err != nil || id != "" {
		t.Fatalf("new read model: log %q, %v", id, err)
	}
	if err := s.BindLog(ctx, "log-1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if id, _ := open(t, path).LogID(ctx); id != "log-1" {
		t.Fatalf("after reopen: log %q", id)
	}
}
