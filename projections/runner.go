// Package projections folds the global event log into read models. A Projection is a name,
// a filter, and how to fold an event into the read model's transaction: Decode outside the
// transaction, Preload what a batch touches, Fold each event (or a plain Apply). The Runner
// follows the log (eventstore.Follow) from the read model's checkpoint, decodes batch n+1
// while it applies batch n, and stores each batch's effect with the checkpoint in one
// read-model transaction (Store.Apply), so a crash never applies an event twice. An event it
// cannot fold is parked (Parking) and the runner goes on. Replay rebuilds a projection into a
// fresh copy beside the live one (Copies) and promotes it; Replays runs one at a time per
// projection; CheckLog proves a read model belongs to the log it is about to follow.
//
// It imports the event-store port only, and declares the ports it needs (Log, Store, Copies,
// LogBinding). docs/ARCHITECTURE.md has the picture.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
)

// Log is the global event log a projection follows.
type Log interface {
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error
}

// Store keeps read models and their checkpoints. Apply runs fn and moves the named
// projection's checkpoint from position from to position to, in one transaction: both happen
// or neither. When the stored checkpoint is not from (another projector wrote, or a replayed
// copy was promoted underneath), Apply does nothing and fails with an error wrapping ErrMoved.
type Store[Tx any] interface {
	Checkpoint(ctx context.Context, name string) (eventstore.Position, error)
	Apply(ctx context.Context, name string, from, to eventstore.Position, fn func(Tx) error) error
}

// ErrMoved is returned by Store.Apply when the checkpoint is not where the caller started:
// the caller resumes from the stored checkpoint instead of applying a batch twice.
var ErrMoved = errors.New("the projection's checkpoint moved under this projector")

// Projection folds events into a read model through the store's transaction type.
type Projection[Tx any] struct {
	Name   string
	Filter eventstore.Filter
	// Apply folds one recorded event.
	Apply func(tx Tx, e eventstore.RecordedEvent) error
	// Decode and Fold, when both are set, split Apply in two: the runner decodes a batch
	// outside the store's transaction, on another goroutine, while it applies the previous
	// one, so a replay uses two cores. Fold(tx, e, Decode(e)), after Preload, must do what
	// Apply(tx, e) does; the runner then never calls Apply (clear both to wrap Apply).
	Decode func(e eventstore.RecordedEvent) (any, error)
	Fold   func(tx Tx, e eventstore.RecordedEvent, decoded any) error
	// Preload, if set with Decode and Fold, runs first in each batch's transaction with the
	// decoded values of the events about to be folded: there the projection declares what the
	// batch reads, so that the store fetches it at once and Fold works in memory.
	Preload func(tx Tx, decoded []any) error
}

// ErrBadEvent marks an event a projection cannot apply however often it tries (it does not
// decode, or it contradicts the read model): the runner parks it and goes on. Any other error
// of Decode, Fold or Apply is taken for the store's, and the batch is retried.
var ErrBadEvent = errors.New("event cannot be applied")

// Runner drives one projection. Run it in its own goroutine.
//
// It never stops for one event: a record the log reports corrupt, an event that does not
// decode, and one the projection refuses with ErrBadEvent are parked (logged, counted in
// Parking, skipped) and the events after them applied.
type Runner[Tx any] struct {
	log     Log
	store   Store[Tx]
	p       Projection[Tx]
	logger  *slog.Logger
	parking *Parking

	tracer trace.Tracer // nil: tracing off

	pos     atomic.Uint64
	mu      sync.Mutex
	changed chan struct{}
}

// TraceWith makes each batch the runner applies a span (its read-model work is done in it,
// linked to the traces of its events) and each event it folds a span in the trace of the
// command that caused it. Replays are not traced: a rebuild is not a command's effect.
func (r *Runner[Tx]) TraceWith(tp trace.TracerProvider) *Runner[Tx] {
	if tp != nil {
		r.tracer = tp.Tracer(Scope)
	}
	return r
}

// Scope is the instrumentation scope of the projections' spans.
const Scope = "github.com/eventnotify/notify/projections"

