// Package kafkasub is a Watermill subscriber for Kafka that keeps many messages of one
// partition in flight, so a partition is not limited to one message per handler round trip.
//
//   - Up to MaxInFlight records of a partition are taken beyond its committed offset; each is
//     handed to the router as soon as it is taken, unless an earlier record with the same
//     Kafka key is still being handled: records with one key are handled one after the other,
//     in offset order; records with different keys, or none, concurrently.
//   - The offset committed is the contiguous watermark: the first record of the partition not
//     yet acknowledged. It never passes a record in flight, nacked or being retried, so a crash
//     redelivers at most the window.
//   - A nacked message is sent again after NackResendSleep; it holds up only its own key.
//   - On a rebalance the revoked partitions stop taking records, their in-flight messages get
//     RevokeTimeout to finish, and the watermark is committed before the partition moves.
//   - InstanceID makes membership static (KIP-345): a restarted member takes its partitions
//     back at once instead of after the session timeout.
//
// It is built on franz-go's kgo client (per-partition pause, commits of chosen offsets with
// their leader epoch, revoke callbacks that hold the rebalance, static membership) and uses
// watermill-kafka's marshaler, so messages read exactly as with watermill-kafka's subscriber.
// It must not import anything of this service's.
package kafkasub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures a Subscriber. Brokers and ConsumerGroup are required.
type Config struct {
	Brokers []string
	// ConsumerGroup is the group every subscription joins.
	ConsumerGroup string
	// InstanceID, when set, makes each subscription a static member, InstanceID-topic.
	InstanceID string
	// MaxInFlight caps the records of one partition taken beyond its watermark (default 1024).
	MaxInFlight int
	// MaxHandling caps the messages of one subscription handed out and not yet acknowledged,
	// whatever the number of partitions, so memory stays bounded (default 4 × MaxInFlight).
	MaxHandling int
	// NackResendSleep is the wait before a nacked message is sent again (default 100 ms).
	NackResendSleep time.Duration
	// CommitInterval is how often watermarks that moved are committed (default 100 ms).
	CommitInterval time.Duration
	// RevokeTimeout bounds how long a revoked partition's messages may finish (default 10 s).
	RevokeTimeout time.Duration
	// CloseTimeout bounds how long Close waits for messages handed out (default 10 s).
	CloseTimeout time.Duration
	// SessionTimeout is the group session timeout (default 45 s, kgo's). With InstanceID, a
	// member that stops without coming back keeps its partitions that long.
	SessionTimeout time.Duration
	// FetchMaxWait bounds how long the broker holds a fetch that has no data (default 100 ms):
	// a resumed partition waits for the fetch in flight.
	FetchMaxWait time.Duration
	// ClientOptions are added to every client (TLS, SASL, client id, …).
	ClientOptions []kgo.Opt
	Logger        *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.MaxHandling <= 0 {
		c.MaxHandling = 4 * c.MaxInFlight
	}
	defaultDuration(&c.NackResendSleep, 100*time.Millisecond)
	defaultDuration(&c.CommitInterval, 100*time.Millisecond)
	defaultDuration(&c.RevokeTimeout, 10*time.Second)
	defaultDuration(&c.CloseTimeout, 10*time.Second)
	defaultDuration(&c.SessionTimeout, 45*time.Second)
	defaultDuration(&c.FetchMaxWait, 100*time.Millisecond)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Subscriber is a Watermill message.Subscriber; each Subscribe call is one group member.
type Subscriber struct {
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
}

// NewSubscriber checks cfg; it connects on Subscribe.
func NewSubscriber(cfg Config) (*Subscriber, error) {
	cfg.setDefaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafkasub: no brokers")
	}
	if cfg.ConsumerGroup == "" {
		return nil, errors.New("kafkasub: a consumer group is required")
	}
	return &Subscriber{cfg: cfg, logger: cfg.Logger.With("component", "kafka-consumer"), subs: map[*subscription]struct{}{}}, nil
}

