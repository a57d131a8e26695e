package kafkasub

import (
	"context"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is where a consumed message came from; its context carries it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Timestamp time.Time
}

type recordKey struct{}

// RecordFromCtx returns the record a consumed message came from.
func RecordFromCtx(ctx context.Context) (Record, bool) {
	r, ok := ctx.Value(recordKey{}).(Record)
	return r, ok
}

// deliver hands one record to the router until it is acknowledged, sending it again after
// each nack; it gives up when the partition goes or the subscription stops. Records with
// its key wait for it: they start only when it is acknowledged.
func (sub *subscription) deliver(d *delivery) {
	acked := false
	defer func() {
		sub.finished(d, acked)
		d.p.wg.Done()
		sub.wg.Done()
	}()
	r := d.rec
	ctx, cancel := context.WithCancel(context.WithValue(sub.msgCtx, recordKey{}, Record{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Timestamp: r.Timestamp,
	}))
	defer cancel() // after the ack, as Watermill's subscribers do
	msg := unmarshal(r)
	msg.SetContext(ctx)
	for {
		select {
		case sub.out <- msg:
		case <-sub.closing:
			return
		case <-d.p.stop:
			return
		}
		select {
		case <-msg.Acked():
			acked = true
			return
		case <-msg.Nacked():
			if !sub.sleep(sub.cfg.NackResendSleep, d.p) {
				return
			}
			msg = msg.Copy()
			msg.SetContext(ctx)
		case <-sub.abandon:
			return
		case <-d.p.abandon:
			return
		}
	}
}

// sleep waits d unless the subscription stops or the partition goes first.
func (sub *subscription) sleep(d time.Duration, p *partition) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-sub.closing:
		return false
	case <-p.stop:
		return false
	}
}

// unmarshal reads a record with watermill-kafka's marshaler: the message UUID from its
// header, the other headers as metadata.
func unmarshal(r *kgo.Record) *message.Message {
	headers := make([]*sarama.RecordHeader, len(r.Headers))
	for i := range r.Headers {
		headers[i] = &sarama.RecordHeader{Key: []byte(r.Headers[i].Key), Value: r.Headers[i].Value}
	}
	msg, _ := kafka.DefaultMarshaler{}.Unmarshal(&sarama.ConsumerMessage{
		Headers: headers, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value,
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
	}) // it never fails
	return msg
}

// kgoLogger passes kgo's warnings and errors to slog; its info lines become debug ones.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error(msg, keyvals...)
	case kgo.LogLevelWarn:
		k.l.Warn(msg, keyvals...)
	default:
		k.l.Debug(msg, keyvals...)
	}
}
