// Package checkpointtest is the contract of the relay-checkpoint port (kafkabridge.Checkpoints)
// that every store keeping relay checkpoints must pass: the embedded event log, and the read
// models that keep them when the events live in EventStoreDB.
package checkpointtest

import (
	"context"
	"testing"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/projections"
)

// Store is a store under test: the port, and what the suite needs to test around it.
type Store struct {
	kafkabridge.Checkpoints
	// Reopen closes the store and opens it again on what it made durable; nil for a store
	// that is not durable (the case then skips).
	Reopen func(t *testing.T) kafkabridge.Checkpoints
	// Projections reaches the store's projection checkpoints; nil for a store that keeps none
	// (the case then skips).
	Projections *Projections
}

// Projections moves and reads a store's projection checkpoints.
type Projections struct {
	Checkpoint func(ctx context.Context, name string) (eventstore.Position, error)
	// Move moves the named projection's checkpoint from from to to, applying nothing.
	Move func(ctx context.Context, name string, from, to eventstore.Position) error
}

// ProjectionsOf reaches the projection checkpoints of a projections.Store.
func ProjectionsOf[Tx any](s projections.Store[Tx]) *Projections {
	return &Projections{
		Checkpoint: s.Checkpoint,
		Move: func(ctx context.Context, name string, from, to eventstore.Position) error {
			return s.Apply(ctx, name, from, to, func(Tx) error { return nil })
		},
	}
}

// Run runs every case, each on a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"TestRelayCheckpoint_UnknownNameReadsZero", testUnknown},
		{"TestRelayCheckpoint_SaveThenRead", testSaveThenRead},
		{"TestRelayCheckpoint_OverwriteAlsoBackwards", testOverwrite},
		{"TestRelayCheckpoint_NamesIndependent", testNames},
		{"TestRelayCheckpoint_SurvivesReopen", testReopen},
		{"TestRelayCheckpoint_ApartFromProjectionCheckpoints", testApartFromProjections},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t))
		})
	}
}

// big is a position past 32 bits: stores must keep all 64 (or the 63 a signed column holds).
const big = eventstore.Position(1<<40 + 3)

func read(t *testing.T, s kafkabridge.Checkpoints, name string) eventstore.Position {
	t.Helper()
	p, err := s.RelayCheckpoint(context.Background(), name)
	if err != nil {
		t.Fatalf("RelayCheckpoint(%q): %v", name, err)
	}
	return p
}

func save(t *testing.T, s kafkabridge.Checkpoints, name string, p eventstore.Position) {
	t.Helper()
	if err := s.SaveRelayCheckpoint(context.Background(), name, p); err != nil {
		t.Fatalf("SaveRelayCheckpoint(%q, %d): %v", name, p, err)
	}
}

func testUnknown(t *testing.T, s Store) {
	if p := read(t, s, "never-saved"); p != 0 {
		t.Fatalf("a name never saved reads %d, want 0", p)
	}
}

func testSaveThenRead(t *testing.T, s Store) {
	for _, p := range []eventstore.Position{1, 42, big} {
		save(t, s, "relay", p)
		if got := read(t, s, "relay"); got != p {
			t.Fatalf("after saving %d, read %d", p, got)
		}
	}
}

// A relay moved back (the log restored from an older copy) must read where it was moved.
func testOverwrite(t *testing.T, s Store) {
	save(t, s, "relay", 90)
	save(t, s, "relay", 40)
	if got := read(t, s, "relay"); got != 40 {
		t.Fatalf("saved 90 then 40, read %d, want 40", got)
	}
}

func testNames(t *testing.T, s Store) {
	save(t, s, "a", 7)
	save(t, s, "b", 3)
	save(t, s, "a", 8)
	if a, b, c := read(t, s, "a"), read(t, s, "b"), read(t, s, "ab"); a != 8 || b != 3 || c != 0 {
		t.Fatalf("read a=%d b=%d ab=%d, want 8, 3, 0", a, b, c)
	}
}

func testReopen(t *testing.T, s Store) {
	if s.Reopen == nil {
		t.Skip("the store is not durable")
	}
	save(t, s, "relay", big)
	save(t, s, "other", 5)
	again := s.Reopen(t)
	if r, o := read(t, again, "relay"), read(t, again, "other"); r != big || o != 5 {
		t.Fatalf("after reopening, relay=%d other=%d, want %d, 5", r, o, big)
	}
}

// A relay checkpoint and a projection checkpoint of the same name are two things: neither
// reads the other's position, neither write moves the other.
func testApartFromProjections(t *testing.T, s Store) {
	if s.Projections == nil {
		t.Skip("the store keeps no projection checkpoints")
	}
	ctx := context.Background()
	projection := func() eventstore.Position {
		t.Helper()
		p, err := s.Projections.Checkpoint(ctx, "shared")
		if err != nil {
			t.Fatalf("projection Checkpoint: %v", err)
		}
		return p
	}
	save(t, s, "shared", 7)
	if p := projection(); p != 0 {
		t.Fatalf("the projection checkpoint reads the relay's: %d, want 0", p)
	}
	if err := s.Projections.Move(ctx, "shared", 0, 3); err != nil {
		t.Fatalf("move the projection checkpoint from 0 (the relay's 7 must not count): %v", err)
	}
	if r, p := read(t, s, "shared"), projection(); r != 7 || p != 3 {
		t.Fatalf("relay=%d projection=%d, want 7, 3", r, p)
	}
	save(t, s, "shared", 9)
	if r, p := read(t, s, "shared"), projection(); r != 9 || p != 3 {
		t.Fatalf("after saving the relay's: relay=%d projection=%d, want 9, 3", r, p)
	}
	if p := read(t, s, "other-projection"); p != 0 {
		t.Fatalf("an unknown relay name reads %d, want 0", p)
	}
	if err := s.Projections.Move(ctx, "other-projection", 0, 5); err != nil {
		t.Fatal(err)
	}
	if p := read(t, s, "other-projection"); p != 0 {
		t.Fatalf("the relay checkpoint reads a projection's: %d, want 0", p)
	}
}
