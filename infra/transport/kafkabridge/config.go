package kafkabridge

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
	"go.opentelemetry.io/otel/trace"
)

// Config is how the bridge reaches Kafka and which topics it uses.
type Config struct {
	Brokers []string
	// Group is the consumer group of the command subscriptions.
	Group string
	// SendTopic carries the seed service's payload {recipientId, content, category}.
	SendTopic string
	// CommandsTopic carries typed command envelopes.
	CommandsTopic string
	// EventsTopic receives every event of the log, keyed by recipient.
	EventsTopic string
	// PoisonTopic receives commands that can never succeed, with the reason in headers.
	PoisonTopic string
	// MaxMessageBytes caps an incoming command; bigger ones are poison.
	MaxMessageBytes int
	// MaxInFlight caps the commands of one partition taken beyond its committed offset.
	MaxInFlight int
	// InstanceID makes the consumer a static group member (empty: a dynamic one).
	InstanceID string
	// StallAfter is how long a partition with lag may go without its committed offset moving
	// before the bridge reports it stalled.
	StallAfter time.Duration
	SASL       SASL
	TLS        TLS
	// Observer is told of every poisoned and every retried command (nil: nobody is); the
	// wiring sets it to the metrics registry.
	Observer Observer
	// Tracer makes each command a consumer span and each published event a producer span
	// (nil: tracing off).
	Tracer trace.TracerProvider
}

// Observer counts what the bridge does with commands that fail (infra/platform/metrics).
type Observer interface {
	// Poisoned is called once for each command parked on the poison topic, with the topic it
	// came from and the kind of reason (one of PoisonReasons).
	Poisoned(topic, reason string)
	// Retried is called for each transient failure of a command, which is then tried again
	// (retried with backoff, or after the retries, nacked and redelivered).
	Retried(topic string)
}

// SASL authenticates to the brokers. An empty Mechanism means none.
type SASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	User      string
	Password  string
}

// TLS encrypts the connection; CAFile verifies the brokers, CertFile+KeyFile authenticate us.
type TLS struct {
	Enabled  bool
	CAFile   string
	CertFile string
	KeyFile  string
}

// Defaults for the topic names and limits (README, Kafka).
const (
	DefaultGroup           = "notify"
	DefaultSendTopic       = "notifications.send-notification"
	DefaultCommandsTopic   = "notifications.commands"
	DefaultEventsTopic     = "notifications.events"
	DefaultPoisonTopic     = "notifications.commands.poison"
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxInFlight     = 1024
	DefaultStallAfter      = 30 * time.Second
)

func (c *Config) setDefaults() {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.Group, DefaultGroup)
	def(&c.SendTopic, DefaultSendTopic)
	def(&c.CommandsTopic, DefaultCommandsTopic)
	def(&c.EventsTopic, DefaultEventsTopic)
	def(&c.PoisonTopic, DefaultPoisonTopic)
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.StallAfter <= 0 {
		c.StallAfter = DefaultStallAfter
	}
}

// Validate checks the settings that can be checked without a broker.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka: no brokers")
	}
	switch c.SASL.Mechanism {
	case "":
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if c.SASL.User == "" || c.SASL.Password == "" {
			return fmt.Errorf("kafka: SASL %s needs a user and a password", c.SASL.Mechanism)
		}
	default:
		return fmt.Errorf("kafka: SASL mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.SASL.Mechanism)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("kafka: a TLS client certificate needs both the cert file and the key file")
	}
	return nil
}

// producerConfig: acks from every in-sync replica and the idempotent producer, which with
// one request in flight per connection keeps the order of a partition's messages.
func (c Config) producerConfig() (*sarama.Config, error) {
	sc, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Producer.Retry.Max = 10
	sc.Producer.Return.Successes = true
	sc.Net.MaxOpenRequests = 1
	return sc, sc.Validate()
}

// consumerOptions are the kgo client settings of the command subscriber: SASL and TLS as the
// producers have them.
func (c Config) consumerOptions() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.ClientID("notify")}
	switch c.SASL.Mechanism {
	case sarama.SASLTypePlaintext:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsMechanism()))
	case sarama.SASLTypeSCRAMSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsSha256Mechanism()))
	case sarama.SASLTypeSCRAMSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsSha512Mechanism()))
	}
	if c.TLS.Enabled {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

// clientConfig is what every client shares: version, metadata retries, SASL and TLS.
func (c Config) clientConfig() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = "notify"
	sc.Version = sarama.V3_6_0_0
	sc.Metadata.Retry.Backoff = 500 * time.Millisecond

	if c.SASL.Mechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(c.SASL.Mechanism)
		switch c.SASL.Mechanism {
		case sarama.SASLTypeSCRAMSHA256:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: xscram.HashGeneratorFcn(sha256.New)} }
		case sarama.SASLTypeSCRAMSHA512:
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: xscram.HashGeneratorFcn(sha512.New)} }
		}
	}
	if c.TLS.Enabled {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	return sc, nil
}

func (t TLS) config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka TLS CA %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// scramClient runs a SCRAM conversation for sarama.
type scramClient struct {
	hash xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }
