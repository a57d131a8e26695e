package eventlog_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/app/eventstore/eventstoretest"
	"github.com/eventnotify/notify/infra/eventlog"
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
