package service

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventnotify/notify/infra/platform/tracing"
	"github.com/eventnotify/notify/infra/transport/httpapi"
	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
	"github.com/eventnotify/notify/infra/transport/kafkabridge"
)

// Config is every setting. Each has a flag and an environment twin (NOTIFY_…); a flag given
// on the command line wins over the environment, which wins over the default. The settings
// struct below declares them; the secrets are environment only.
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
	// AccessLog logs one line per HTTP request (method, route, status, duration).
	AccessLog bool
	// CORSOrigins are the web pages' origins that may call the API from a browser; "*"
	// alone (any page) only without authentication.
	CORSOrigins []string
	// UIDemo serves /ui/demo with authentication on too.
	UIDemo bool
	// Tracing is where traces go and how many are kept; an empty Endpoint means off.
	Tracing tracing.Config
	// Tracer, when set, is used instead of one built from Tracing: not a setting, for the
	// tests (an in-memory recorder) and programs that embed the service.
	Tracer trace.TracerProvider
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

// settings is the service's command line: one typed field per flag, with its environment
// twin (env, always NOTIFY_ and the flag's name in capitals) and its default. The README's
// configuration table is held to these tags by TestREADMEConfigTable. flags.go parses them
// (the environment through the getenv it is given, an empty variable counting as unset);
// config turns them into a Config. The secrets have no flag: see secrets.
type settings struct {
	DataDir         string        `name:"data-dir" env:"NOTIFY_DATA_DIR" default:"./data" placeholder:"DIR" group:"stores" help:"directory of the embedded event log and read model"`
	EventStore      string        `name:"event-store" env:"NOTIFY_EVENT_STORE" default:"embedded" group:"stores" help:"event store: embedded, or an EventStoreDB connection string esdb://…"`
	ReadModel       string        `name:"read-model" env:"NOTIFY_READ_MODEL" default:"embedded" group:"stores" help:"read model: embedded, or a PostgreSQL URL postgres://… shared by several instances"`
	ReadModelSchema string        `name:"read-model-schema" env:"NOTIFY_READ_MODEL_SCHEMA" group:"stores" help:"PostgreSQL schema of the read model (created if missing); empty: the connection's default"`
	StartupTimeout  time.Duration `name:"startup-timeout" env:"NOTIFY_STARTUP_TIMEOUT" default:"30s" group:"stores" help:"how long the event store may take to answer at start before the service gives up with the reason"`

	HTTPAddr       string        `name:"http-addr" env:"NOTIFY_HTTP_ADDR" default:"127.0.0.1:8080" placeholder:"ADDR" group:"http" help:"address the HTTP API listens on"`
	Insecure       bool          `name:"insecure" env:"NOTIFY_INSECURE" default:"false" group:"http" help:"allow listening beyond loopback with no authentication"`
	RateLimit      float64       `name:"rate-limit" env:"NOTIFY_RATE_LIMIT" default:"100" group:"http" help:"requests per second per credential (API key, token subject, else client IP); 0: off"`
	RateBurst      int           `name:"rate-burst" env:"NOTIFY_RATE_BURST" default:"200" group:"http" help:"requests a credential may make at once above the rate"`
	RequestTimeout time.Duration `name:"request-timeout" env:"NOTIFY_REQUEST_TIMEOUT" default:"10s" group:"http" help:"how long one request may take before it is answered 503"`
	ReadWait       time.Duration `name:"read-wait" env:"NOTIFY_READ_WAIT" default:"2s" group:"http" help:"longest a query with Notify-Min-Position waits for the read model to reach it"`
	ReadyMaxLag    uint64        `name:"ready-max-lag" env:"NOTIFY_READY_MAX_LAG" default:"10000" group:"http" help:"/readyz answers 503 while the projection is more than this many log positions behind the head"`
	MetricsPublic  bool          `name:"metrics-public" env:"NOTIFY_METRICS_PUBLIC" default:"false" group:"http" help:"serve /metrics without credentials even when authentication is on; otherwise it takes an admin key"`
	AccessLog      bool          `name:"access-log" env:"NOTIFY_ACCESS_LOG" default:"false" group:"http" help:"log one line per HTTP request (method, route, status, duration; credentials never logged)"`
	CORSOrigins    string        `name:"cors-origins" env:"NOTIFY_CORS_ORIGINS" placeholder:"ORIGIN,…" group:"http" help:"comma-separated origins of web pages that may call the API from a browser (https://app.example.com); * alone: any page, refused with authentication on; empty: none"`
	UIDemo         bool          `name:"ui-demo" env:"NOTIFY_UI_DEMO" default:"false" group:"http" help:"serve the demo page /ui/demo with authentication on too (it is served without authentication)"`

	SSEMaxPerRecipient int           `name:"sse-max-per-recipient" env:"NOTIFY_SSE_MAX_PER_RECIPIENT" default:"5" group:"sse" help:"live streams one recipient may hold open at once; more are answered 429"`
	SSEMaxClients      int           `name:"sse-max-clients" env:"NOTIFY_SSE_MAX_CLIENTS" default:"10000" group:"sse" help:"live streams this process serves at once; more are answered 429"`
	SSEHeartbeat       time.Duration `name:"sse-heartbeat" env:"NOTIFY_SSE_HEARTBEAT" default:"15s" group:"sse" help:"how often an idle live stream sends a comment so proxies keep it open"`
	SSERing            int           `name:"sse-ring" env:"NOTIFY_SSE_RING" default:"10000" group:"sse" help:"recent events kept in memory for live streams that resume; older resumes read the log"`

	AuthAPIKeysFile    string        `name:"auth-api-keys-file" env:"NOTIFY_AUTH_API_KEYS_FILE" placeholder:"FILE" group:"auth" help:"file of API keys, one sha256hex:scope[+scope] a line"`
	AuthJWTSecretFile  string        `name:"auth-jwt-secret-file" env:"NOTIFY_AUTH_JWT_SECRET_FILE" placeholder:"FILE" group:"auth" help:"file holding the HS256 secret of recipient tokens"`
	AuthJWTJWKSFile    string        `name:"auth-jwt-jwks-file" env:"NOTIFY_AUTH_JWT_JWKS_FILE" placeholder:"FILE" group:"auth" help:"JWKS file with the RS256/ES256 public keys of recipient tokens"`
	AuthJWTJWKSURL     string        `name:"auth-jwt-jwks-url" env:"NOTIFY_AUTH_JWT_JWKS_URL" placeholder:"URL" group:"auth" help:"URL of the issuer's JWKS (https, or http to a loopback host); refreshed in the background every 10m, and on an unknown kid at most every 30s"`
	AuthJWTIssuer      string        `name:"auth-jwt-issuer" env:"NOTIFY_AUTH_JWT_ISSUER" group:"auth" help:"required iss of recipient tokens"`
	AuthJWTAudience    string        `name:"auth-jwt-audience" env:"NOTIFY_AUTH_JWT_AUDIENCE" group:"auth" help:"required aud of recipient tokens"`
	AuthJWTLeeway      time.Duration `name:"auth-jwt-leeway" env:"NOTIFY_AUTH_JWT_LEEWAY" default:"30s" group:"auth" help:"clock skew tolerated on exp and nbf, 0s to 5m"`
	KafkaBrokers       string        `name:"kafka-brokers" env:"NOTIFY_KAFKA_BROKERS" placeholder:"ADDR,…" group:"kafka" help:"comma-separated Kafka brokers; empty: no Kafka, HTTP commands only"`
	KafkaGroup         string        `name:"kafka-group" env:"NOTIFY_KAFKA_GROUP" default:"${kafka_group}" group:"kafka" help:"consumer group of the command topics"`
	KafkaTopicSend     string        `name:"kafka-topic-send" env:"NOTIFY_KAFKA_TOPIC_SEND" default:"${kafka_topic_send}" group:"kafka" help:"topic of the seed service's send payload"`
	KafkaTopicCommands string        `name:"kafka-topic-commands" env:"NOTIFY_KAFKA_TOPIC_COMMANDS" default:"${kafka_topic_commands}" group:"kafka" help:"topic of typed commands"`
	KafkaTopicEvents   string        `name:"kafka-topic-events" env:"NOTIFY_KAFKA_TOPIC_EVENTS" default:"${kafka_topic_events}" group:"kafka" help:"topic our events are published to"`
	KafkaTopicPoison   string        `name:"kafka-topic-poison" env:"NOTIFY_KAFKA_TOPIC_POISON" default:"${kafka_topic_poison}" group:"kafka" help:"topic of commands that can never succeed"`
	KafkaMaxMsgBytes   int           `name:"kafka-max-message-bytes" env:"NOTIFY_KAFKA_MAX_MESSAGE_BYTES" default:"${kafka_max_message_bytes}" group:"kafka" help:"larger commands go to the poison topic"`
	KafkaMaxInFlight   int           `name:"kafka-max-in-flight" env:"NOTIFY_KAFKA_MAX_IN_FLIGHT" default:"${kafka_max_in_flight}" group:"kafka" help:"commands of one partition handled at once; commands with one key always one after the other"`
	KafkaInstanceID    string        `name:"kafka-instance-id" env:"NOTIFY_KAFKA_INSTANCE_ID" group:"kafka" help:"static consumer-group membership id, so a restarted instance takes its partitions back at once; empty: derived from the host name and data dir; none: dynamic membership"`
	KafkaStallAfter    time.Duration `name:"kafka-stall-after" env:"NOTIFY_KAFKA_STALL_AFTER" default:"${kafka_stall_after}" group:"kafka" help:"a partition with lag whose committed offset has not moved for this long makes /readyz say degraded"`
	KafkaSASLMechanism string        `name:"kafka-sasl-mechanism" env:"NOTIFY_KAFKA_SASL_MECHANISM" group:"kafka" help:"PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL"`
	KafkaSASLUser      string        `name:"kafka-sasl-user" env:"NOTIFY_KAFKA_SASL_USER" group:"kafka" help:"SASL user"`
	KafkaSASLPassFile  string        `name:"kafka-sasl-password-file" env:"NOTIFY_KAFKA_SASL_PASSWORD_FILE" placeholder:"FILE" group:"kafka" help:"file holding the SASL password"`
	KafkaTLS           bool          `name:"kafka-tls" env:"NOTIFY_KAFKA_TLS" default:"false" group:"kafka" help:"connect to the brokers over TLS"`
	KafkaTLSCAFile     string        `name:"kafka-tls-ca-file" env:"NOTIFY_KAFKA_TLS_CA_FILE" placeholder:"FILE" group:"kafka" help:"PEM CA that signs the brokers' certificates; empty: the system's"`
	KafkaTLSCertFile   string        `name:"kafka-tls-cert-file" env:"NOTIFY_KAFKA_TLS_CERT_FILE" placeholder:"FILE" group:"kafka" help:"PEM client certificate (mutual TLS)"`
	KafkaTLSKeyFile    string        `name:"kafka-tls-key-file" env:"NOTIFY_KAFKA_TLS_KEY_FILE" placeholder:"FILE" group:"kafka" help:"PEM key of the client certificate"`

	LogLevel         string        `name:"log-level" env:"NOTIFY_LOG_LEVEL" default:"info" group:"ops" help:"debug, info, warn or error"`
	LogFormat        string        `name:"log-format" env:"NOTIFY_LOG_FORMAT" default:"text" group:"ops" help:"text or json"`
	ShutdownTimeout  time.Duration `name:"shutdown-timeout" env:"NOTIFY_SHUTDOWN_TIMEOUT" default:"15s" group:"ops" help:"how long in-flight requests may take to finish on SIGTERM"`
	PprofAddr        string        `name:"pprof-addr" env:"NOTIFY_PPROF_ADDR" placeholder:"ADDR" group:"ops" help:"address for net/http/pprof (loopback only); empty: off"`
	OTLPEndpoint     string        `name:"otlp-endpoint" env:"NOTIFY_OTLP_ENDPOINT" placeholder:"URL" group:"ops" help:"OTLP/HTTP endpoint that traces are sent to, e.g. http://collector:4318; empty: tracing off"`
	TraceSampleRatio float64       `name:"trace-sample-ratio" env:"NOTIFY_TRACE_SAMPLE_RATIO" default:"1" group:"ops" help:"share of new traces sampled (0 to 1); a trace begun upstream keeps its caller's decision"`
}

