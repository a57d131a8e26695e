package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/infra/httpapi"
	"github.com/eventnotify/notify/projections"
	"github.com/eventnotify/notify/projections/inbox"
)

// rebuildable is a read model whose projections can be replayed into fresh copies.
type rebuildable interface {
	projections.Store[inbox.Tx]
	projections.Copies[inbox.Tx]
}

// replays runs the replays this instance was asked for, at most one per projection, in the
// background until the service stops, and remembers how the last one went.
type replays struct {
	ctx    context.Context // ends when the service stops; a replay running then is dropped
	log    projections.Log
	store  rebuildable
	logger *slog.Logger

	mu    sync.Mutex
	state map[string]*httpapi.ReplayStatus
	wg    sync.WaitGroup
}

func newReplays(ctx context.Context, log projections.Log, store rebuildable, logger *slog.Logger) *replays {
	return &replays{ctx: ctx, log: log, store: store, logger: logger, state: map[string]*httpapi.ReplayStatus{}}
}

// start creates a fresh copy of the named projection and rebuilds it in the background.
func (r *replays) start(ctx context.Context, name string) (httpapi.ReplayStatus, error) {
	if name != inbox.Name {
		return httpapi.ReplayStatus{}, fmt.Errorf("%w: %q (the projections: %s)", projections.ErrUnknown, name, inbox.Name)
	}
	if r.store == nil {
		return httpapi.ReplayStatus{}, fmt.Errorf("this read model cannot be replayed into a copy")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.state[name]; st != nil && st.FinishedAt == nil {
		return *st, fmt.Errorf("%w: %s, started %s, at position %d", projections.ErrReplayRunning, name, st.StartedAt.Format(time.RFC3339), st.Position)
	}
	c, err := r.store.Fresh(ctx, name)
	if err != nil {
		return httpapi.ReplayStatus{}, fmt.Errorf("replay %s: %w", name, err)
	}
	st := &httpapi.ReplayStatus{StartedAt: time.Now().UTC()}
	r.state[name] = st
	r.logger.Info("replay started", "projection", name)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		at, err := projections.Replay(r.ctx, r.log, r.store, c, inbox.Projection(), r.logger, func(p eventstore.Position) {
			r.mu.Lock()
			st.Position = p
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

// status returns the running or last replay of the named projection, nil if none.
func (r *replays) status(name string) *httpapi.ReplayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state[name]
	if st == nil {
		return nil
	}
	cp := *st
	return &cp
}

// wait waits for the replays to end (they end with the service's context).
func (r *replays) wait() { r.wg.Wait() }
