// Package kafkabridge connects the service to Kafka through Watermill: one router takes
// commands in (the seed's send topic and the typed commands topic), with poison routing for
// commands that can never succeed and retries with backoff for the rest, and relays every
// event of the log out to the events topic, keyed by recipient, from a durable checkpoint.
package kafkabridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/infra/platform/logsample"
	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// Bridge is the Watermill router and the Kafka clients it owns.
type Bridge struct {
	router *message.Router
	pubs   []*publisher
	sub    *kafkasub.Subscriber
	logger *slog.Logger
	stall  time.Duration

	pingMu   sync.Mutex
	pinged   time.Time
	pingErr  error
	downFrom time.Time // when the brokers stopped answering (zero: they answer)
}

// ErrUnreachable is New's failure when no broker could be reached over the network (not
// when one refused the TLS or SASL settings): worth retrying.
var ErrUnreachable = errors.New("no Kafka broker reachable")

// New builds the bridge. Events are relayed only when log is not nil.
func New(cfg Config, cmds app.Commands, log Log, checkpoints Checkpoints, logger *slog.Logger) (*Bridge, error) {
	return build(cfg, &cmds, log, checkpoints, logger)
}

// NewRelay builds a bridge that only relays events (no commands are consumed): with several
// instances, run it on the one that leads the relay, and New(…, nil log, …) on every one.
func NewRelay(cfg Config, log Log, checkpoints Checkpoints, logger *slog.Logger) (*Bridge, error) {
	if log == nil {
		return nil, fmt.Errorf("kafkabridge: a relay needs a log")
	}
	return build(cfg, nil, log, checkpoints, logger)
}

func build(cfg Config, cmds *app.Commands, log Log, checkpoints Checkpoints, logger *slog.Logger) (*Bridge, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	wlog := wmLogger{logger.With("component", "kafka")}
	pc, err := cfg.producerConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka producer config: %w", err)
	}
	cc, err := cfg.consumerOptions()
	if err != nil {
		return nil, fmt.Errorf("kafka consumer config: %w", err)
	}
	// One producer for poison, one for events: the router closes a handler's publisher when
	// the handler stops, and the poison middleware of the other handlers must outlive it.
	poisonPub, err := newPublisher(cfg.Brokers, pc)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return nil, fmt.Errorf("cannot connect to Kafka brokers %v (check the addresses, TLS and SASL settings): %w", cfg.Brokers, err)
	}
	b := &Bridge{pubs: []*publisher{poisonPub}, logger: logger, stall: cfg.StallAfter}
	// Commands are consumed by our subscriber, many per partition at a time; see kafkasub.
	b.sub, err = kafkasub.NewSubscriber(kafkasub.Config{
		Brokers: cfg.Brokers, ConsumerGroup: cfg.Group, InstanceID: cfg.InstanceID, MaxInFlight: cfg.MaxInFlight,
		NackResendSleep: time.Second, ClientOptions: cc, Logger: logger,
	})
	if err != nil {
		b.closeClients()
		return nil, fmt.Errorf("kafka subscriber: %w", err)
	}
	b.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, wlog)
	if err != nil {
		b.closeClients()
		return nil, err
	}

	poison, err := middleware.PoisonQueueWithFilter(poisonPublisher{poisonPub, cfg.MaxMessageBytes}, cfg.PoisonTopic, isPermanent)
	if err != nil {
		return nil, err
	}
	poisoned := logsample.New(10 * time.Second)
	// Poison outermost: a command that can never succeed is parked with its reason (counted
	// and logged on its way); anything else is retried with backoff, then nacked and
	// redelivered in order.
	for name, topic := range map[string]string{"send-notification": cfg.SendTopic, "commands": cfg.CommandsTopic} {
		if cmds == nil {
			break
		}
		retry := middleware.Retry{
			MaxRetries: 5, InitialInterval: 100 * time.Millisecond, MaxInterval: 5 * time.Second, Multiplier: 2,
			ShouldRetry: func(p middleware.RetryParams) bool { return !isPermanent(p.Err) },
			Logger:      wlog,
		}
		h := commandHandlers{cmds: *cmds, maxBytes: cfg.MaxMessageBytes}
		handle := h.typed
		if topic == cfg.SendTopic {
			handle = h.seed
		}
		handler := b.router.AddConsumerHandler(name, topic, b.sub, handle)
		if cfg.Tracer != nil {
			handler.AddMiddleware(traceCommands(topic, cfg.Tracer))
		}
		handler.AddMiddleware(recoverAsPermanent, poison, observePoison(topic, cfg.Observer, poisoned, logger), retry.Middleware, observeRetries(topic, cfg.Observer))
	}
	if log != nil {
		eventsPub, err := newPublisher(cfg.Brokers, pc)
		if err != nil {
			b.closeClients()
			return nil, fmt.Errorf("kafka producer: %w", err)
		}
		b.pubs = append(b.pubs, eventsPub)
		b.router.AddHandler("events-out", logTopic, newLogSubscriber(log, checkpoints, logger), cfg.EventsTopic, eventsPub, eventsToKafka(cfg.EventsTopic, cfg.Tracer))
	}
	return b, nil
}

// Run runs the router until ctx ends, then closes it (in-flight messages finish).
func (b *Bridge) Run(ctx context.Context) error {
	err := b.router.Run(ctx)
	b.closeClients()
	return err
}

