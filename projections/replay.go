package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/eventnotify/notify/app/eventstore"
)

// Copies is a read model that can build a projection into a fresh copy beside the live one.
type Copies[Tx any] interface {
	// Fresh creates an empty copy of the read model, invisible to queries, for the named
	// projection, discarding any copy left unfinished.
	Fresh(ctx context.Context, name string) (Copy[Tx], error)
}

// Copy is a read model being rebuilt. Its Checkpoint and Apply act on the copy only.
type Copy[Tx any] interface {
	Store[Tx]
	// Promote makes the copy the one queries and the live projector use, and drops the old
	// one, in one step that queries observe whole. It fails with an error wrapping ErrBehind,
	// changing nothing, while the copy's checkpoint is behind the live one's.
	Promote(ctx context.Context) error
	// Drop discards a copy that was not promoted.
	Drop(ctx context.Context) error
}

// Errors of replays, common to every read model.
var (
	// ErrBehind is returned by Copy.Promote while the copy has not caught up with the live copy.
	ErrBehind = errors.New("the copy has not caught up with the live read model")
	// ErrReplayRunning means a replay of the projection is already under way.
	ErrReplayRunning = errors.New("a replay of this projection is already running")
	// ErrUnknown means no projection has the name.
	ErrUnknown = errors.New("no such projection")
	// ErrCopyGone is returned by a Copy that can take no more batches (dropped, replaced, or
	// its connection lost): the replay ends instead of retrying.
	ErrCopyGone = errors.New("the copy is gone")
)

// Replay rebuilds projection p from the start of the log into c, a fresh copy (see Copies),
// while the live copy keeps serving, and promotes c once it has caught up with the live one.
// The live projector notices the switch (its next Apply fails with ErrMoved) and carries on
// from the copy's checkpoint. progress, if not nil, is called with the copy's position as it
// advances. If ctx ends first, or promotion fails, the copy is dropped and the live one stays.
func Replay[Tx any](ctx context.Context, log Log, live Store[Tx], c Copy[Tx], p Projection[Tx], logger *slog.Logger, progress func(eventstore.Position)) (eventstore.Position, error) {
	if logger == nil {
		logger = slog.Default()
	}
	promoted := false
	defer func() {
		if !promoted {
			if err := c.Drop(context.WithoutCancel(ctx)); err != nil {
				logger.Error("drop the unfinished copy", "projection", p.Name, "err", err)
			}
		}
	}()
	r := NewRunner(log, c, p, logger.With("copy", "replay"))
	runCtx, stop := context.WithCancel(ctx)
	// waitCtx also ends when the copy's runner gives up (ErrCopyGone).
	waitCtx, giveUp := context.WithCancelCause(ctx)
	defer giveUp(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(runCtx); err != nil {
			giveUp(err)
		}
	}()
	defer func() {
		stop()
		<-done
	}()
	if progress != nil {
		go r.report(runCtx, progress)
	}
	for {
		target, err := live.Checkpoint(ctx, p.Name)
		if err != nil {
			return 0, fmt.Errorf("live checkpoint of %s: %w", p.Name, err)
		}
		if err := r.WaitFor(waitCtx, target); err != nil {
			return 0, fmt.Errorf("replay of %s stopped at %d: %w", p.Name, r.Position(), context.Cause(waitCtx))
		}
		err = c.Promote(ctx)
		if errors.Is(err, ErrBehind) {
			continue // the live copy moved on meanwhile: catch up again
		}
		if err != nil {
			return 0, fmt.Errorf("promote the copy of %s: %w", p.Name, err)
		}
		promoted = true
		at, err := c.Checkpoint(ctx, p.Name)
		if err != nil {
			at = r.Position()
		}
		logger.Info("replayed copy promoted", "projection", p.Name, "position", at)
		return at, nil
	}
}

// report tells progress each position the runner reaches until ctx ends.
func (r *Runner[Tx]) report(ctx context.Context, progress func(eventstore.Position)) {
	var seen eventstore.Position
	for {
		if err := r.WaitFor(ctx, seen+1); err != nil {
			return
		}
		seen = r.Position()
		progress(seen)
	}
}