// settingDefaults are the defaults that settings takes from other packages (${name} in its
// tags).
var settingDefaults = map[string]string{
	"kafka_group":             kafkabridge.DefaultGroup,
	"kafka_topic_send":        kafkabridge.DefaultSendTopic,
	"kafka_topic_commands":    kafkabridge.DefaultCommandsTopic,
	"kafka_topic_events":      kafkabridge.DefaultEventsTopic,
	"kafka_topic_poison":      kafkabridge.DefaultPoisonTopic,
	"kafka_max_message_bytes": fmt.Sprint(kafkabridge.DefaultMaxMessageBytes),
	"kafka_max_in_flight":     fmt.Sprint(kafkabridge.DefaultMaxInFlight),
	"kafka_stall_after":       kafkabridge.DefaultStallAfter.String(),
}

// secret is a setting read from the environment only: a flag's value shows in the process
// list. Each has a file twin among the flags.
type secret struct{ env, file, help string }

// secrets are the service's environment-only settings, in the order they apply (a file
// twin is read after its variable: a secret file wins, API keys from both add up).
var secrets = []secret{
	{"NOTIFY_AUTH_API_KEYS", "auth-api-keys-file", "API keys as sha256hex:scope[+scope], comma-separated"},
	{"NOTIFY_AUTH_JWT_SECRET", "auth-jwt-secret-file", "HS256 secret of recipient tokens"},
	{"NOTIFY_KAFKA_SASL_PASSWORD", "kafka-sasl-password-file", "SASL password"},
}

