package service

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
)

// Config is every setting. Each has a flag and an environment twin (NOTIFY_…); a flag given
// on the command line wins over the environment, which wins over the default.
type Config struct {
	HTTPAddr        string
	DataDir         string
	EventStore      string
	ReadModel       string
	ReadModelSchema string
	ReadWait        time.Duration
	ReadyMaxLag     uint64
	Kafka           kafkabridge.Config
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration
	StartupTimeout  time.Duration
	PprofAddr       string
	// Auth is who may call the HTTP API; empty means nobody is checked (loopback only).
	Auth auth.Config
	// Insecure allows serving beyond loopback with no authentication.
	Insecure       bool
	RateLimit      float64
	RateBurst      int
	RequestTimeout time.Duration
	// MetricsPublic serves /metrics without credentials even when authentication is on.
	MetricsPublic bool
	// SSE bounds and tunes the live stream (GET /v1/recipients/:recipientId/stream).
	SSE SSEConfig
}

// SSEConfig is the live stream's limits and tuning.
type SSEConfig struct {
	MaxPerRecipient int
	MaxClients      int
	Heartbeat       time.Duration
	Ring            int
}

// AuthConfigured reports whether any caller authentication is configured.
func (c Config) AuthConfigured() bool {
	return len(c.Auth.APIKeys) > 0 || len(c.Auth.JWT.Secret) > 0 || len(c.Auth.JWT.JWKS) > 0 || c.Auth.JWT.JWKSURL != ""
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
	{"read-model", "NOTIFY_READ_MODEL", "embedded", "read model: embedded, or a PostgreSQL URL postgres://… shared by several instances", func(c *Config, v string) error { c.ReadModel = v; return nil }, false},
	{"read-wait", "NOTIFY_READ_WAIT", "2s", "longest a query with Notify-Min-Position waits for the read model to reach it", func(c *Config, v string) (err error) {
		c.ReadWait, err = time.ParseDuration(v)
		if err == nil && c.ReadWait < 0 {
			err = errors.New("must not be negative")
		}
		return err
	}, false},
	{"ready-max-lag", "NOTIFY_READY_MAX_LAG", "10000", "/readyz answers 503 while the projection is more than this many log positions behind the head", func(c *Config, v string) (err error) {
		c.ReadyMaxLag, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			err = errors.New("must be a whole number")
		}
		return err
	}, false},
	{"read-model-schema", "NOTIFY_READ_MODEL_SCHEMA", "", "PostgreSQL schema of the read model (created if missing); empty: the connection's default", str(func(c *Config) *string { return &c.ReadModelSchema }), false},
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
	{"kafka-max-in-flight", "NOTIFY_KAFKA_MAX_IN_FLIGHT", strconv.Itoa(kafkabridge.DefaultMaxInFlight), "commands of one partition handled at once (commands with one key always one after the other)", func(c *Config, v string) (err error) {
		c.Kafka.MaxInFlight, err = strconv.Atoi(v)
		if err == nil && c.Kafka.MaxInFlight <= 0 {
			err = errors.New("must be positive")
		}
		return err
	}, false},
	{"kafka-instance-id", "NOTIFY_KAFKA_INSTANCE_ID", "", "static consumer-group membership id, so a restarted instance takes its partitions back at once; empty: derived from the host name and data dir; none: dynamic membership", str(func(c *Config) *string { return &c.Kafka.InstanceID }), false},
	{"kafka-stall-after", "NOTIFY_KAFKA_STALL_AFTER", kafkabridge.DefaultStallAfter.String(), "a partition with lag whose committed offset has not moved for this long makes /readyz say degraded", func(c *Config, v string) (err error) {
		c.Kafka.StallAfter, err = time.ParseDuration(v)
		if err == nil && c.Kafka.StallAfter <= 0 {
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
	{"kafka-tls", "NOTIFY_KAFKA_TLS", "false", "true: connect to the brokers over TLS (takes a value: --kafka-tls true)", func(c *Config, v string) (err error) {
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
	{"startup-timeout", "NOTIFY_STARTUP_TIMEOUT", "30s", "how long the event store may take to answer at start before the service gives up with the reason", func(c *Config, v string) (err error) {
		c.StartupTimeout, err = time.ParseDuration(v)
		return err
	}, false},
	{"", "NOTIFY_AUTH_API_KEYS", "", "API keys as sha256hex:scope[+scope], comma-separated (environment only)", addAPIKeys, true},
	{"auth-api-keys-file", "NOTIFY_AUTH_API_KEYS_FILE", "", "file of API keys, one sha256hex:scope[+scope] a line", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return err
		}
		return addAPIKeys(c, string(b))
	}, false},
	{"", "NOTIFY_AUTH_JWT_SECRET", "", "HS256 secret of recipient tokens (environment only)", func(c *Config, v string) error {
		if v != "" {
			c.Auth.JWT.Secret = []byte(v)
		}
		return nil
	}, true},
	{"auth-jwt-secret-file", "NOTIFY_AUTH_JWT_SECRET_FILE", "", "file holding the HS256 secret of recipient tokens", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return err
		}
		c.Auth.JWT.Secret = []byte(strings.TrimRight(string(b), "\r\n"))
		return nil
	}, false},
	{"auth-jwt-jwks-file", "NOTIFY_AUTH_JWT_JWKS_FILE", "", "JWKS file with the RS256/ES256 public keys of recipient tokens", func(c *Config, v string) (err error) {
		if v != "" {
			c.Auth.JWT.JWKS, err = os.ReadFile(v)
		}
		return err
	}, false},
	{"auth-jwt-jwks-url", "NOTIFY_AUTH_JWT_JWKS_URL", "", "URL of the issuer's JWKS (https, or http to a loopback host; refetched every 10m and on an unknown kid)", str(func(c *Config) *string { return &c.Auth.JWT.JWKSURL }), false},
	{"auth-jwt-issuer", "NOTIFY_AUTH_JWT_ISSUER", "", "required iss of recipient tokens", str(func(c *Config) *string { return &c.Auth.JWT.Issuer }), false},
	{"auth-jwt-audience", "NOTIFY_AUTH_JWT_AUDIENCE", "", "required aud of recipient tokens", str(func(c *Config) *string { return &c.Auth.JWT.Audience }), false},
	{"auth-jwt-leeway", "NOTIFY_AUTH_JWT_LEEWAY", "30s", "clock skew tolerated on exp and nbf", func(c *Config, v string) (err error) {
		c.Auth.JWT.Leeway, err = time.ParseDuration(v)
		if err == nil && (c.Auth.JWT.Leeway < 0 || c.Auth.JWT.Leeway > 5*time.Minute) {
			err = errors.New("must be between 0s and 5m")
		}
		return err
	}, false},
	{"insecure", "NOTIFY_INSECURE", "false", "allow listening beyond loopback with no authentication", func(c *Config, v string) (err error) {
		c.Insecure, err = strconv.ParseBool(v)
		return err
	}, false},
	{"rate-limit", "NOTIFY_RATE_LIMIT", "100", "requests per second per credential (API key, token subject, else client IP); 0: off", func(c *Config, v string) (err error) {
		c.RateLimit, err = strconv.ParseFloat(v, 64)
		if err == nil && (c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0)) {
			err = errors.New("must be 0 or a positive number")
		}
		return err
	}, false},
	{"rate-burst", "NOTIFY_RATE_BURST", "200", "requests a credential may make at once above the rate", func(c *Config, v string) (err error) {
		c.RateBurst, err = strconv.Atoi(v)
		if err == nil && c.RateBurst < 1 {
			err = errors.New("must be at least 1")
		}
		return err
	}, false},
	{"request-timeout", "NOTIFY_REQUEST_TIMEOUT", "10s", "how long one request may take before it is answered 503", func(c *Config, v string) (err error) {
		c.RequestTimeout, err = time.ParseDuration(v)
		if err == nil && c.RequestTimeout <= 0 {
			err = errors.New("must be positive")
		}
		return err
	}, false},
	{"metrics-public", "NOTIFY_METRICS_PUBLIC", "false", "serve /metrics without credentials even when authentication is on (default: an admin key)", func(c *Config, v string) (err error) {
		c.MetricsPublic, err = strconv.ParseBool(v)
		return err
	}, false},
	{"sse-max-per-recipient", "NOTIFY_SSE_MAX_PER_RECIPIENT", "5", "live streams one recipient may hold open at once; more are answered 429", positiveInt(func(c *Config) *int { return &c.SSE.MaxPerRecipient }), false},
	{"sse-max-clients", "NOTIFY_SSE_MAX_CLIENTS", "10000", "live streams this process serves at once; more are answered 429", positiveInt(func(c *Config) *int { return &c.SSE.MaxClients }), false},
	{"sse-heartbeat", "NOTIFY_SSE_HEARTBEAT", "15s", "how often an idle live stream sends a comment so proxies keep it open", func(c *Config, v string) (err error) {
		c.SSE.Heartbeat, err = time.ParseDuration(v)
		if err == nil && c.SSE.Heartbeat < 100*time.Millisecond {
			err = errors.New("must be at least 100ms")
		}
		return err
	}, false},
	{"sse-ring", "NOTIFY_SSE_RING", "10000", "recent events kept in memory for live streams that resume; older resumes read the log", positiveInt(func(c *Config) *int { return &c.SSE.Ring }), false},
	{"pprof-addr", "NOTIFY_PPROF_ADDR", "", "address for net/http/pprof (loopback only); empty: off", func(c *Config, v string) error { c.PprofAddr = v; return nil }, false},
}

