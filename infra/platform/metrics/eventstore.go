package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/app/eventstore"
)

// EventStore wraps the command handlers' event store so its appends are counted and timed;
// reads pass through. With a nil registry it returns next.
func (r *Registry) EventStore(next command.EventStore) command.EventStore {
	if r == nil {
		return next
	}
	return observedStore{next: next, r: r}
}

type observedStore struct {
	next command.EventStore
	r    *Registry
}

func (s observedStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	return s.next.ReadStream(ctx, stream, from, limit)
}

func (s observedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.next.Append(ctx, stream, expected, events...)
	s.r.appendDuration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		s.r.appends.WithLabelValues("ok").Inc()
		s.r.appendedEvents.Add(float64(len(events)))
	case errors.Is(err, eventstore.ErrWrongExpectedRevision):
		s.r.appends.WithLabelValues("wrong_expected_revision").Inc()
	default:
		s.r.appends.WithLabelValues("error").Inc()
	}
	return res, err
}
