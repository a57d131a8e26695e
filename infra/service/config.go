package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eventnotify/notify/infra/kafkabridge"
)

// Config is every setting. Each has a flag and an environment twin (NOTIFY_…); a flag given
// on the command line wins over the environment, which wins over the default.
type Config struct {
	HTTPAddr        string
	DataDir         string
	EventStore      string
	ReadModel       string
	Kafka           kafkabridge.Config
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration
	PprofAddr       string
}

// setting describes one flag and its environment twin; the README's table is built from
// the same names.
type setting struct {
	flag, env, def, usage string
	set                   func(*Config, string) error
	// envOnly settings are secrets: no flag (it would show in the process list).
	envOnly bool
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

var settings = []setting{
	{"http-addr", "NOTIFY_HTTP_ADDR", "127.0.0.1:8080", "address the HTTP API listens on", func(c *Config, v string) error { c.HTTPAddr = v; return nil }, false},
	{"data-dir", "NOTIFY_DATA_DIR", "./data", "directory of the embedded event log and read model", func(c *Config, v string) error { c.DataDir = v; return nil }, false},
	{"event-store", "NOTIFY_EVENT_STORE", "embedded", "event store: embedded, or an EventStoreDB connection string esdb://…", func(c *Config, v string) error { c.EventStore = v; return nil }, false},
	{"read-model", "NOTIFY_READ_MODEL", "embedded", "read model: embedded", func(c *Config, v string) error { c.ReadModel = v; return nil }, false},
	{"kafka-brokers", "NOTIFY_KAFKA_BROKERS", "", "comma-separated Kafka brokers; empty: no Kafka, HTTP commands only", func(c *Config, v string) error {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.Kafka.Brokers = append(c.Kafka.Brokers, b)
			}
		}
		return nil
	}, false},
	{"kafka-group", "NOTIFY_KAFKA_GROUP", kafkabridge.DefaultGroup, "consumer group of the command topics", str(func(c *Config) *string { return &c.Kafka.Group }), false},
	{"kafka-topic-send", "NOTIFY_KAFKA_TOPIC_SEND", kafkabridge.DefaultSendTopic, "topic of the seed service's send payload", str(func(c *Config) *string { return &c.Kafka.SendTopic }), false},
	{"kafka-topic-commands", "NOTIFY_KAFKA_TOPIC_COMMANDS", kafkabridge.DefaultCommandsTopic, "topic of typed commands", str(func(c *Config) *string { return &c.Kafka.CommandsTopic }), false},
	{"kafka-topic-events", "NOTIFY_KAFKA_TOPIC_EVENTS", kafkabridge.DefaultEventsTopic, "topic our events are published to", str(func(c *Config) *string { return &c.Kafka.EventsTopic }), false},
	{"kafka-topic-poison", "NOTIFY_KAFKA_TOPIC_POISON", kafkabridge.DefaultPoisonTopic, "topic of commands that can never succeed", str(func(c *Config) *string { return &c.Kafka.PoisonTopic }), false},
	{"kafka-max-message-bytes", "NOTIFY_KAFKA_MAX_MESSAGE_BYTES", strconv.Itoa(kafkabridge.DefaultMaxMessageBytes), "larger commands go to the poison topic", func(c *Config, v string) (err error) {
		c.Kafka.MaxMessageBytes, err = strconv.Atoi(v)
		if err == nil && c.Kafka.MaxMessageBytes <= 0 {
			err = errors.New("must be positive")
		}
		return err
	}, false},
	{"kafka-sasl-mechanism", "NOTIFY_KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL", str(func(c *Config) *string { return &c.Kafka.SASL.Mechanism }), false},
	{"kafka-sasl-user", "NOTIFY_KAFKA_SASL_USER", "", "SASL user", str(func(c *Config) *string { return &c.Kafka.SASL.User }), false},
	{"", "NOTIFY_KAFKA_SASL_PASSWORD", "", "SASL password (environment only)", str(func(c *Config) *string { return &c.Kafka.SASL.Password }), true},
	{"kafka-sasl-password-file", "NOTIFY_KAFKA_SASL_PASSWORD_FILE", "", "file holding the SASL password", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return err
		}
		c.Kafka.SASL.Password = strings.TrimRight(string(b), "\r\n")
		return nil
	}, false},
	{"kafka-tls", "NOTIFY_KAFKA_TLS", "false", "connect to the brokers over TLS", func(c *Config, v string) (err error) {
		c.Kafka.TLS.Enabled, err = strconv.ParseBool(v)
		return err
	}, false},
	{"kafka-tls-ca-file", "NOTIFY_KAFKA_TLS_CA_FILE", "", "PEM CA that signs the brokers' certificates (default: the system's)", str(func(c *Config) *string { return &c.Kafka.TLS.CAFile }), false},
	{"kafka-tls-cert-file", "NOTIFY_KAFKA_TLS_CERT_FILE", "", "PEM client certificate (mutual TLS)", str(func(c *Config) *string { return &c.Kafka.TLS.CertFile }), false},
	{"kafka-tls-key-file", "NOTIFY_KAFKA_TLS_KEY_FILE", "", "PEM key of the client certificate", str(func(c *Config) *string { return &c.Kafka.TLS.KeyFile }), false},
	{"log-level", "NOTIFY_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
		if c.LogLevel.UnmarshalText([]byte(v)) != nil {
			return errors.New("must be debug, info, warn or error")
		}
		return nil
	}, false},
	{"log-format", "NOTIFY_LOG_FORMAT", "text", "text or json", func(c *Config, v string) error {
		if v != "text" && v != "json" {
			return errors.New("must be text or json")
		}
		c.LogFormat = v
		return nil
	}, false},
	{"shutdown-timeout", "NOTIFY_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may take to finish on SIGTERM", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = time.ParseDuration(v)
		return err
	}, false},
	{"pprof-addr", "NOTIFY_PPROF_ADDR", "", "address for net/http/pprof (loopback only); empty: off", func(c *Config, v string) error { c.PprofAddr = v; return nil }, false},
}

