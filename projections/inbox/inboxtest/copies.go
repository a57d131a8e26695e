package inboxtest

import (
	"context"
	"errors"
	"testing"

	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// CopyStore is a read model that can rebuild the inbox into a fresh copy (projections.Copies).
type CopyStore interface {
	Store
	Fresh(ctx context.Context, name string) (projections.Copy[inbox.Tx], error)
}

// RunCopies runs the replay-copy contract. Promoting a copy replaces the whole read model, so
// every case needs a store of its own: newStore must return a new, empty one on each call.
func RunCopies(t *testing.T, newStore func(t *testing.T) CopyStore) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s CopyStore)
	}{
		{"TestCopy_InvisibleUntilPromoted", testCopyInvisibleUntilPromoted},
		{"TestCopy_PromoteRefusedWhileBehind", testCopyBehind},
		{"TestCopy_LiveProjectorMovesToPromotedCopy", testCopyLiveProjectorMoves},
		{"TestCopy_DropLeavesLiveAlone", testCopyDrop},
		{"TestCopy_FreshReplacesUnfinishedCopy", testCopyFreshReplaces},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t))
		})
	}
}

func fresh(t *testing.T, s CopyStore) projections.Copy[inbox.Tx] {
	t.Helper()
	c, err := s.Fresh(context.Background(), inbox.Name)
	if err != nil {
		t.Fatalf("fresh copy: %v", err)
	}
	return c
}

// applyTo applies f's pending events to a copy (or any store) under the inbox name.
func applyTo(t *testing.T, s projections.Store[inbox.Tx], f *feed) {
	t.Helper()
	apply(t, s, inbox.Name, f)
}

// A copy fills without queries seeing it; once promoted, queries see the copy, whole.
func testCopyInvisibleUntilPromoted(t *testing.T, s CopyStore) {
	r := recipient()
	live := &feed{}
	for i := range 3 {
		live.sent(r, i)
	}
	applyTo(t, s, live) // live: three notifications, checkpoint 3

	c := fresh(t, s)
	if p, err := c.Checkpoint(context.Background(), inbox.Name); err != nil || p != 0 {
		t.Fatalf("fresh copy checkpoint = %d, %v; want 0", p, err)
	}
	// The copy is built from another history (a new projection version would do the like):
	// two notifications, at the live copy's position.
	cp := &feed{}
	cp.sent(r, 10)
	cp.sent(r, 11)
	cp.pos = 3
	applyTo(t, c, cp)
	if got := list(t, s, r, 10); len(got) != 3 || count(t, s, r).Total != 3 {
		t.Fatalf("while the copy fills, queries see %d notifications and %+v; want the live copy's 3", len(got), count(t, s, r))
	}
	if err := c.Promote(context.Background()); err != nil {
		t.Fatalf("promote a caught-up copy: %v", err)
	}
	got := list(t, s, r, 10)
	if len(got) != 2 || got[0].Content != "message 11" {
		t.Fatalf("after promotion queries see %d notifications (first %+v); want the copy's 2", len(got), got)
	}
	if c := count(t, s, r); c.Total != 2 || c.Unread != 2 {
		t.Fatalf("after promotion counts = %+v, want the copy's", c)
	}
	if p, _ := s.Checkpoint(context.Background(), inbox.Name); p != 3 {
		t.Fatalf("after promotion the live checkpoint is %d, want the copy's 3", p)
	}
}

func testCopyBehind(t *testing.T, s CopyStore) {
	r := recipient()
	live := &feed{}
	for i := range 4 {
		live.sent(r, i)
	}
	applyTo(t, s, live)
	c := fresh(t, s)
	cp := &feed{}
	cp.sent(r, 0)
	cp.sent(r, 1)
	applyTo(t, c, cp) // copy at 2, live at 4
	if err := c.Promote(context.Background()); !errors.Is(err, projections.ErrBehind) {
		t.Fatalf("promote a copy at 2 with the live copy at 4: %v, want ErrBehind", err)
	}
	if got := list(t, s, r, 10); len(got) != 4 {
		t.Fatalf("refused promotion: queries see %d notifications, want the live 4", len(got))
	}
	cp.sent(r, 2)
	cp.sent(r, 3)
	applyTo(t, c, cp)
	if err := c.Promote(context.Background()); err != nil {
		t.Fatalf("promote once caught up: %v", err)
	}
}

// The live projector, still at the old copy's position, is refused by the promoted copy
// (ErrMoved) and resumes from the copy's checkpoint: nothing is applied twice.
func testCopyLiveProjectorMoves(t *testing.T, s CopyStore) {
	r := recipient()
	live := &feed{}
	live.sent(r, 0)
	live.sent(r, 1)
	applyTo(t, s, live) // live at 2
	c := fresh(t, s)
	cp := &feed{}
	cp.sent(r, 0)
	cp.sent(r, 1)
	cp.sent(r, 2)
	applyTo(t, c, cp) // copy at 3
	if err := c.Promote(context.Background()); err != nil {
		t.Fatal(err)
	}
	live.sent(r, 2) // the live projector's next batch, from its position 2
	err := s.Apply(context.Background(), inbox.Name, live.applied, live.pos, func(tx inbox.Tx) error {
		return inbox.Projection().Apply(tx, live.events[0])
	})
	if !errors.Is(err, projections.ErrMoved) {
		t.Fatalf("live projector applying from 2 after promotion of a copy at 3: %v, want ErrMoved", err)
	}
	if c := count(t, s, r); c.Total != 3 {
		t.Fatalf("counts %+v, want the copy's total 3", c)
	}
	next := &feed{pos: 3, applied: 3}
	next.sent(r, 3)
	applyTo(t, s, next)
	if c := count(t, s, r); c.Total != 4 {
		t.Fatalf("live projector resumed from the copy: counts %+v, want total 4", c)
	}
}

func testCopyDrop(t *testing.T, s CopyStore) {
	r := recipient()
	live := &feed{}
	live.sent(r, 0)
	applyTo(t, s, live)
	c := fresh(t, s)
	cp := &feed{}
	cp.sent(r, 5)
	cp.sent(r, 6)
	applyTo(t, c, cp)
	if err := c.Drop(context.Background()); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if got := list(t, s, r, 10); len(got) != 1 || got[0].Content != "message 0" {
		t.Fatalf("after dropping a copy queries see %+v, want the live notification", got)
	}
	if err := c.Promote(context.Background()); err == nil {
		t.Fatal("a dropped copy was promoted")
	}
	if got := list(t, s, r, 10); len(got) != 1 {
		t.Fatalf("failed promotion of a dropped copy changed the live copy: %d notifications", len(got))
	}
}

func testCopyFreshReplaces(t *testing.T, s CopyStore) {
	r := recipient()
	first := fresh(t, s)
	second := fresh(t, s)
	if err := first.Promote(context.Background()); err == nil {
		t.Fatal("a copy replaced by a newer Fresh was promoted")
	}
	f := &feed{}
	f.sent(r, 0)
	applyTo(t, s, f)
	cp := &feed{}
	cp.sent(r, 0)
	applyTo(t, second, cp)
	if err := second.Promote(context.Background()); err != nil {
		t.Fatalf("promote the newer copy: %v", err)
	}
	if got := list(t, s, r, 10); len(got) != 1 {
		t.Fatalf("after promoting the newer copy: %d notifications, want 1", len(got))
	}
}