func positiveInt(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) (err error) {
		*dst(c), err = strconv.Atoi(v)
		if err == nil && *dst(c) < 1 {
			err = errors.New("must be at least 1")
		}
		return err
	}
}

// boolFlags may be given bare (--insecure) as well as --insecure=true.
var boolFlags = map[string]bool{"insecure": true, "metrics-public": true}

// boolFlag is a string flag that flag.FlagSet treats as boolean.
type boolFlag string

func (b *boolFlag) String() string     { return string(*b) }
func (b *boolFlag) Set(v string) error { *b = boolFlag(v); return nil }
func (b *boolFlag) IsBoolFlag() bool   { return true }

func addAPIKeys(c *Config, spec string) error {
	keys, err := auth.ParseAPIKeys(spec)
	c.Auth.APIKeys = append(c.Auth.APIKeys, keys...)
	return err
}

// ParseConfig reads args and the environment (getenv) into a Config.
func ParseConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	fs := flag.NewFlagSet("notify", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.Usage = func() {
		fmt.Fprint(usageOut, `usage: notify [flags]                                   serve (see README.md)
       notify projections replay <name> [--server URL]     rebuild a projection (notify projections --help)
       notify check [--data-dir DIR]                      check the embedded files, the service stopped

flags (each has an environment twin, named after it):
`)
		fs.PrintDefaults()
	}
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
		if boolFlags[s.flag] {
			v := boolFlag(def)
			fs.Var(&v, s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env))
			values[i] = (*string)(&v)
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
	switch c.Kafka.InstanceID {
	case "none":
		c.Kafka.InstanceID = ""
	case "":
		c.Kafka.InstanceID = defaultInstanceID(c.DataDir)
	default:
		if !validInstanceID.MatchString(c.Kafka.InstanceID) {
			return Config{}, fmt.Errorf("--kafka-instance-id / NOTIFY_KAFKA_INSTANCE_ID = %q: want 1 to 200 characters of [A-Za-z0-9._-]", c.Kafka.InstanceID)
		}
	}
	return c, c.validate()
}