// ParseConfig reads args and the environment (getenv) into a Config.
func ParseConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("notify", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	values := make([]*string, len(settings))
	for i, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		if s.envOnly {
			values[i] = &def
			continue
		}
		values[i] = fs.String(s.flag, def, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var c Config
	for i, s := range settings {
		if err := s.set(&c, strings.TrimSpace(*values[i])); err != nil {
			if s.envOnly {
				return Config{}, fmt.Errorf("%s: %w", s.env, err) // a secret: never echo the value
			}
			return Config{}, fmt.Errorf("--%s / %s = %q: %w", s.flag, s.env, *values[i], err)
		}
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case c.HTTPAddr == "":
		return errors.New("--http-addr / NOTIFY_HTTP_ADDR must not be empty")
	case c.DataDir == "":
		return errors.New("--data-dir / NOTIFY_DATA_DIR must not be empty")
	case c.EventStore != "embedded" && !strings.HasPrefix(c.EventStore, "esdb://") && !strings.HasPrefix(c.EventStore, "esdb+discover://"):
		return errors.New("--event-store / NOTIFY_EVENT_STORE: want \"embedded\" or an esdb:// (esdb+discover://) connection string")
	case c.ReadModel != "embedded":
		return fmt.Errorf("--read-model %q: this build supports only \"embedded\" (PostgreSQL support is not built yet)", c.ReadModel)
	case c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case c.PprofAddr != "" && !isLoopback(c.PprofAddr):
		return fmt.Errorf("--pprof-addr %q: pprof may listen on a loopback address only (127.0.0.1:PORT, [::1]:PORT, localhost:PORT)", c.PprofAddr)
	}
	if len(c.Kafka.Brokers) > 0 {
		return c.Kafka.Validate()
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