// Subscribe joins the group for topic and returns its messages. The channel is closed when
// ctx ends or the subscriber closes, once the messages handed out are acknowledged (or
// CloseTimeout passed) and the watermarks committed.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("kafkasub: subscriber closed")
	}
	if s.cfg.InstanceID != "" {
		for sub := range s.subs {
			if sub.topic == topic {
				return nil, fmt.Errorf("kafkasub: topic %s already has a static member here; a second would fence it", topic)
			}
		}
	}
	sub, err := newSubscription(ctx, s, topic)
	if err != nil {
		return nil, err
	}
	s.subs[sub] = struct{}{}
	go func() {
		<-sub.stopped
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	return sub.out, nil
}

// Close stops every subscription: see Subscribe. It may be called more than once.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Add(1)
		go func() { defer wg.Done(); sub.stop() }()
	}
	wg.Wait()
	return nil
}

// PartitionStats is how one assigned partition is doing.
type PartitionStats struct {
	Topic     string
	Partition int32
	// Watermark is the first offset not yet handled: what is (or will next be) committed.
	Watermark int64
	// Committed is the last watermark the broker acknowledged (-1: none yet).
	Committed int64
	// HighWatermark is the offset after the partition's last record, from the latest fetch
	// (-1: not fetched yet).
	HighWatermark int64
	// Lag is how many records the partition holds beyond the watermark.
	Lag int64
	// InFlight counts the records taken beyond the watermark; Backlog those fetched while
	// the window was full.
	InFlight, Backlog int
	// Oldest is when the record at the watermark was taken (zero: none in flight).
	Oldest time.Time
	// Advanced is when the watermark last moved (or the partition was assigned).
	Advanced time.Time
}

// Stats reports every partition assigned to this subscriber's members, by topic and partition.
func (s *Subscriber) Stats() []PartitionStats {
	s.mu.Lock()
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	var out []PartitionStats
	for _, sub := range subs {
		out = append(out, sub.stats()...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// ErrNotSubscribed is Ping's answer before any Subscribe.
var ErrNotSubscribed = errors.New("kafkasub: no subscription")

// Ping reports whether a broker answers, through one of the subscriptions' clients (an
// ApiVersions round trip).
func (s *Subscriber) Ping(ctx context.Context) error {
	s.mu.Lock()
	var cl *kgo.Client
	for sub := range s.subs {
		cl = sub.cl
		break
	}
	s.mu.Unlock()
	if cl == nil {
		return ErrNotSubscribed
	}
	return cl.Ping(ctx)
}

// subscription is one group member consuming one topic.
type subscription struct {
	s      *Subscriber
	cfg    *Config
	logger *slog.Logger
	topic  string
	cl     *kgo.Client
	out    chan *message.Message
	msgCtx context.Context // the Subscribe context's values, not its cancellation

	mu       sync.Mutex
	stopping bool
	parts    map[int32]*partition
	free     int         // handler slots left (MaxHandling)
	waiting  []*delivery // ready to start, waiting for a slot

	commitMu sync.Mutex // one commit at a time: a periodic one never lands after a revoke's

	closing  chan struct{} // stop taking and sending
	abandon  chan struct{} // give up messages still handed out
	stopOnce sync.Once
	stopped  chan struct{}
	wg       sync.WaitGroup // deliveries
	loops    sync.WaitGroup // poll and commit loops
}

func newSubscription(ctx context.Context, s *Subscriber, topic string) (*subscription, error) {
	sub := &subscription{
		s: s, cfg: &s.cfg, topic: topic, logger: s.logger.With("topic", topic),
		out: make(chan *message.Message), msgCtx: context.WithoutCancel(ctx),
		parts: map[int32]*partition{}, free: s.cfg.MaxHandling,
		closing: make(chan struct{}), abandon: make(chan struct{}), stopped: make(chan struct{}),
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumerGroup(s.cfg.ConsumerGroup),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(s.cfg.FetchMaxWait),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.OnPartitionsAssigned(sub.assigned),
		kgo.OnPartitionsRevoked(sub.revoked),
		kgo.OnPartitionsLost(sub.lost),
		kgo.WithLogger(kgoLogger{sub.logger}),
	}, s.cfg.ClientOptions...)
	if s.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.cfg.InstanceID+"-"+topic))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkasub: client for %s: %w", topic, err)
	}
	sub.cl = cl
	pollCtx, stopPoll := context.WithCancel(context.Background())
	sub.loops.Add(2)
	go func() { defer sub.loops.Done(); sub.poll(pollCtx) }()
	go func() { defer sub.loops.Done(); sub.commitLoop() }()
	go func() {
		select {
		case <-ctx.Done():
		case <-sub.closing:
		}
		stopPoll()
		sub.stop()
	}()
	return sub, nil
}