func (b *Bridge) closeClients() {
	if b.sub != nil {
		b.sub.Close()
	}
	for _, p := range b.pubs {
		p.Close()
	}
}

// Partitions reports the command partitions this instance consumes.
func (b *Bridge) Partitions() []kafkasub.PartitionStats { return b.sub.Stats() }

// Stalled returns the command partitions that have lag but whose watermark has not moved for
// StallAfter: a command that keeps failing with a transient error (the event store down, the
// poison topic unwritable) holds its partition's offset, and this says so.
func (b *Bridge) Stalled(now time.Time) []kafkasub.PartitionStats {
	var out []kafkasub.PartitionStats
	for _, p := range b.sub.Stats() {
		if p.Lag > 0 && now.Sub(p.Advanced) >= b.stall {
			out = append(out, p)
		}
	}
	return out
}

// Reachable reports whether a Kafka broker answers, asking at most once a second (each ask
// bounded by a second), and since when the brokers have not answered. Before the command
// handlers have subscribed it answers nil.
func (b *Bridge) Reachable(ctx context.Context) (since time.Time, err error) {
	b.pingMu.Lock()
	defer b.pingMu.Unlock()
	if time.Since(b.pinged) >= time.Second {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := b.sub.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return b.downFrom, b.pingErr // the caller left: keep the last answer
		}
		b.pinged = time.Now()
		switch {
		case err == nil, errors.Is(err, kafkasub.ErrNotSubscribed):
			b.pingErr, b.downFrom = nil, time.Time{}
		default:
			if b.downFrom.IsZero() {
				b.downFrom = b.pinged
			}
			b.pingErr = err
		}
	}
	return b.downFrom, b.pingErr
}

// Running is closed once every handler has subscribed.
func (b *Bridge) Running() chan struct{} { return b.router.Running() }

// Close stops the router.
func (b *Bridge) Close() error { return b.router.Close() }

// observePoison counts and logs (sampled, a line per reason every 10 s) each command that
// the poison middleware around it is about to park.
func observePoison(topic string, obs Observer, sample *logsample.Sampler, logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil || !isPermanent(err) {
				return out, err
			}
			reason := poisonReason(err)
			if obs != nil {
				obs.Poisoned(topic, reason)
			}
			r, _ := kafkasub.RecordFromCtx(msg.Context())
			sample.Log(topic+"/"+reason, func(more int) {
				logger.WarnContext(msg.Context(), "command parked on the poison topic", "topic", topic, "partition", r.Partition, "offset", r.Offset,
					"reason", reason, "err", err, "more_since_last_line", more)
			})
			return out, err
		}
	}
}

// observeRetries tells obs of each transient failure of a command: the retry middleware
// around it tries it again, and after its retries the command is nacked and redelivered.
func observeRetries(topic string, obs Observer) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err != nil && obs != nil && !isPermanent(err) {
				obs.Retried(topic)
			}
			return out, err
		}
	}
}

// recoverAsPermanent turns a panic in a handler into a poison outcome: the same message
// would panic again on every redelivery.
func recoverAsPermanent(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = refuse("panic", fmt.Errorf("handler panicked: %v", r))
			}
		}()
		return h(msg)
	}
}

// publisher sends all the messages of one Publish call in one batch. Watermill's Kafka
// publisher sends them one by one, a round trip each with acks from every replica; a relay
// batch of hundreds of events needs one. The idempotent producer keeps their order.
type publisher struct {
	mu       sync.RWMutex
	closed   bool
	producer sarama.SyncProducer
	marshal  keyedMarshaler
}

func newPublisher(brokers []string, sc *sarama.Config) (*publisher, error) {
	p, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		return nil, err
	}
	return &publisher{producer: p}, nil
}

// Publish sends msgs to topic and returns once every replica has them.
func (p *publisher) Publish(topic string, msgs ...*message.Message) (err error) {
	defer func() { endPublishSpans(msgs, err) }()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errors.New("kafka publisher closed")
	}
	batch := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm, err := p.marshal.Marshal(topic, m)
		if err != nil {
			return fmt.Errorf("marshal message %s: %w", m.UUID, err)
		}
		batch[i] = pm
	}
	if err := p.producer.SendMessages(batch); err != nil {
		return fmt.Errorf("produce %d messages to %s: %w", len(batch), topic, err)
	}
	return nil
}

// Close waits for in-flight Publish calls and closes the producer; it may be called twice.
func (p *publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.producer.Close()
}

// keyMetadata carries the Kafka key of an outgoing message; it is not sent as a header.
const keyMetadata = "_notify_key"

// keyedMarshaler is Watermill's default marshaler plus the record key: the key the message
// was consumed with (poison keeps it as received), else the one set in keyMetadata.
type keyedMarshaler struct{ kafka.DefaultMarshaler }

func (m keyedMarshaler) Marshal(topic string, msg *message.Message) (*sarama.ProducerMessage, error) {
	key := msg.Metadata.Get(keyMetadata)
	if r, ok := kafkasub.RecordFromCtx(msg.Context()); ok && key == "" {
		key = string(r.Key)
	}
	delete(msg.Metadata, keyMetadata)
	pm, err := m.DefaultMarshaler.Marshal(topic, msg)
	if err != nil {
		return nil, err
	}
	if key != "" {
		pm.Key = sarama.StringEncoder(key)
	}
	return pm, nil
}
