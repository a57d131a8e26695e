package kafkasub_test

import (
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// The suites run against the in-process Kafka-protocol broker kfake by default and against a
// real broker when KAFKA_BROKERS is set (CI starts Apache Kafka with deploy/kafka/kafka.sh).
var (
	fakeOnce    sync.Once
	fakeBrokers []string
)

func brokers(t testing.TB) []string {
	t.Helper()
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")
	}
	fakeOnce.Do(func() {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4))
		if err != nil {
			panic(err)
		}
		fakeBrokers = c.ListenAddrs()
	})
	return fakeBrokers
}

var unsafeGroupChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// newPubSub is watermill-kafka's publisher (with marshaler) and our subscriber in group.
func newPubSub(t *testing.T, marshaler kafka.MarshalerUnmarshaler, group string) (message.Publisher, message.Subscriber) {
	t.Helper()
	logger := watermill.NewSlogLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	pcfg := kafka.DefaultSaramaSyncPublisherConfig()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers(t), Marshaler: marshaler, OverwriteSaramaConfig: pcfg}, logger)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := kafkasub.NewSubscriber(kafkasub.Config{
		Brokers: brokers(t), ConsumerGroup: group, CloseTimeout: time.Second, NackResendSleep: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return pub, sub
}

// groupOf gives every test of the suite its own group (its name holds the test id), so the
// parallel tests do not rebalance one another; subscribers within one test share it.
func groupOf(t *testing.T) string {
	return unsafeGroupChars.ReplaceAllString(t.Name(), "_")
}

var features = tests.Features{
	ConsumerGroups:      true,
	ExactlyOnceDelivery: false,
	Persistent:          true,
}

// Without keys, records of a partition are handled concurrently: no order is promised.
func TestPubSub_Unkeyed(t *testing.T) {
	tests.TestPubSub(t, features,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, kafka.DefaultMarshaler{}, groupOf(t))
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, kafka.DefaultMarshaler{}, group)
		})
}

// Keyed, order holds per key. The suite's ordering cases check order per payload and give
// the same payload to the messages whose acks they withhold, so keying each message by its
// payload makes them the guarantee this subscriber gives: GuaranteedOrder, TestNoAck included.
func TestPubSub_KeyedByPayload(t *testing.T) {
	byPayload := kafka.NewWithPartitioningMarshaler(func(_ string, m *message.Message) (string, error) { return string(m.Payload), nil })
	f := features
	f.GuaranteedOrder = true
	tests.TestPubSub(t, f,
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, byPayload, groupOf(t))
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, byPayload, group)
		})
}