// poll takes fetched records into their partitions and starts what may start.
func (sub *subscription) poll(ctx context.Context) {
	var errLogged time.Time
	for {
		fs := sub.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || time.Since(errLogged) < 5*time.Second {
				return
			}
			errLogged = time.Now()
			sub.logger.Warn("fetch failed; retrying", "partition", p, "err", err)
		})
		now := time.Now()
		sub.mu.Lock()
		var pause []int32
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			p := sub.parts[fp.Partition]
			if p == nil || p.gone {
				return // revoked since the fetch: the next owner reads these
			}
			if fp.HighWatermark >= 0 {
				p.hwm = fp.HighWatermark
			}
			for _, r := range fp.Records {
				if d := p.take(r, now); d != nil {
					sub.startLocked(d)
				}
			}
			if len(p.backlog) > 0 && !p.paused {
				p.paused = true
				pause = append(pause, p.id)
			}
		})
		if len(pause) > 0 {
			sub.cl.PauseFetchPartitions(map[string][]int32{sub.topic: pause})
		}
		sub.mu.Unlock()
	}
}

// startLocked hands d out, or queues it until a handler slot frees. Nothing starts once the
// subscription stops or the partition is gone: the record stays below the watermark.
func (sub *subscription) startLocked(d *delivery) {
	if sub.stopping || d.p.gone {
		return
	}
	if sub.free == 0 {
		sub.waiting = append(sub.waiting, d)
		return
	}
	sub.free--
	d.p.wg.Add(1)
	sub.wg.Add(1)
	go sub.deliver(d)
}

// finished records the outcome of a delivery: acked (handled) or given up.
func (sub *subscription) finished(d *delivery, acked bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.free++
	if acked && !d.p.gone {
		for _, next := range d.p.finish(d, time.Now()) {
			sub.startLocked(next)
		}
		if d.p.paused && len(d.p.backlog) == 0 {
			d.p.paused = false
			sub.cl.ResumeFetchPartitions(map[string][]int32{sub.topic: {d.p.id}})
		}
	}
	for sub.free > 0 && len(sub.waiting) > 0 {
		next := sub.waiting[0]
		sub.waiting[0] = nil
		sub.waiting = sub.waiting[1:]
		if !next.p.gone {
			sub.startLocked(next)
		}
	}
}

// commitLoop commits the watermarks that moved, every CommitInterval, until the
// subscription stops.
func (sub *subscription) commitLoop() {
	t := time.NewTicker(sub.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			sub.commit(context.Background(), nil)
		case <-sub.closing:
			return
		}
	}
}

// commit commits the watermark of each partition given (nil: every owned one) that moved
// since the last commit, and waits for the answer.
func (sub *subscription) commit(ctx context.Context, only []*partition) {
	sub.commitMu.Lock()
	defer sub.commitMu.Unlock()
	sub.mu.Lock()
	if only == nil {
		for _, p := range sub.parts {
			only = append(only, p)
		}
	}
	offsets := map[int32]kgo.EpochOffset{}
	byID := map[int32]*partition{}
	for _, p := range only {
		if p.watermark >= 0 && p.watermark != p.committed {
			offsets[p.id] = kgo.EpochOffset{Epoch: p.epoch, Offset: p.watermark}
			byID[p.id] = p
		}
	}
	sub.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	sub.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{sub.topic: offsets}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			sub.logger.Warn("offset commit failed; retried with the next", "err", err)
			return
		}
		sub.mu.Lock()
		defer sub.mu.Unlock()
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				p, eo := byID[rp.Partition], offsets[rp.Partition]
				if p == nil {
					continue
				}
				if rp.ErrorCode != 0 {
					sub.logger.Warn("offset commit refused for a partition; retried with the next", "partition", rp.Partition, "code", rp.ErrorCode)
					continue
				}
				p.committed = eo.Offset
			}
		}
	})
}