var (
	validInstanceID  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)
	instanceIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

// defaultInstanceID names this instance in the consumer group after its host and data dir:
// stable across restarts, distinct for two instances on one host (each has its own data dir).
func defaultInstanceID(dataDir string) string {
	host, _ := os.Hostname()
	host = instanceIDUnsafe.ReplaceAllString(host, "_")
	if host == "" {
		host = "host"
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("notify-%.64s-%x", host, sum[:4])
}

func (c Config) validate() error {
	switch {
	case c.HTTPAddr == "":
		return errors.New("--http-addr / NOTIFY_HTTP_ADDR must not be empty")
	case c.DataDir == "":
		return errors.New("--data-dir / NOTIFY_DATA_DIR must not be empty")
	case c.EventStore != "embedded" && !strings.HasPrefix(c.EventStore, "esdb://") && !strings.HasPrefix(c.EventStore, "esdb+discover://"):
		return errors.New("--event-store / NOTIFY_EVENT_STORE: want \"embedded\" or an esdb:// (esdb+discover://) connection string")
	case c.ReadModel != "embedded" && !strings.HasPrefix(c.ReadModel, "postgres://") && !strings.HasPrefix(c.ReadModel, "postgresql://"):
		return errors.New("--read-model / NOTIFY_READ_MODEL: want \"embedded\" or a postgres:// connection string")
	case c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case c.StartupTimeout <= 0:
		return errors.New("--startup-timeout must be positive")
	case c.PprofAddr != "" && !isLoopback(c.PprofAddr):
		return fmt.Errorf("--pprof-addr %q: pprof may listen on a loopback address only (127.0.0.1:PORT, [::1]:PORT, localhost:PORT)", c.PprofAddr)
	case !c.AuthConfigured() && !c.Insecure && !isLoopback(c.HTTPAddr):
		return fmt.Errorf("--http-addr %q is not a loopback address and no authentication is configured: set NOTIFY_AUTH_API_KEYS and/or recipient token verification (see README, Security), or pass --insecure to serve every inbox to anyone who can reach it", c.HTTPAddr)
	}
	if err := auth.Validate(c.Auth); err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	if err := c.unused(); err != nil {
		return err
	}
	if len(c.Kafka.Brokers) > 0 {
		return c.Kafka.Validate()
	}
	return nil
}

// unused refuses settings that would do nothing as configured: someone who set them expects
// an effect (an issuer without a key would leave tokens unchecked and the API open).
func (c Config) unused() error {
	j := c.Auth.JWT
	noKeys := len(j.Secret) == 0 && len(j.JWKS) == 0 && j.JWKSURL == ""
	k := c.Kafka
	switch {
	case noKeys && (j.Issuer != "" || j.Audience != ""):
		return errors.New("--auth-jwt-issuer / --auth-jwt-audience are set but no token key is (NOTIFY_AUTH_JWT_SECRET, --auth-jwt-jwks-file or --auth-jwt-jwks-url): tokens would not be checked")
	case c.ReadModelSchema != "" && c.ReadModel == "embedded":
		return errors.New("--read-model-schema applies to a PostgreSQL read model only; the read model is embedded")
	case len(k.Brokers) == 0 && (k.TLS.Enabled || k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.SASL.Mechanism != "" || k.SASL.User != ""):
		return errors.New("--kafka-tls / --kafka-sasl-* are set but --kafka-brokers is empty: Kafka is off")
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
