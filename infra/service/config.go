package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Config is every setting. Each has a flag and an environment twin (NOTIFY_…); a flag given
// on the command line wins over the environment, which wins over the default.
type Config struct {
	HTTPAddr        string
	DataDir         string
	EventStore      string
	ReadModel       string
	KafkaBrokers    string
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
}

var settings = []setting{
	{"http-addr", "NOTIFY_HTTP_ADDR", "127.0.0.1:8080", "address the HTTP API listens on", func(c *Config, v string) error { c.HTTPAddr = v; return nil }},
	{"data-dir", "NOTIFY_DATA_DIR", "./data", "directory of the embedded event log and read model", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"event-store", "NOTIFY_EVENT_STORE", "embedded", "event store: embedded", func(c *Config, v string) error { c.EventStore = v; return nil }},
	{"read-model", "NOTIFY_READ_MODEL", "embedded", "read model: embedded", func(c *Config, v string) error { c.ReadModel = v; return nil }},
	{"kafka-brokers", "NOTIFY_KAFKA_BROKERS", "", "comma-separated Kafka brokers; empty: no Kafka, HTTP commands only", func(c *Config, v string) error { c.KafkaBrokers = v; return nil }},
	{"log-level", "NOTIFY_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
		if c.LogLevel.UnmarshalText([]byte(v)) != nil {
			return errors.New("must be debug, info, warn or error")
		}
		return nil
	}},
	{"log-format", "NOTIFY_LOG_FORMAT", "text", "text or json", func(c *Config, v string) error {
		if v != "text" && v != "json" {
			return errors.New("must be text or json")
		}
		c.LogFormat = v
		return nil
	}},
	{"shutdown-timeout", "NOTIFY_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests may take to finish on SIGTERM", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = time.ParseDuration(v)
		return err
	}},
	{"pprof-addr", "NOTIFY_PPROF_ADDR", "", "address for net/http/pprof (loopback only); empty: off", func(c *Config, v string) error { c.PprofAddr = v; return nil }},
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
	case c.EventStore != "embedded":
		return fmt.Errorf("--event-store %q: this build supports only \"embedded\" (EventStoreDB support is not built yet)", c.EventStore)
	case c.ReadModel != "embedded":
		return fmt.Errorf("--read-model %q: this build supports only \"embedded\" (PostgreSQL support is not built yet)", c.ReadModel)
	case c.KafkaBrokers != "":
		return fmt.Errorf("--kafka-brokers %q: this build has no Kafka bridge yet; unset it to take commands over HTTP", c.KafkaBrokers)
	case c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case c.PprofAddr != "" && !isLoopback(c.PprofAddr):
		return fmt.Errorf("--pprof-addr %q: pprof may listen on a loopback address only (127.0.0.1:PORT, [::1]:PORT, localhost:PORT)", c.PprofAddr)
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