// envName is the environment twin of flag.
func envName(flag string) string {
	return "NOTIFY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setting names a flag and its twin the way every message does.
func setting(flag string) string { return "--" + flag + " / " + envName(flag) }

// config turns the parsed settings and the secrets (read through getenv) into a Config, or
// says which setting cannot work and why. A secret's value is never part of a message.
func (s settings) config(getenv func(string) string) (Config, error) {
	for _, r := range []struct {
		bad        bool
		flag, want string
		value      any
	}{
		{s.ReadWait < 0, "read-wait", "must not be negative", s.ReadWait},
		{s.RateLimit < 0, "rate-limit", "must be 0 or a positive number", s.RateLimit},
		{s.RateBurst < 1, "rate-burst", "must be at least 1", s.RateBurst},
		{s.RequestTimeout <= 0, "request-timeout", "must be positive", s.RequestTimeout},
		{s.SSEMaxPerRecipient < 1, "sse-max-per-recipient", "must be at least 1", s.SSEMaxPerRecipient},
		{s.SSEMaxClients < 1, "sse-max-clients", "must be at least 1", s.SSEMaxClients},
		{s.SSEHeartbeat < 100*time.Millisecond, "sse-heartbeat", "must be at least 100ms", s.SSEHeartbeat},
		{s.SSERing < 1, "sse-ring", "must be at least 1", s.SSERing},
		{s.AuthJWTLeeway < 0 || s.AuthJWTLeeway > 5*time.Minute, "auth-jwt-leeway", "must be between 0s and 5m", s.AuthJWTLeeway},
		{s.KafkaMaxMsgBytes <= 0, "kafka-max-message-bytes", "must be positive", s.KafkaMaxMsgBytes},
		{s.KafkaMaxInFlight <= 0, "kafka-max-in-flight", "must be positive", s.KafkaMaxInFlight},
		{s.KafkaStallAfter <= 0, "kafka-stall-after", "must be positive", s.KafkaStallAfter},
		{s.LogFormat != "text" && s.LogFormat != "json", "log-format", "must be text or json", fmt.Sprintf("%q", s.LogFormat)},
		{s.TraceSampleRatio < 0 || s.TraceSampleRatio > 1, "trace-sample-ratio", "must be between 0 and 1", s.TraceSampleRatio},
	} {
		if r.bad {
			return Config{}, fmt.Errorf("%s = %v: %s", setting(r.flag), r.value, r.want)
		}
	}
	c := Config{
		HTTPAddr: s.HTTPAddr, DataDir: s.DataDir, EventStore: s.EventStore, ReadModel: s.ReadModel,
		ReadModelSchema: s.ReadModelSchema, ReadWait: s.ReadWait, ReadyMaxLag: s.ReadyMaxLag,
		LogFormat: s.LogFormat, ShutdownTimeout: s.ShutdownTimeout, StartupTimeout: s.StartupTimeout,
		PprofAddr: s.PprofAddr, Insecure: s.Insecure, RateLimit: s.RateLimit, RateBurst: s.RateBurst,
		RequestTimeout: s.RequestTimeout, MetricsPublic: s.MetricsPublic, AccessLog: s.AccessLog,
		SSE:     SSEConfig{MaxPerRecipient: s.SSEMaxPerRecipient, MaxClients: s.SSEMaxClients, Heartbeat: s.SSEHeartbeat, Ring: s.SSERing},
		Tracing: tracing.Config{Endpoint: s.OTLPEndpoint, SampleRatio: s.TraceSampleRatio},
		Kafka: kafkabridge.Config{
			Group: s.KafkaGroup, SendTopic: s.KafkaTopicSend, CommandsTopic: s.KafkaTopicCommands,
			EventsTopic: s.KafkaTopicEvents, PoisonTopic: s.KafkaTopicPoison, MaxMessageBytes: s.KafkaMaxMsgBytes,
			MaxInFlight: s.KafkaMaxInFlight, InstanceID: s.KafkaInstanceID, StallAfter: s.KafkaStallAfter,
			SASL: kafkabridge.SASL{Mechanism: s.KafkaSASLMechanism, User: s.KafkaSASLUser},
			TLS:  kafkabridge.TLS{Enabled: s.KafkaTLS, CAFile: s.KafkaTLSCAFile, CertFile: s.KafkaTLSCertFile, KeyFile: s.KafkaTLSKeyFile},
		},
		Auth: auth.Config{JWT: auth.JWTConfig{JWKSURL: s.AuthJWTJWKSURL, Issuer: s.AuthJWTIssuer, Audience: s.AuthJWTAudience, Leeway: s.AuthJWTLeeway}},
	}
	if c.LogLevel.UnmarshalText([]byte(s.LogLevel)) != nil {
		return Config{}, fmt.Errorf("%s = %q: must be debug, info, warn or error", setting("log-level"), s.LogLevel)
	}
	for _, b := range strings.Split(s.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Kafka.Brokers = append(c.Kafka.Brokers, b)
		}
	}
	origins, err := httpapi.ParseCORSOrigins(s.CORSOrigins)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", setting("cors-origins"), err)
	}
	c.CORSOrigins, c.UIDemo = origins, s.UIDemo
	if err := c.readSecrets(s, getenv); err != nil {
		return Config{}, err
	}
	if c.Tracing.Endpoint != "" {
		u, err := url.Parse(c.Tracing.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			shown := ""
			if err == nil {
				shown = fmt.Sprintf(" = %q", u.Redacted()) // a password in the URL is not shown
			}
			return Config{}, fmt.Errorf("%s%s: want an http:// or https:// URL with a host, e.g. http://collector:4318", setting("otlp-endpoint"), shown)
		}
	}
	switch c.Kafka.InstanceID {
	case "none":
		c.Kafka.InstanceID = ""
	case "":
		c.Kafka.InstanceID = defaultInstanceID(c.DataDir)
	default:
		if !validInstanceID.MatchString(c.Kafka.InstanceID) {
			return Config{}, fmt.Errorf("%s = %q: want 1 to 200 characters of [A-Za-z0-9._-]", setting("kafka-instance-id"), c.Kafka.InstanceID)
		}
	}
	return c, c.validate()
}