// tracedBatch is applyEach in a span "project <name> batch", followed, once the batch is
// stored, by a span "project <name>" in the trace of each traced event it folded.
func (r *Runner[Tx]) tracedBatch(ctx context.Context, from, to eventstore.Position, events []eventstore.RecordedEvent, values []any) error {
	traces := make([]trace.SpanContext, len(events))
	var links []trace.Link
	now := time.Now()
	for i, e := range events {
		if traces[i] = eventstore.TraceOfRecent(e, now); traces[i].IsValid() {
			links = append(links, trace.Link{SpanContext: traces[i]})
		}
	}
	start := time.Now()
	ctx, span := r.tracer.Start(ctx, "project "+r.p.Name+" batch", trace.WithLinks(links...), trace.WithAttributes(
		attribute.Int("notify.events", len(events)), attribute.Int64("notify.from", int64(from)), attribute.Int64("notify.to", int64(to))))
	err := r.applyEach(ctx, from, to, events, values)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	if err != nil || len(links) == 0 {
		return err
	}
	end := time.Now()
	for i, e := range events {
		if !traces[i].IsValid() || r.parking.has(e.Position) {
			continue
		}
		_, s := r.tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), traces[i]), "project "+r.p.Name,
			trace.WithTimestamp(start), trace.WithLinks(trace.Link{SpanContext: span.SpanContext()}),
			trace.WithAttributes(attribute.String("notify.stream", e.Stream), attribute.Int64("notify.position", int64(e.Position))))
		s.End(trace.WithTimestamp(end))
	}
	return nil
}

