package kafkabridge

import (
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// Headers a poisoned command gets beside Watermill's reason_poisoned and topic_poisoned: where
// it was read, and for one over the size limit, its size and that its body was cut.
const (
	HeaderPoisonPartition = "partition_poisoned"
	HeaderPoisonOffset    = "offset_poisoned"
	HeaderPoisonSize      = "size_poisoned"
	HeaderPoisonTruncated = "truncated_poisoned"
)

// poisonPublisher parks commands on the poison topic with where they came from. A body over
// maxPayload (the limit that made it poison) is cut to it: parked whole it could exceed the
// producer's or the broker's limit, and a park that fails is retried for ever, stalling the
// partition behind it. The whole command stays on its topic at the offset in the headers.
type poisonPublisher struct {
	message.Publisher
	maxPayload int
}

func (p poisonPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if r, ok := kafkasub.RecordFromCtx(m.Context()); ok {
			m.Metadata.Set(HeaderPoisonPartition, strconv.FormatInt(int64(r.Partition), 10))
			m.Metadata.Set(HeaderPoisonOffset, strconv.FormatInt(r.Offset, 10))
		}
		if len(m.Payload) > p.maxPayload {
			m.Metadata.Set(HeaderPoisonSize, strconv.Itoa(len(m.Payload)))
			m.Metadata.Set(HeaderPoisonTruncated, "true")
			m.Payload = m.Payload[:p.maxPayload]
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}