// readSecrets reads the environment-only secrets and the files that may hold them instead.
func (c *Config) readSecrets(s settings, getenv func(string) string) error {
	read := func(flag, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s = %q: %w", setting(flag), path, err)
		}
		return b, nil
	}
	if v := strings.TrimSpace(getenv("NOTIFY_AUTH_API_KEYS")); v != "" {
		keys, err := auth.ParseAPIKeys(v)
		if err != nil {
			return fmt.Errorf("NOTIFY_AUTH_API_KEYS: %w", err)
		}
		c.Auth.APIKeys = append(c.Auth.APIKeys, keys...)
	}
	if s.AuthAPIKeysFile != "" {
		b, err := read("auth-api-keys-file", s.AuthAPIKeysFile)
		if err != nil {
			return err
		}
		keys, err := auth.ParseAPIKeys(string(b))
		if err != nil {
			return fmt.Errorf("%s = %q: %w", setting("auth-api-keys-file"), s.AuthAPIKeysFile, err)
		}
		c.Auth.APIKeys = append(c.Auth.APIKeys, keys...)
	}
	if v := strings.TrimSpace(getenv("NOTIFY_AUTH_JWT_SECRET")); v != "" {
		c.Auth.JWT.Secret = []byte(v)
	}
	if s.AuthJWTSecretFile != "" {
		b, err := read("auth-jwt-secret-file", s.AuthJWTSecretFile)
		if err != nil {
			return err
		}
		c.Auth.JWT.Secret = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	if s.AuthJWTJWKSFile != "" {
		b, err := read("auth-jwt-jwks-file", s.AuthJWTJWKSFile)
		if err != nil {
			return err
		}
		c.Auth.JWT.JWKS = b
	}
	c.Kafka.SASL.Password = strings.TrimSpace(getenv("NOTIFY_KAFKA_SASL_PASSWORD"))
	if s.KafkaSASLPassFile != "" {
		b, err := read("kafka-sasl-password-file", s.KafkaSASLPassFile)
		if err != nil {
			return err
		}
		c.Kafka.SASL.Password = strings.TrimRight(string(b), "\r\n")
	}
	return nil
}

// ParseConfig reads the service's settings from args (its flags, as after `notify` or
// `notify serve`) and the environment (getenv) into a Config; help goes to usageOut (then
// the error is ErrHelp).
func ParseConfig(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	cl, _, err := parseCommandLine(append([]string{"serve"}, args...), getenv, usageOut)
	if err != nil {
		return Config{}, err
	}
	return cl.Serve.config(getenv)
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
	if c.AuthConfigured() && len(c.CORSOrigins) == 1 && c.CORSOrigins[0] == "*" {
		return errors.New("--cors-origins / NOTIFY_CORS_ORIGINS = \"*\" with authentication on: any web page could call the API with the tokens its visitors hold; list the origins of your pages")
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
	case len(k.Brokers) == 0 && (k.TLS.Enabled || k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.SASL.Mechanism != "" || k.SASL.User != "" || k.SASL.Password != ""):
		return errors.New("--kafka-tls / --kafka-sasl-* (or NOTIFY_KAFKA_SASL_PASSWORD) are set but --kafka-brokers is empty: Kafka is off")
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
