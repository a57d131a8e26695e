package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/eventstore/eventstoretest"
	"github.com/eventnotify/notify/infra/store/eventlog"
)

func open(t *testing.T, path string) *eventlog.Store {
	t.Helper()
	s, err := eventlog.Open(path, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	shared := open(t, filepath.Join(t.TempDir(), "events.db"))
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return shared })
}

func TestReopenKeepsLogAndHead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := eventlog.Open(path, eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	res, err := s.Append(ctx, "s-1", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "T", Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "T"}); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("append after close = %v, want ErrClosed", err)
	}
	s = open(t, path)
	if s.Head() != res.Position {
		t.Fatalf("head after reopen = %d, want %d", s.Head(), res.Position)
	}
	got, err := s.ReadStream(ctx, "s-1", 0, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("after reopen stream has %d events (%v), want 1", len(got), err)
	}
	next, err := s.Append(ctx, "s-1", eventstore.Exact(0), eventstore.EventData{ID: uuid.New(), Type: "T"})
	if err != nil || next.Position != res.Position+1 {
		t.Fatalf("append after reopen = %+v, %v; want position %d", next, err, res.Position+1)
	}
}

// subscribeAll reads every event after from that matches prefix, until the head.
func subscribeAll(t *testing.T, s *eventlog.Store, from eventstore.Position, prefix string) []eventstore.RecordedEvent {
	t.Helper()
	var got []eventstore.RecordedEvent
	if from >= s.Head() {
		return got
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := s.Subscribe(ctx, from, eventstore.Filter{StreamPrefix: prefix}, func(_ context.Context, b eventstore.Batch) error {
		got = append(got, b.Events...)
		if b.Position >= s.Head() {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe from %d (head %d): %v after %d events", from, s.Head(), err, len(got))
	}
	return got
}

// Caught-up subscribers read the latest events from memory (the tail) instead of the file;
// what they get is exactly what the file holds, from any position: behind the tail, at its
// oldest event, inside it, filtered or not.
func TestSubscribe_FromTheTailAsFromTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := eventlog.Open(path, eventlog.Options{ReadBatch: 4}) // the tail keeps 16 to 32 events
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 100 {
		stream := fmt.Sprintf("a-%d", i%7)
		if i%3 == 0 {
			stream = fmt.Sprintf("b-%d", i)
		}
		data := eventstore.EventData{ID: uuid.New(), Type: "T", Data: fmt.Appendf(nil, `{"i":%d}`, i), Metadata: []byte(`{"m":1}`)}
		if _, err := s.Append(ctx, stream, eventstore.Any, data); err != nil {
			t.Fatal(err)
		}
	}
	live := map[string][]eventstore.RecordedEvent{}
	froms := []eventstore.Position{0, 50, 67, 70, 90, 99, 100}
	for _, from := range froms {
		for _, prefix := range []string{"", "a-"} {
			live[fmt.Sprint(from, prefix)] = subscribeAll(t, s, from, prefix)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := open(t, path) // its tail is empty: everything comes from the file
	for _, from := range froms {
		for _, prefix := range []string{"", "a-"} {
			want := subscribeAll(t, reopened, from, prefix)
			if got := live[fmt.Sprint(from, prefix)]; !reflect.DeepEqual(got, want) {
				t.Fatalf("from %d, prefix %q: %d events before the reopen, %d from the file (first difference in %v vs %v)",
					from, prefix, len(got), len(want), got, want)
			}
		}
	}
}
