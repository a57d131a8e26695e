package kafkabridge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/app/eventstore"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/platform/tracing"
)

// Log is the event log the relay follows.
type Log interface {
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter, handle func(context.Context, eventstore.Batch) error) error
}

// Checkpoints keep how far the relay has published, durably, in a name space of their own: a
// store that also keeps projection checkpoints keeps a relay checkpoint apart from a
// projection's of the same name. The suite in checkpointtest proves a store.
type Checkpoints interface {
	// RelayCheckpoint returns the position saved under name (0 if none).
	RelayCheckpoint(ctx context.Context, name string) (eventstore.Position, error)
	// SaveRelayCheckpoint records p under name, replacing what was there (also a lower one).
	SaveRelayCheckpoint(ctx context.Context, name string, p eventstore.Position) error
}

// Headers of the events topic (README, Kafka).
const (
	HeaderEventType     = "event-type"
	HeaderEventID       = "event-id"
	HeaderStream        = "stream"
	HeaderRevision      = "revision"
	HeaderPosition      = "position"
	HeaderSchemaVersion = "schema-version"
)

// RelayCheckpoint names the relay's checkpoint in the event store.
const RelayCheckpoint = "kafka-events"

const logTopic = "event-log"

// batchKey carries a relay message's events in its context. The log subscriber and the
// handler run in one process; encoding the batch to JSON for the message's payload only to
// decode it again cost more than publishing it.
type batchKey struct{}

// logSubscriber is a Watermill subscriber over the event log. Each message carries one batch
// of the log; its ack saves the relay checkpoint, its nack redelivers the same batch, so the
// events topic gets every event at least once and in log order.
type logSubscriber struct {
	log     Log
	cps     Checkpoints
	logger  *slog.Logger
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	// The checkpoint is saved at most every checkpointEvery (and when the relay stops): each
	// save is a durable commit on the event store, and after a crash the relay republishes
	// at most that much, which at-least-once delivery allows.
	lastSave  time.Time
	unsaved   eventstore.Position
	unsavedOK bool
}

const checkpointEvery = 250 * time.Millisecond

func newLogSubscriber(log Log, cps Checkpoints, logger *slog.Logger) *logSubscriber {
	return &logSubscriber{log: log, cps: cps, logger: logger.With("component", "kafka-relay"), closing: make(chan struct{})}
}

// Subscribe starts following the log from the saved checkpoint.
func (s *logSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	ctx, cancel := context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		s.follow(ctx, out)
	}()
	return out, nil
}

// follow relays the log from the saved checkpoint until ctx ends, resuming from the checkpoint
// after a failure, and saves how far it got when it stops.
func (s *logSubscriber) follow(ctx context.Context, out chan<- *message.Message) {
	filter := eventstore.Filter{StreamPrefix: notification.StreamPrefix}
	retry := eventstore.Retry{OnRetry: func(err error, wait time.Duration) {
		s.logger.Error("relay stopped; resuming from its checkpoint", "err", err, "retry_in", wait)
	}}
	_ = eventstore.Follow(ctx, retry, func(ctx context.Context) (progressed bool, err error) {
		from, err := s.cps.RelayCheckpoint(ctx, RelayCheckpoint)
		if err != nil {
			return false, err
		}
		err = s.log.Subscribe(ctx, from, filter, func(ctx context.Context, b eventstore.Batch) error {
			if err := s.deliver(ctx, out, b); err != nil {
				return err
			}
			progressed = true
			return nil
		})
		return progressed, err
	}) // ends only with ctx
	if err := s.flush(context.Background()); err != nil {
		s.logger.Error("save relay checkpoint on stop", "err", err)
	}
}

// published records that everything up to p is on Kafka, saving it if the last save is old.
func (s *logSubscriber) published(ctx context.Context, p eventstore.Position) error {
	s.unsaved, s.unsavedOK = p, true
	if time.Since(s.lastSave) < checkpointEvery {
		return nil
	}
	return s.flush(ctx)
}

func (s *logSubscriber) flush(ctx context.Context) error {
	if !s.unsavedOK {
		return nil
	}
	if err := s.cps.SaveRelayCheckpoint(ctx, RelayCheckpoint, s.unsaved); err != nil {
		return err
	}
	s.lastSave, s.unsavedOK = time.Now(), false
	return nil
}

func (s *logSubscriber) deliver(ctx context.Context, out chan<- *message.Message, b eventstore.Batch) error {
	for _, c := range b.Corrupt {
		s.logger.Error("relay skips a record the log cannot read: it is not published", "err", c)
	}
	if len(b.Events) == 0 {
		return s.published(ctx, b.Position)
	}
	batchCtx := context.WithValue(context.Background(), batchKey{}, b.Events)
	msg := message.NewMessage(watermill.NewUUID(), nil)
	msg.SetContext(batchCtx)
	for {
		select {
		case out <- msg:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-msg.Acked():
			return s.published(ctx, b.Position)
		case <-msg.Nacked():
			msg = msg.Copy()
			msg.SetContext(batchCtx)
			sleep(ctx, time.Second)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops following the log.
func (s *logSubscriber) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.wg.Wait()
	return nil
}

// eventsToKafka turns one log batch into the events topic's messages: the event data as
// payload, keyed by recipient, with the headers of the README (Kafka), and the traceparent
// of a producer span when the command was traced (tp nil: tracing off).
func eventsToKafka(topic string, tp trace.TracerProvider) message.HandlerFunc {
	var tracer trace.Tracer
	if tp != nil {
		tracer = tp.Tracer(tracing.Name)
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		return batchToKafka(msg, topic, tracer)
	}
}

func batchToKafka(msg *message.Message, topic string, tracer trace.Tracer) ([]*message.Message, error) {
	batch, ok := msg.Context().Value(batchKey{}).([]eventstore.RecordedEvent)
	if !ok {
		return nil, permanent(fmt.Errorf("relay message %s carries no batch", msg.UUID))
	}
	out := make([]*message.Message, 0, len(batch))
	for _, e := range batch {
		var md eventstore.Metadata
		_ = json.Unmarshal(e.Metadata, &md) // events without metadata are published without it
		id := e.ID.String()
		m := message.NewMessage(id, []byte(e.Data))
		m.Metadata = make(message.Metadata, 8)
		m.Metadata.Set(HeaderEventType, e.Type)
		m.Metadata.Set(HeaderEventID, id)
		m.Metadata.Set(HeaderStream, e.Stream)
		m.Metadata.Set(HeaderRevision, strconv.FormatUint(e.Revision, 10))
		m.Metadata.Set(HeaderPosition, strconv.FormatUint(uint64(e.Position), 10))
		m.Metadata.Set(HeaderSchemaVersion, strconv.Itoa(max(md.SchemaVersion, 1)))
		if md.CorrelationID != "" {
			m.Metadata.Set(HeaderCorrelationID, md.CorrelationID)
		}
		m.Metadata.Set(keyMetadata, recipientOf(e, md.SchemaVersion))
		publishSpan(tracer, topic, e, md, m)
		out = append(out, m)
	}
	return out, nil
}

// recipientOf is the recipient an event is about: every notification event carries it. version
// is the schemaVersion of its metadata.
func recipientOf(e eventstore.RecordedEvent, version int) string {
	if ev, err := notification.DecodeStored(e.Type, version, e.Data); err == nil {
		return ev.Recipient()
	}
	var data struct {
		RecipientID string `json:"recipientId"`
	}
	_ = json.Unmarshal(e.Data, &data)
	return data.RecipientID
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
