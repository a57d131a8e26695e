package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventnotify/notify/app/eventstore"
)

// Subscribe delivers the events after position from whose stream names start with
// filter.StreamPrefix, catch-up first and then live, in batches to handle, until ctx ends or
// handle fails (its error is returned, wrapped). System events never reach handle.
//
// It follows $all with a server-side stream-name filter. Events already received when a batch
// is built travel together (up to MaxBatch). A batch's Position is its last event's position,
// or further when the server's checkpoints report that it has searched past events of other
// streams; a batch may then carry no events. When the subscription drops (server restart,
// network), it resubscribes from the last position handed to handle, with backoff, so nothing
// is skipped and nothing is delivered twice. It gives up only on errors retrying cannot cure
// (access denied, unauthenticated, invalid request, store closed).
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error {
	pos := from
	fromStart := false
	retry := eventstore.Retry{First: s.opts.ResubscribeMin, Max: s.opts.ResubscribeMax, OnRetry: func(err error, wait time.Duration) {
		s.log.Warn("esdb: subscription dropped; resubscribing", "from", uint64(pos), "retry_in", wait, "err", err)
	}}
	return eventstore.Follow(ctx, retry, func(ctx context.Context) (bool, error) {
		progressed, err := s.follow(ctx, &pos, fromStart, filter, handle)
		if ctx.Err() != nil {
			return progressed, err
		}
		var herr *handlerError
		if errors.As(err, &herr) {
			return progressed, eventstore.Stop(fmt.Errorf("esdb: subscription handler: %w", herr.err))
		}
		if !fromStart && !progressed && err != nil && strings.Contains(err.Error(), "invalid position") {
			// The server refuses a position that is no record boundary ("Trying to read from
			// an invalid position."). The service's own positions always are; a client's
			// Last-Event-ID may not be. Read from the start instead: what is at or before pos
			// is skipped, so the events after pos arrive all the same.
			s.log.Warn("esdb: position is no record boundary; subscribing from the start and skipping to it", "from", uint64(pos))
			fromStart = true
			return false, eventstore.RetryNow(err)
		}
		if permanent(err) {
			return progressed, eventstore.Stop(fmt.Errorf("esdb: subscribe to $all: %w", err))
		}
		if progressed {
			fromStart = false // positions the server gave are boundaries
		}
		return progressed, err
	})
}

// handlerError marks the handler's own failure, which ends Subscribe instead of resubscribing.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }

