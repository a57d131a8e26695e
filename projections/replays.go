package projections

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
)

// Rebuildable is a read model whose projections can be replayed into fresh copies.
type Rebuildable[Tx any] interface {
	Store[Tx]
	Copies[Tx]
}

// ReplayStatus is a replay's progress: the position its copy has reached, and, once it is
// over, when and how it ended (an empty Error means the copy was promoted).
type ReplayStatus struct {
	Position   eventstore.Position `json:"position"`
	StartedAt  time.Time           `json:"startedAt"`
	FinishedAt *time.Time          `json:"finishedAt,omitempty"`
	Error      string              `json:"error,omitempty"`
}

// Replays runs the replays asked of this process in the background, at most one per
// projection, and remembers how the last one of each went.
type Replays[Tx any] struct {
	ctx    context.Context // a replay running when it ends is dropped
	log    Log
	store  Rebuildable[Tx]
	known  map[string]Projection[Tx]
	logger *slog.Logger

	mu    sync.Mutex
	state map[string]*ReplayStatus
	wg    sync.WaitGroup
}

// NewReplays replays the given projections of store from log until ctx ends.
func NewReplays[Tx any](ctx context.Context, log Log, store Rebuildable[Tx], logger *slog.Logger, ps ...Projection[Tx]) *Replays[Tx] {
	if logger == nil {
		logger = slog.Default()
	}
	known := map[string]Projection[Tx]{}
	for _, p := range ps {
		known[p.Name] = p
	}
	return &Replays[Tx]{ctx: ctx, log: log, store: store, known: known, logger: logger, state: map[string]*ReplayStatus{}}
}

// Start creates a fresh copy of the named projection and rebuilds it in the background. It
// fails with ErrUnknown for a name it does not know and ErrReplayRunning while one runs.
func (r *Replays[Tx]) Start(ctx context.Context, name string) (ReplayStatus, error) {
	p, ok := r.known[name]
	if !ok {
		return ReplayStatus{}, fmt.Errorf("%w: %q (the projections: %s)", ErrUnknown, name, strings.Join(slices.Sorted(maps.Keys(r.known)), ", "))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.state[name]; st != nil && st.FinishedAt == nil {
		return *st, fmt.Errorf("%w: %s, started %s, at position %d", ErrReplayRunning, name, st.StartedAt.Format(time.RFC3339), st.Position)
	}
	c, err := r.store.Fresh(ctx, name)
	if err != nil {
		return ReplayStatus{}, fmt.Errorf("replay %s: %w", name, err)
	}
	st := &ReplayStatus{StartedAt: time.Now().UTC()}
	r.state[name] = st
	r.logger.Info("replay started", "projection", name)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		at, err := Replay(r.ctx, r.log, r.store, c, p, r.logger, func(pos eventstore.Position) {
			r.mu.Lock()
			st.Position = pos
			r.mu.Unlock()
		})
		r.mu.Lock()
		defer r.mu.Unlock()
		now := time.Now().UTC()
		st.FinishedAt = &now
		if err != nil {
			st.Error = err.Error()
			r.logger.Error("replay failed; the live copy stays", "projection", name, "err", err)
			return
		}
		st.Position = at
		r.logger.Info("replay done", "projection", name, "position", at, "took", now.Sub(st.StartedAt).Round(time.Millisecond).String())
	}()
	return *st, nil
}

// Status returns the running or last replay of the named projection, nil if none.
func (r *Replays[Tx]) Status(name string) *ReplayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state[name]
	if st == nil {
		return nil
	}
	cp := *st
	return &cp
}

// Wait waits for the running replays to end (they end with the context given to NewReplays).
func (r *Replays[Tx]) Wait() { r.wg.Wait() }
