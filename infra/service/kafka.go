package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/query"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// kafkaLink is the Kafka bridge, once connected: brokers unreachable at start are retried
// in the background while HTTP serves (commands and reads), and /readyz says not ready.
type kafkaLink struct {
	bridge atomic.Pointer[kafkabridge.Bridge]
	mu     sync.Mutex
	since  time.Time // when the first attempt failed (zero: connected, or not tried yet)
	err    error     // the last attempt's failure
}

// Bridge returns the running bridge (nil while not connected).
func (k *kafkaLink) Bridge() *kafkabridge.Bridge { return k.bridge.Load() }

// Partitions reports the command partitions consumed (none while not connected).
func (k *kafkaLink) Partitions() []kafkasub.PartitionStats {
	if b := k.Bridge(); b != nil {
		return b.Partitions()
	}
	return nil
}

// down reports since when and why the bridge has not connected (zero time: it has).
func (k *kafkaLink) down() (time.Time, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.since, k.err
}

// startBridge runs the Kafka bridge into link (nil when no brokers are configured); the
// returned stop waits for in-flight commands to finish. Brokers that cannot be reached are
// retried with backoff (logged once, then once a minute); a refused setting fails the start.
// With lead (several instances sharing a read model), every instance consumes commands but
// only the one leading "kafka-relay" relays events, so each event is published once.
func startBridge(link *kafkaLink, cfg Config, cmds app.Commands, log kafkabridge.Log, cps kafkabridge.Checkpoints, lead leader, logger *slog.Logger) (func(), error) {
	if link == nil {
		logger.Info("no Kafka brokers configured: commands arrive over HTTP only, events are not published")
		return func() {}, nil
	}
	relayLog := log
	if lead != nil {
		relayLog = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(b *kafkabridge.Bridge) {
		link.bridge.Store(b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Run(ctx); err != nil {
				logger.Error("kafka bridge stopped", "err", err)
			}
		}()
		if lead != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lead(ctx, kafkabridge.RelayCheckpoint, func(ctx context.Context) error {
					r, err := kafkabridge.NewRelay(cfg.Kafka, log, cps, logger)
					if err != nil {
						return err
					}
					logger.Info("relaying events to Kafka: this instance leads the relay")
					return r.Run(ctx)
				})
			}()
		}
		k := cfg.Kafka
		logger.Info("kafka bridge started", "brokers", k.Brokers, "group", k.Group, "instance_id", k.InstanceID, "commands_from", []string{k.SendTopic, k.CommandsTopic},
			"events_to", k.EventsTopic, "poison_to", k.PoisonTopic, "sasl", k.SASL.Mechanism, "tls", k.TLS.Enabled)
	}
	stop := func() {
		cancel()
		wg.Wait()
		logger.Info("kafka bridge stopped")
	}
	b, err := kafkabridge.New(cfg.Kafka, cmds, relayLog, cps, logger)
	if err == nil {
		run(b)
		return stop, nil
	}
	if !errors.Is(err, kafkabridge.ErrUnreachable) {
		cancel()
		return nil, err
	}
	link.since, link.err = time.Now(), err
	logger.Warn("Kafka unreachable: serving HTTP without it, retrying in the background", "err", err)
	wg.Add(1)
	go func() {
		defer wg.Done()
		backoff, attempts, reported := 200*time.Millisecond, 1, time.Now()
		for {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			b, err := kafkabridge.New(cfg.Kafka, cmds, relayLog, cps, logger)
			attempts++
			if err == nil {
				link.mu.Lock()
				logger.Info("Kafka reached", "after", time.Since(link.since).Round(time.Millisecond).String(), "attempts", attempts)
				link.since, link.err = time.Time{}, nil
				link.mu.Unlock()
				run(b)
				return
			}
			link.mu.Lock()
			link.err = err
			link.mu.Unlock()
			if !errors.Is(err, kafkabridge.ErrUnreachable) || time.Since(reported) >= time.Minute {
				reported = time.Now()
				logger.Warn("Kafka still unreachable", "attempts", attempts, "err", err)
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}()
	return stop, nil
}

// check is the Kafka part of readiness: unreachable brokers fail it, a stalled command
// partition degrades it (and fails it).
func (k *kafkaLink) check(ctx context.Context, r *query.Readiness) {
	var st kafkaStatus
	since, err := k.down()
	if b := k.Bridge(); b != nil {
		st = kafkaReadiness(b.Stalled(time.Now()))
		since, err = b.Reachable(ctx)
	}
	if err != nil {
		st.Status, st.UnreachableSince = "unreachable", since.UTC().Format(time.RFC3339)
		r.Fail("Kafka unreachable", err)
	}
	r.Details["kafka"] = st
	if len(st.Stalled) > 0 {
		r.Fail("a Kafka command partition is stalled", nil)
	}
}

// kafkaStatus is the Kafka part of /readyz: degraded while a command partition is stalled,
// unreachable while no broker answers.
type kafkaStatus struct {
	Status           string             `json:"status"`
	UnreachableSince string             `json:"unreachableSince,omitempty"`
	Stalled          []stalledPartition `json:"stalled,omitempty"`
}

type stalledPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Lag       int64  `json:"lag"`
	Offset    int64  `json:"offset"`
	Since     string `json:"since"`
}

func kafkaReadiness(stalled []kafkasub.PartitionStats) kafkaStatus {
	st := kafkaStatus{Status: "ok"}
	for _, p := range stalled {
		st.Status = "degraded"
		st.Stalled = append(st.Stalled, stalledPartition{Topic: p.Topic, Partition: p.Partition, Lag: p.Lag, Offset: p.Watermark, Since: p.Advanced.UTC().Format(time.RFC3339)})
	}
	return st
}
