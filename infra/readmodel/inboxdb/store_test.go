package inboxdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/readmodel/inboxdb"
	"github.com/eventnotify/notify/infra/store/eventlog"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
	"github.com/eventnotify/notify/projections/inbox/inboxtest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	s, err := inboxdb.Open(filepath.Join(t.TempDir(), "inbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	inboxtest.Run(t, func(*testing.T) inboxtest.Store { return s })
}

func TestCopies(t *testing.T) {
	t.Parallel()
	inboxtest.RunCopies(t, func(t *testing.T) inboxtest.CopyStore { return open(t, filepath.Join(t.TempDir(), "inbox.db")) })
}

func open(t *testing.T, path string) *inboxdb.Store {
	t.Helper()
	s, err := inboxdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A read model left open when the machine went down may hold torn pages: it is dropped, and
// the projection rebuilds it from position 0. Left open by a process that merely died, it is
// kept: the kernel had every page.
func TestOpen_DropsReadModelLeftOpenAcrossMachineRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		marker    func() string // content of the open marker; "" for none
		wantReset bool
	}{
		{"clean close", func() string { return "" }, false},
		{"process crash", func() string {
			b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
			return strings.TrimSpace(string(b))
		}, false},
		{"machine restart", func() string { return "00000000-0000-0000-0000-000000000000" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "inbox.db")
			s, err := inboxdb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(context.Background(), "inbox", 0, 7, func(inbox.Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + ".open"); !os.IsNotExist(err) {
				t.Fatalf("clean close left the open marker: %v", err)
			}
			if m := tt.marker(); m != "" {
				if err := os.WriteFile(path+".open", []byte(m), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err = inboxdb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cp, _ := s.Checkpoint(context.Background(), "inbox")
			if (s.WasReset() != "") != tt.wantReset || (cp == 0) != tt.wantReset {
				t.Fatalf("reset=%v checkpoint=%d, want reset=%v", s.WasReset(), cp, tt.wantReset)
			}
		})
	}
}

// A replay whose copy is replaced (a newer Fresh) ends with ErrCopyGone instead of retrying
// for ever, so a stuck replay never blocks the next one.
func TestReplay_EndsWhenItsCopyIsGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, err := eventlog.Open(filepath.Join(dir, "events.db"), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	for _, e := range inboxtest.Workload(50, 5) {
		if _, err := log.Append(context.Background(), e.Stream, eventstore.Any, eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data}); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, filepath.Join(dir, "inbox.db"))
	old, err := s.Fresh(context.Background(), inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fresh(context.Background(), inbox.Name); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = projections.NewRunner(log, old, inbox.Projection(), nil).Run(ctx)
	if !errors.Is(err, projections.ErrCopyGone) {
		t.Fatalf("runner on a replaced copy = %v, want ErrCopyGone", err)
	}
	if _, err := projections.Replay(ctx, log, s, old, inbox.Projection(), nil, nil); !errors.Is(err, projections.ErrCopyGone) || ctx.Err() != nil {
		t.Fatalf("replay into a replaced copy = %v (deadline: %v), want ErrCopyGone at once", err, ctx.Err())
	}
}

// A copy is built in memory for notification ids that are canonical UUIDs (all this service
// writes); a batch with any other id makes it write out and go on in the file, losing
// nothing.
func TestCopy_NonCanonicalIDsGoOnInTheFile(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "inbox.db"))
	ctx := context.Background()
	c, err := s.Fresh(ctx, inbox.Name)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ids := []string{"0b8e2d4e-0000-4000-8000-000000000001", "ORDER-42", "0B8E2D4E-0000-4000-8000-000000000003"}
	for i, id := range ids {
		err := c.Apply(ctx, inbox.Name, eventstore.Position(i), eventstore.Position(i+1), func(tx inbox.Tx) error {
			return tx.Put(inbox.View{ID: id, RecipientID: "r", Content: "hello " + id, Category: "c", Status: inbox.StatusSent, CreatedAt: at, Seq: eventstore.Position(i + 1)})
		})
		if err != nil {
			t.Fatalf("apply %s: %v", id, err)
		}
	}
	if err := c.Apply(ctx, inbox.Name, 3, 4, func(tx inbox.Tx) error {
		v, ok, err := tx.Get(ids[0])
		if err != nil || !ok {
			return fmt.Errorf("get %s after the write-out: %v %v", ids[0], ok, err)
		}
		v.Status, v.ReadAt = inbox.StatusRead, &at
		return tx.Put(v)
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	docs, err := s.List(ctx, "r", 10)
	if err != nil || len(docs) != 3 {
		t.Fatalf("list = %d, %v; want 3", len(docs), err)
	}
	if got, _ := s.Count(ctx, "r"); got != (inbox.Counts{Total: 3, Unread: 2, Unseen: 2}) {
		t.Fatalf("counts %+v, want 3 total, 2 unread", got)
	}
}