// assigned creates the state of newly assigned partitions, before they are fetched.
func (sub *subscription) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	now := time.Now()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, id := range assigned[sub.topic] {
		if old := sub.parts[id]; old != nil && !old.gone {
			continue
		}
		sub.parts[id] = newPartition(sub.topic, id, sub.cfg.MaxInFlight, now)
	}
	sub.logger.Debug("partitions assigned", "partitions", assigned[sub.topic])
}

// revoked stops the partitions moving away: nothing more is sent, what is in flight gets
// RevokeTimeout to finish, then the watermarks are committed and the rest is given up.
func (sub *subscription) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	parts := sub.detach(revoked[sub.topic])
	if len(parts) == 0 {
		return
	}
	waitAll(parts, sub.cfg.RevokeTimeout)
	sub.commit(ctx, parts)
	sub.giveUp(parts)
	sub.logger.Debug("partitions revoked", "partitions", revoked[sub.topic])
}

// lost drops partitions that are no longer ours (session expired, fenced): committing
// would fail, and their records are another member's now.
func (sub *subscription) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := sub.detach(lost[sub.topic])
	sub.giveUp(parts)
	if len(parts) > 0 {
		sub.logger.Warn("partitions lost (session expired or fenced); their in-flight records will be redelivered to their new owner", "partitions", lost[sub.topic])
	}
}

// detach removes partitions from the subscription: they take and send nothing more.
func (sub *subscription) detach(ids []int32) []*partition {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var parts []*partition
	for _, id := range ids {
		p := sub.parts[id]
		if p == nil || p.gone {
			continue
		}
		delete(sub.parts, id)
		p.gone = true
		p.backlog = nil
		close(p.stop)
		parts = append(parts, p)
	}
	return parts
}

// giveUp abandons what the partitions still have in flight; it is redelivered to whoever
// owns them next.
func (sub *subscription) giveUp(parts []*partition) {
	for _, p := range parts {
		close(p.abandon)
	}
	waitAll(parts, time.Second)
}

// stop ends the subscription: no more records are taken or sent, the messages handed out get
// CloseTimeout to be acknowledged, the watermarks are committed, the client closes and so
// does the channel.
func (sub *subscription) stop() {
	sub.stopOnce.Do(func() {
		sub.mu.Lock()
		sub.stopping = true
		sub.mu.Unlock()
		close(sub.closing)
		sub.cl.PauseFetchTopics(sub.topic)
		if !waitGroup(&sub.wg, sub.cfg.CloseTimeout) {
			sub.logger.Warn("closing with messages still unacknowledged; they will be redelivered", "waited", sub.cfg.CloseTimeout.String())
		}
		sub.commit(context.Background(), nil)
		sub.mu.Lock()
		ids := make([]int32, 0, len(sub.parts))
		for id := range sub.parts {
			ids = append(ids, id)
		}
		sub.mu.Unlock()
		sub.giveUp(sub.detach(ids))
		close(sub.abandon)
		sub.wg.Wait()
		sub.cl.Close()
		sub.loops.Wait()
		close(sub.out)
		close(sub.stopped)
	})
}

func (sub *subscription) stats() []PartitionStats {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	out := make([]PartitionStats, 0, len(sub.parts))
	for _, p := range sub.parts {
		st := PartitionStats{
			Topic: p.topic, Partition: p.id, Watermark: p.watermark, Committed: p.committed, HighWatermark: p.hwm,
			InFlight: p.inWindow(), Backlog: len(p.backlog), Oldest: p.oldest(), Advanced: p.advanced,
		}
		if p.watermark >= 0 && p.hwm > p.watermark {
			st.Lag = p.hwm - p.watermark
		}
		out = append(out, st)
	}
	return out
}

func waitAll(parts []*partition, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, p := range parts {
		waitGroup(&p.wg, time.Until(deadline))
	}
}

// waitGroup waits for wg at most timeout and says whether it finished.
func waitGroup(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(max(timeout, 0))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