// NewRunner builds a runner; logger may be nil.
func NewRunner[Tx any](log Log, store Store[Tx], p Projection[Tx], logger *slog.Logger) *Runner[Tx] {
	if log == nil || store == nil || p.Apply == nil {
		panic("projections: runner needs a log, a store and an apply function")
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Runner[Tx]{log: log, store: store, p: p, logger: logger.With("projection", p.Name), changed: make(chan struct{}), parking: NewParking()}
}

// ParkInto makes the runner report the events it parks into pk (shared with the status
// route), instead of a parking of its own.
func (r *Runner[Tx]) ParkInto(pk *Parking) *Runner[Tx] {
	if pk != nil {
		r.parking = pk
	}
	return r
}

// park records an event the runner will not apply.
func (r *Runner[Tx]) park(pos eventstore.Position, stream string, err error) {
	if r.parking.add(Parked{Position: pos, Stream: stream, Reason: err.Error(), At: time.Now().UTC()}) {
		r.logger.Error("event parked: it cannot be applied, and the projection goes on without it", "position", pos, "stream", stream, "err", err)
	}
}

// parkCorrupt parks the records the log could not read.
func (r *Runner[Tx]) parkCorrupt(b eventstore.Batch) {
	for _, c := range b.Corrupt {
		r.park(c.Position, c.Stream, c)
	}
}

// badEvent is a Fold or Apply failure that names its event, so the batch can go again
// without it.
type badEvent struct {
	e   eventstore.RecordedEvent
	err error
}

func (b *badEvent) Error() string {
	return fmt.Sprintf("apply %s at position %d: %v", b.e.Type, b.e.Position, b.err)
}
func (b *badEvent) Unwrap() error { return b.err }

// applyBatch applies events (decoded values alongside, when the projection decodes) from
// checkpoint from to to, leaving out parked events; an event that fails with ErrBadEvent is
// parked and the batch applied again without it.
func (r *Runner[Tx]) applyBatch(ctx context.Context, from, to eventstore.Position, events []eventstore.RecordedEvent, values []any) error {
	if r.tracer != nil {
		return r.tracedBatch(ctx, from, to, events, values)
	}
	return r.applyEach(ctx, from, to, events, values)
}

func (r *Runner[Tx]) applyEach(ctx context.Context, from, to eventstore.Position, events []eventstore.RecordedEvent, values []any) error {
	for {
		err := r.store.Apply(ctx, r.p.Name, from, to, func(tx Tx) error {
			if values != nil && r.p.Preload != nil {
				due := make([]any, 0, len(values))
				for i, e := range events {
					if !r.parking.has(e.Position) {
						due = append(due, values[i])
					}
				}
				if err := r.p.Preload(tx, due); err != nil {
					return fmt.Errorf("preload %d events: %w", len(due), err)
				}
			}
			for i, e := range events {
				if r.parking.has(e.Position) {
					continue
				}
				var err error
				if values != nil {
					err = r.p.Fold(tx, e, values[i])
				} else {
					err = r.p.Apply(tx, e)
				}
				if errors.Is(err, ErrBadEvent) {
					return &badEvent{e, err}
				}
				if err != nil {
					return fmt.Errorf("apply %s at position %d: %w", e.Type, e.Position, err)
				}
			}
			return nil
		})
		var bad *badEvent
		if !errors.As(err, &bad) {
			return err
		}
		r.park(bad.e.Position, bad.e.Stream, bad.err)
	}
}

// Name returns the projection's name.
func (r *Runner[Tx]) Name() string { return r.p.Name }

// Position returns the log position the read model reflects.
func (r *Runner[Tx]) Position() eventstore.Position { return eventstore.Position(r.pos.Load()) }

// Run follows the log from the stored checkpoint until ctx ends. A failing batch is retried
// from the checkpoint with backoff (eventstore.Follow), so it is never half applied nor
// skipped; only a store that says it can take no more (ErrCopyGone) ends Run with that error.
func (r *Runner[Tx]) Run(ctx context.Context) error {
	retry := eventstore.Retry{OnRetry: func(err error, wait time.Duration) {
		r.logger.Error("projection stopped; resuming from its checkpoint", "err", err, "retry_in", wait)
	}}
	err := eventstore.Follow(ctx, retry, func(ctx context.Context) (bool, error) {
		before := r.Position()
		err := r.follow(ctx)
		progressed := r.Position() > before
		switch {
		case errors.Is(err, ErrCopyGone):
			return progressed, eventstore.Stop(err)
		case errors.Is(err, ErrMoved):
			r.logger.Info("checkpoint moved (a replayed copy was promoted, or another projector wrote); resuming from it", "err", err)
			return progressed, eventstore.RetryNow(err)
		}
		return progressed, err
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *Runner[Tx]) follow(ctx context.Context) error {
	from, err := r.store.Checkpoint(ctx, r.p.Name)
	if err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	r.advance(from)
	if r.p.Decode != nil && r.p.Fold != nil {
		return r.pipeline(ctx, from)
	}
	last := from
	return r.log.Subscribe(ctx, from, r.p.Filter, func(ctx context.Context, b eventstore.Batch) error {
		r.parkCorrupt(b)
		if err := r.applyBatch(ctx, last, b.Position, b.Events, nil); err != nil {
			return err
		}
		last = b.Position
		r.advance(b.Position)
		return nil
	})
}

// coalesce is how many decoded batches the applier may find waiting and apply in one
// transaction: when it falls behind, its transactions grow instead of its lag.
const coalesce = 8

// decoded is a batch with its events decoded.
type decoded struct {
	b      eventstore.Batch
	values []any
}

// pipeline follows the log in two stages: the subscription decodes each batch and hands it
// to an applier goroutine, which applies it (with any others already waiting) while the next
// one is read and decoded. The first
// failure of either stage stops both; the checkpoint says where to resume.
func (r *Runner[Tx]) pipeline(ctx context.Context, from eventstore.Position) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan decoded, coalesce)
	applied := make(chan error, 1)
	go func() {
		last := from
		group := make([]decoded, 0, coalesce)
		for d := range batches {
			group = append(group[:0], d)
		more:
			for len(group) < coalesce {
				select {
				case d, ok := <-batches:
					if !ok {
						break more
					}
					group = append(group, d)
				default:
					break more
				}
			}
			to := group[len(group)-1].b.Position
			events, values := group[0].b.Events, group[0].values
			if len(group) > 1 {
				events, values = nil, nil
				for _, d := range group {
					events, values = append(events, d.b.Events...), append(values, d.values...)
				}
			}
			if err := r.applyBatch(ctx, last, to, events, values); err != nil {
				cancel(err)
				applied <- err
				return
			}
			last = to
			r.advance(to)
		}
		applied <- nil
	}()
	err := r.log.Subscribe(ctx, from, r.p.Filter, func(ctx context.Context, b eventstore.Batch) error {
		r.parkCorrupt(b)
		d := decoded{b: b, values: make([]any, len(b.Events))}
		for i, e := range b.Events {
			v, err := r.p.Decode(e)
			if err != nil { // decoding is pure: it fails the same every time
				r.park(e.Position, e.Stream, fmt.Errorf("decode %s: %w", e.Type, err))
				continue
			}
			d.values[i] = v
		}
		select {
		case batches <- d:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(batches)
	if aerr := <-applied; aerr != nil {
		return aerr // the applier's failure is the cause; the subscription only stopped for it
	}
	return err
}

func (r *Runner[Tx]) advance(p eventstore.Position) {
	r.pos.Store(uint64(p))
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// ErrNotReached is returned by WaitFor when the deadline passes first.
var ErrNotReached = errors.New("projection has not reached the position yet")

// WaitFor blocks until the read model reflects position p or ctx ends.
func (r *Runner[Tx]) WaitFor(ctx context.Context, p eventstore.Position) error {
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if r.Position() >= p {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: at %d, want %d", ErrNotReached, r.Position(), p)
		}
	}
}
