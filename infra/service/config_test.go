package service

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig_Precedence(t *testing.T) {
	t.Parallel()
	tests := []parseCase{
		{"defaults", nil, nil, func(c Config) bool {
			return c.HTTPAddr == "127.0.0.1:8080" && c.DataDir == "./data" && c.EventStore == "embedded" &&
				len(c.Kafka.Brokers) == 0 && c.ShutdownTimeout == 15*time.Second && !c.MetricsPublic &&
				c.SSE == SSEConfig{MaxPerRecipient: 5, MaxClients: 10000, Heartbeat: 15 * time.Second, Ring: 10000}
		}},
		// /metrics takes an admin key by default; --metrics-public (bare or with a value) or
		// its environment twin opens it.
		{"metrics public, bare flag", []string{"--metrics-public"}, nil, func(c Config) bool { return c.MetricsPublic }},
		{"metrics public, environment", nil, map[string]string{"NOTIFY_METRICS_PUBLIC": "true"}, func(c Config) bool { return c.MetricsPublic }},
		{"metrics flag over environment", []string{"--metrics-public=false"}, map[string]string{"NOTIFY_METRICS_PUBLIC": "true"}, func(c Config) bool { return !c.MetricsPublic }},
		{"SSE from flags and environment", []string{"--sse-max-clients", "50"},
			map[string]string{"NOTIFY_SSE_MAX_PER_RECIPIENT": "2", "NOTIFY_SSE_HEARTBEAT": "1s", "NOTIFY_SSE_MAX_CLIENTS": "7"}, func(c Config) bool {
				return c.SSE.MaxPerRecipient == 2 && c.SSE.MaxClients == 50 && c.SSE.Heartbeat == time.Second
			}},
		{"environment over default", nil, map[string]string{"NOTIFY_HTTP_ADDR": "127.0.0.1:9999", "NOTIFY_SHUTDOWN_TIMEOUT": "3s"}, func(c Config) bool {
			return c.HTTPAddr == "127.0.0.1:9999" && c.ShutdownTimeout == 3*time.Second
		}},
		{"flag over environment", []string{"--http-addr", "127.0.0.1:7777"}, map[string]string{"NOTIFY_HTTP_ADDR": "127.0.0.1:9999"}, func(c Config) bool {
			return c.HTTPAddr == "127.0.0.1:7777"
		}},
		{"empty environment is unset", nil, map[string]string{"NOTIFY_HTTP_ADDR": ""}, func(c Config) bool { return c.HTTPAddr == "127.0.0.1:8080" }},
		{"kafka brokers and SASL", []string{"--kafka-brokers", " a:1, b:2 ,", "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "u"},
			map[string]string{"NOTIFY_KAFKA_SASL_PASSWORD": "s3cret"}, func(c Config) bool {
				return strings.Join(c.Kafka.Brokers, "|") == "a:1|b:2" && c.Kafka.SASL.Password == "s3cret" && c.Kafka.Group == "notify"
			}},
		{"esdb connection string", []string{"--event-store", "esdb://admin:changeit@127.0.0.1:2113?tls=false"}, nil, func(c Config) bool {
			return strings.HasPrefix(c.EventStore, "esdb://")
		}},
	}
	checkParse(t, tests)
}

func TestParseConfig_Refusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		mention string
		secret  string // must not appear in the message
	}{
		{"bad log level", []string{"--log-level", "loud"}, nil, "debug, info, warn or error", ""},
		{"bad log format", []string{"--log-format", "xml"}, nil, "text or json", ""},
		{"bad duration", []string{"--shutdown-timeout", "soon"}, nil, "--shutdown-timeout", ""},
		{"zero startup timeout", []string{"--startup-timeout", "0s"}, nil, "--startup-timeout must be positive", ""},
		{"unknown event store", []string{"--event-store", "mysql://x"}, nil, "esdb://", ""},
		{"unknown read model", []string{"--read-model", "mysql://x"}, nil, "postgres://", ""},
		{"pprof off loopback", []string{"--pprof-addr", "0.0.0.0:6060"}, nil, "loopback", ""},
		{"SASL without password", []string{"--kafka-brokers", "a:1", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u"}, nil, "needs a user and a password", ""},
		{"unknown SASL mechanism", []string{"--kafka-brokers", "a:1", "--kafka-sasl-mechanism", "GSSAPI"}, nil, "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", ""},
		{"cert without key", []string{"--kafka-brokers", "a:1", "--kafka-tls-cert-file", "c.pem"}, nil, "both the cert file and the key file", ""},
		{"stray argument", []string{"serve"}, nil, "unexpected argument serve", ""},
		{"issuer without a key", []string{"--auth-jwt-issuer", "x", "--auth-jwt-audience", "y"}, nil, "tokens would not be checked", ""},
		{"schema without PostgreSQL", []string{"--read-model-schema", "foo"}, nil, "PostgreSQL read model only", ""},
		{"Kafka TLS without brokers", []string{"--kafka-tls"}, nil, "Kafka is off", ""},
		// A switch takes no separate value: the flag package's --kafka-tls true would leave a
		// stray "true"; the refusal says how to write it.
		{"switch with a separate value", []string{"--kafka-tls", "true"}, nil, "--kafka-tls is a switch", ""},
		{"metrics-public not a boolean", []string{"--metrics-public=maybe"}, nil, "metrics-public", ""},
		{"no stream per recipient", []string{"--sse-max-per-recipient", "0"}, nil, "--sse-max-per-recipient", ""},
		{"stream limit not a number", []string{"--sse-max-clients", "many"}, nil, "--sse-max-clients", ""},
		{"negative ring", []string{"--sse-ring", "-1"}, nil, "--sse-ring", ""},
		{"heartbeat too fast", []string{"--sse-heartbeat", "1ms"}, nil, "--sse-heartbeat", ""},
		{"password file missing", []string{"--kafka-sasl-password-file", "/nonexistent/pw"}, map[string]string{"NOTIFY_KAFKA_SASL_PASSWORD": "hunter2"}, "/nonexistent/pw", "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig(tt.args, env(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.mention)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("error %q reveals a secret", err)
			}
		})
	}
}

// parseCase is a command line and environment, and what the Config they give must hold.
type parseCase struct {
	name string
	args []string
	env  map[string]string
	want func(Config) bool
}

func checkParse(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}