// follow runs one subscription from *pos until it drops, ctx ends or handle fails, advancing
// *pos after every batch handle accepted. It reports whether any batch was delivered.
func (s *Store) follow(ctx context.Context, pos *eventstore.Position, fromStart bool, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) (bool, error) {
	from := allPosition(*pos)
	if fromStart {
		from = esdb.Start{}
	}
	opts := esdb.SubscribeToAllOptions{
		From:               from,
		Filter:             subscriptionFilter(filter),
		MaxSearchWindow:    s.opts.MaxSearchWindow,
		CheckpointInterval: s.opts.CheckpointMultiplier,
	}
	sub, err := call(ctx, s, func(ctx context.Context) (*esdb.Subscription, error) {
		return s.client.SubscribeToAll(ctx, opts)
	}, func(sub *esdb.Subscription) { _ = sub.Close() })
	if err != nil {
		return false, err
	}

	// One goroutine receives; the loop below takes whatever it has received so far as a batch.
	received := make(chan *esdb.SubscriptionEvent, s.opts.MaxBatch)
	stop := make(chan struct{})
	go func() {
		defer close(received)
		for {
			ev := sub.Recv()
			select {
			case received <- ev:
			case <-stop:
				return
			}
			if ev.SubscriptionDropped != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		_ = sub.Close()
		for range received { // wait for the receiver to leave
		}
	}()

	progressed := false
	for {
		var ev *esdb.SubscriptionEvent
		select {
		case ev = <-received:
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
		b := eventstore.Batch{Position: *pos}
		dropped := add(&b, filter, ev)
	drain:
		for dropped == nil && len(b.Events) < s.opts.MaxBatch {
			select {
			case ev = <-received:
				dropped = add(&b, filter, ev)
			default:
				break drain
			}
		}
		if len(b.Events) > 0 || b.Position > *pos {
			if err := handle(ctx, b); err != nil {
				return progressed, &handlerError{err}
			}
			*pos, progressed = b.Position, true
		}
		if dropped != nil {
			return progressed, dropped
		}
	}
}

// add folds one subscription message into the batch being built; it returns the reason of a
// drop. Events at or before the batch's position are ignored, so nothing is delivered twice;
// system events and events of other streams move the position on without being delivered.
func add(b *eventstore.Batch, filter eventstore.Filter, ev *esdb.SubscriptionEvent) error {
	switch {
	case ev.SubscriptionDropped != nil:
		err := ev.SubscriptionDropped.Error
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("subscription dropped: %w", err)
	case ev.EventAppeared != nil:
		e := ev.EventAppeared.OriginalEvent()
		if e == nil {
			return nil
		}
		p := eventstore.Position(e.Position.Commit)
		if p <= b.Position {
			return nil
		}
		b.Position = p
		if delivers(filter, e) {
			b.Events = append(b.Events, recorded(e))
		}
	case ev.CheckPointReached != nil:
		if p := checkpointPosition(*ev.CheckPointReached); p > b.Position {
			b.Position = p
		}
	}
	return nil
}

// checkpointPosition turns a checkpoint of a filtered subscription into a port position that
// is safe to resume from. The server resumes strictly after a (commit, prepare) position, and
// events written by appends sit at (p, p). A checkpoint taken at a page boundary is (C, 0),
// where C is the post-position of the last record searched, which is also where the next
// record starts; (C, C) would resume after that record. The server has in fact searched it
// before it sends such a checkpoint, but the adapter does not rely on that: it maps (C, 0) to
// C-1, which no event can occupy (the record before C spans it), which is at or after every
// event delivered (the server never sends a checkpoint before an event it sent), and which
// resumes at the record at C. (server: Services/Storage/ReaderIndex/AllReader.cs sets page
// boundaries to (post-position, 0); Services/Transport/Enumerators/
// Enumerator.AllSubscriptionFiltered.cs sends max(last event, page start) as checkpoint.)
func checkpointPosition(p esdb.Position) eventstore.Position {
	if p.Prepare >= p.Commit || p.Commit == 0 {
		return eventstore.Position(p.Commit)
	}
	return eventstore.Position(p.Commit - 1)
}

// allPosition is where a subscription resumes: after the event at p ((p, p) is exclusive), or
// from the start of $all for 0, "before the first event".
func allPosition(p eventstore.Position) esdb.AllPosition {
	if p == 0 {
		return esdb.Start{}
	}
	return esdb.Position{Commit: uint64(p), Prepare: uint64(p)}
}

// subscriptionFilter is the server-side filter of a port filter: the stream-name prefix, or,
// for every stream, the streams whose names do not start with "$" (the server's default $all
// filter lets most system streams through).
func subscriptionFilter(f eventstore.Filter) *esdb.SubscriptionFilter {
	if f.StreamPrefix == "" {
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^[^$]"}
	}
	return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{f.StreamPrefix}}
}

// permanent reports errors a resubscription cannot cure.
func permanent(err error) bool {
	if errors.Is(err, ErrClosed) {
		return true
	}
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		switch esErr.Code() {
		case esdb.ErrorCodeAccessDenied, esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeUnsupportedFeature, esdb.ErrorCodeConnectionClosed:
			return true
		}
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// isNotFound reports a read of a stream that does not exist (the server's StreamNotFound
// message, which the client turns into ErrorCodeResourceNotFound).
func isNotFound(err error) bool {
	var esErr *esdb.Error
	return errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound
}
