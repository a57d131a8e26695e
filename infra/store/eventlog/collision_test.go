package eventlog

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/eventstore/eventstoretest"
)

// Every stream hashes to the same slot: the index must still keep them apart, before and
// after a reopen rebuilds it from the log.
func collide(string) uint64 { return 42 }

func TestContract_AllStreamsCollide(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "events.db"), Options{hash: collide})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	eventstoretest.Run(t, func(*testing.T) eventstoretest.Store { return s })
}

func TestReopen_RebuildsCollidingStreams(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	s, err := Open(path, Options{hash: collide})
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{"a", "b", "c"}
	for round := range 3 {
		for _, name := range streams {
			exp := eventstore.NoStream
			if round > 0 {
				exp = eventstore.Exact(uint64(round - 1))
			}
			if _, err := s.Append(ctx, name, exp, eventstore.EventData{ID: uuid.New(), Type: name}); err != nil {
				t.Fatalf("round %d append to %s: %v", round, name, err)
			}
		}
	}
	s.Close()
	s, err = Open(path, Options{hash: collide})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range streams {
		got, err := s.ReadStream(ctx, name, 0, 0)
		if err != nil || len(got) != 3 {
			t.Fatalf("after reopen %s has %d events (%v), want 3", name, len(got), err)
		}
		for i, e := range got {
			if e.Stream != name || e.Type != name || e.Revision != uint64(i) {
				t.Fatalf("after reopen %s event %d = %s/%s rev %d", name, i, e.Stream, e.Type, e.Revision)
			}
		}
		if _, err := s.Append(ctx, name, eventstore.Exact(2), eventstore.EventData{ID: uuid.New(), Type: name}); err != nil {
			t.Fatalf("append after reopen to %s: %v", name, err)
		}
	}
	if got, _ := s.ReadStream(ctx, "d", 0, 0); len(got) != 0 {
		t.Fatalf("a stream never written reads %d events", len(got))
	}
}
