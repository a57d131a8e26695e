package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/eventnotify/notify/infra/platform/tracing"
)

func TestParseConfig_TypedSettings(t *testing.T) {
	t.Parallel()
	tests := []parseCase{
		{"new settings' defaults", nil, nil, func(c Config) bool {
			return !c.AccessLog && c.Tracing == tracing.Config{Endpoint: "", SampleRatio: 1}
		}},
		{"access log, bare switch", []string{"--access-log"}, nil, func(c Config) bool { return c.AccessLog }},
		{"CORS origins and the demo", []string{"--cors-origins", "https://app.example.com, http://localhost:5173", "--ui-demo"}, nil, func(c Config) bool {
			return strings.Join(c.CORSOrigins, " ") == "https://app.example.com http://localhost:5173" && c.UIDemo
		}},
		{"CORS from the environment, none by default", nil, map[string]string{"NOTIFY_CORS_ORIGINS": "https://a.example"}, func(c Config) bool {
			return len(c.CORSOrigins) == 1 && !c.UIDemo
		}},
		{"any origin without authentication", []string{"--cors-origins", "*"}, nil, func(c Config) bool { return c.CORSOrigins[0] == "*" }},
		{"access log, environment", nil, map[string]string{"NOTIFY_ACCESS_LOG": "true"}, func(c Config) bool { return c.AccessLog }},
		{"tracing from flags", []string{"--otlp-endpoint", "http://collector:4318", "--trace-sample-ratio=0.25"}, nil, func(c Config) bool {
			return c.Tracing == tracing.Config{Endpoint: "http://collector:4318", SampleRatio: 0.25}
		}},
		{"tracing from the environment", nil, map[string]string{"NOTIFY_OTLP_ENDPOINT": "https://otel.example:4318", "NOTIFY_TRACE_SAMPLE_RATIO": "0"}, func(c Config) bool {
			return c.Tracing == tracing.Config{Endpoint: "https://otel.example:4318", SampleRatio: 0}
		}},
		{"a switch with a value", []string{"--kafka-brokers", "a:1", "--kafka-tls=true"}, nil, func(c Config) bool { return c.Kafka.TLS.Enabled }},
		{"a switch turned off over the environment", []string{"--insecure=false"}, map[string]string{"NOTIFY_INSECURE": "true"}, func(c Config) bool { return !c.Insecure }},
		{"switches bare, in a row", []string{"--kafka-brokers", "a:1", "--kafka-tls", "--insecure", "--metrics-public"}, nil, func(c Config) bool {
			return c.Kafka.TLS.Enabled && c.Insecure && c.MetricsPublic
		}},
		// kong alone would parse an empty variable and refuse "" as a number.
		{"empty typed variables are unset", nil, map[string]string{"NOTIFY_RATE_LIMIT": "", "NOTIFY_READ_WAIT": " ", "NOTIFY_KAFKA_TLS": "", "NOTIFY_SSE_RING": ""}, func(c Config) bool {
			return c.RateLimit == 100 && c.ReadWait == 2*time.Second && !c.Kafka.TLS.Enabled && c.SSE.Ring == 10000
		}},
		{"typed values from the environment", nil, map[string]string{"NOTIFY_RATE_LIMIT": "2.5", "NOTIFY_RATE_BURST": "3", "NOTIFY_READY_MAX_LAG": "0", "NOTIFY_AUTH_JWT_LEEWAY": "0s"}, func(c Config) bool {
			return c.RateLimit == 2.5 && c.RateBurst == 3 && c.ReadyMaxLag == 0 && c.Auth.JWT.Leeway == 0
		}},
		{"a value beginning with a dash", []string{"--kafka-instance-id", "-x-"}, nil, func(c Config) bool { return c.Kafka.InstanceID == "-x-" }},
		{"flag=value and the last of two wins", []string{"--http-addr=127.0.0.1:1", "--http-addr", "127.0.0.1:2"}, nil, func(c Config) bool { return c.HTTPAddr == "127.0.0.1:2" }},
		{"the defaults from kafkabridge", nil, nil, func(c Config) bool {
			return c.Kafka.SendTopic == "notifications.send-notification" && c.Kafka.MaxMessageBytes == 65536 &&
				c.Kafka.MaxInFlight == 1024 && c.Kafka.StallAfter == 30*time.Second
		}},
		{"decimal, never octal", []string{"--sse-max-clients", "010"}, nil, func(c Config) bool { return c.SSE.MaxClients == 10 }},
	}
	checkParse(t, tests)
}

// A value of the wrong type is refused in our words, naming the flag and its twin, whether
// it came from the flag or the environment; the Go parser's text never shows.
func TestParseConfig_BadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		mention string
	}{
		{"number", []string{"--rate-limit", "lots"}, nil, `--rate-limit / NOTIFY_RATE_LIMIT: "lots" is not a number`},
		{"number from the environment", nil, map[string]string{"NOTIFY_RATE_LIMIT": "lots"}, `--rate-limit / NOTIFY_RATE_LIMIT: "lots" is not a number`},
		{"not a finite number", []string{"--rate-limit", "NaN"}, nil, `"NaN" is not a number`},
		{"infinite", []string{"--trace-sample-ratio", "+Inf"}, nil, `--trace-sample-ratio / NOTIFY_TRACE_SAMPLE_RATIO: "+Inf" is not a number`},
		{"whole number", []string{"--rate-burst", "1.5"}, nil, `--rate-burst / NOTIFY_RATE_BURST: "1.5" is not a whole number`},
		{"whole number from the environment", nil, map[string]string{"NOTIFY_SSE_MAX_CLIENTS": "many"}, `--sse-max-clients / NOTIFY_SSE_MAX_CLIENTS: "many" is not a whole number`},
		{"too big a whole number", []string{"--kafka-max-in-flight", "99999999999999999999"}, nil, "--kafka-max-in-flight / NOTIFY_KAFKA_MAX_IN_FLIGHT"},
		{"negative lag", []string{"--ready-max-lag", "-1"}, nil, `--ready-max-lag / NOTIFY_READY_MAX_LAG: "-1" is not a whole number`},
		{"duration", []string{"--read-wait", "soon"}, nil, `--read-wait / NOTIFY_READ_WAIT: "soon" is not a duration`},
		{"duration without a unit", nil, map[string]string{"NOTIFY_SSE_HEARTBEAT": "5"}, `--sse-heartbeat / NOTIFY_SSE_HEARTBEAT: "5" is not a duration`},
		{"boolean", []string{"--insecure=maybe"}, nil, `--insecure / NOTIFY_INSECURE: "maybe" is not true or false`},
		{"boolean from the environment", nil, map[string]string{"NOTIFY_KAFKA_TLS": "on"}, `--kafka-tls / NOTIFY_KAFKA_TLS: "on" is not true or false`},
		{"no value", []string{"--rate-limit"}, nil, "--rate-limit / NOTIFY_RATE_LIMIT: needs a value"},
		{"empty value", []string{"--request-timeout="}, nil, `--request-timeout / NOTIFY_REQUEST_TIMEOUT: "" is not a duration`},
		{"ratio above 1", []string{"--trace-sample-ratio", "1.5"}, nil, "--trace-sample-ratio / NOTIFY_TRACE_SAMPLE_RATIO = 1.5: must be between 0 and 1"},
		{"ratio below 0", nil, map[string]string{"NOTIFY_TRACE_SAMPLE_RATIO": "-0.1"}, "must be between 0 and 1"},
		{"endpoint without a scheme", []string{"--otlp-endpoint", "collector:4318"}, nil, "--otlp-endpoint / NOTIFY_OTLP_ENDPOINT"},
		{"endpoint of another scheme", []string{"--otlp-endpoint", "grpc://collector:4317"}, nil, "want an http:// or https:// URL with a host"},
		{"endpoint without a host", nil, map[string]string{"NOTIFY_OTLP_ENDPOINT": "http:///v1/traces"}, "--otlp-endpoint / NOTIFY_OTLP_ENDPOINT"},
		{"endpoint not a URL", []string{"--otlp-endpoint", "http://[::1"}, nil, "--otlp-endpoint / NOTIFY_OTLP_ENDPOINT: want an http"},
		{"an origin with a path", []string{"--cors-origins", "https://app.example.com/"}, nil, `--cors-origins / NOTIFY_CORS_ORIGINS: "https://app.example.com/": an origin has no path, query or fragment; browsers send "https://app.example.com"`},
		{"any origin with authentication", []string{"--cors-origins", "*"}, map[string]string{"NOTIFY_AUTH_API_KEYS": strings.Repeat("a", 64) + ":send"}, "any web page could call the API with the tokens its visitors hold"},
		{"long flag with one dash", []string{"-data-dir", "x"}, nil, "long flags take two dashes: --data-dir"},
		{"unknown flag", []string{"--rate-limits", "1"}, nil, "unknown flag --rate-limits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig(tt.args, env(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.mention)
			}
			for _, leak := range []string{"strconv.", "time:", "invalid syntax", "parse \"", "EOL"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q shows the parser's own text %q", err, leak)
				}
			}
		})
	}
}

// The endpoint's password, if it has one, stays out of the refusal.
func TestParseConfig_EndpointPasswordNotEchoed(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig([]string{"--otlp-endpoint", "ftp://u:hunter2@collector"}, env(nil), io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v, want a refusal without the password", err)
	}
}

// A secret on the command line would show in the process list: there is no such flag.
func TestParseConfig_SecretsAreNotFlags(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"--auth-api-keys", "--auth-jwt-secret", "--kafka-sasl-password", "--admin-key"} {
		_, err := ParseConfig([]string{f, "hunter2"}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "unknown flag "+f) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: err = %v, want an unknown flag", f, err)
		}
	}
	code, _, stderr := runMain(t, nil, "projections", "replay", "inbox", "--server", "http://127.0.0.1:1", "--admin-key", "hunter2")
	if code != 2 || !strings.Contains(stderr, "unknown flag --admin-key") || strings.Contains(stderr, "hunter2") {
		t.Errorf("replay --admin-key: %d %s", code, stderr)
	}
}

// The settings are read through the getenv given, never from the process environment
// (kong's own env handling would): not parallel, it sets the process's.
func TestParseConfig_OnlyTheGivenEnvironment(t *testing.T) {
	t.Setenv("NOTIFY_RATE_LIMIT", "lots")
	t.Setenv("NOTIFY_HTTP_ADDR", "0.0.0.0:1")
	c, err := ParseConfig(nil, env(nil), io.Discard)
	if err != nil || c.RateLimit != 100 || c.HTTPAddr != "127.0.0.1:8080" {
		t.Fatalf("config = %+v, %v: the process environment was read", c, err)
	}
}

func runMain(t *testing.T, e map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, env(e), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestMain_HelpUsageAndExitCodes(t *testing.T) {
	t.Parallel()
	// Help: on stdout, exit 0, every flag with its type, default and twin, and the secrets.
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--http-addr", "127.0.0.1:1", "--help"}, {"serve", "--help"}} {
		code, out, errOut := runMain(t, nil, args...)
		out = strings.Join(strings.Fields(out), " ") // help is wrapped to the width
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{
			"Usage: notify [serve] [flags]", "notify projections replay <name>", "notify check",
			"--read-wait=DURATION", "(default 2s; env NOTIFY_READ_WAIT)", "--rate-limit=FLOAT", "--rate-burst=INT",
			"--kafka-tls connect", "(default false; env NOTIFY_KAFKA_TLS)", "--access-log", "--otlp-endpoint=URL",
			"--trace-sample-ratio=FLOAT", "Environment only", "NOTIFY_AUTH_API_KEYS", "NOTIFY_AUTH_JWT_SECRET",
			"NOTIFY_KAFKA_SASL_PASSWORD",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("%v: help lacks %q:\n%s", args, want, out)
			}
		}
	}
	code, out, _ := runMain(t, nil, "projections", "--help")
	out = strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"Usage: notify projections replay <name>", "--server=URL", "env NOTIFY_SERVER", "--data-dir=DIR", "(default ./data; env NOTIFY_DATA_DIR)", "NOTIFY_ADMIN_KEY"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("projections --help: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	code, out, _ = runMain(t, nil, "check", "-h")
	if code != 0 || !strings.Contains(out, "--data-dir=DIR") || !strings.Contains(out, "Exit status 0: healthy") {
		t.Fatalf("check -h: exit %d\n%s", code, out)
	}

	for _, tt := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"--rate-limit", "lots"}, 2, `notify: --rate-limit / NOTIFY_RATE_LIMIT: "lots" is not a number`},
		{[]string{"--http-addr", "0.0.0.0:1"}, 2, "--insecure"},
		{[]string{"--bogus"}, 2, "usage: notify [serve] [flags]"},
		{[]string{"projections"}, 2, "usage: notify projections replay"},
		{[]string{"projections", "rebuild"}, 2, "usage: notify projections replay"},
		{[]string{"projections", "replay"}, 2, `expected "<name>"`},
		{[]string{"projections", "replay", "inbox", "--server", "http://127.0.0.1:1", "--data-dir", "x"}, 2, "with --server the service's own settings apply; unexpected --data-dir"},
		{[]string{"projections", "replay", "nope", "--data-dir", t.TempDir()}, 1, "no such projection"},
		{[]string{"check", "--http-addr", "x"}, 2, "usage: notify check"},
		{[]string{"--data-dir", "x", "check"}, 2, "applies to the default command"},
		{[]string{"check", "--data-dir", t.TempDir()}, 0, "healthy"},
	} {
		code, _, errOut := runMain(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.mention) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.mention)
		}
	}
}

// The grammar builds; every flag's environment twin is NOTIFY_ and its name in capitals
// (the messages rely on it), and every flag has help.
func TestSettings_Definitions(t *testing.T) {
	t.Parallel()
	k, err := newParser(&commandLine{}, env(nil), io.Discard, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = kong.Visit(k.Model, func(v kong.Visitable, next kong.Next) error {
		f, ok := v.(*kong.Flag)
		if ok && f.Name != "help" {
			n++
			if got := f.Tag.Get("env"); got != envName(f.Name) {
				t.Errorf("--%s: env %q, want %q", f.Name, got, envName(f.Name))
			}
			if f.Help == "" {
				t.Errorf("--%s has no help", f.Name)
			}
		}
		return next(nil)
	})
	// serve and projections replay take every setting; replay adds --server, check --data-dir.
	if want := 2*reflect.TypeFor[settings]().NumField() + 2; err != nil || n != want {
		t.Fatalf("visited %d flags, want %d (%v)", n, want, err)
	}
	if !errors.Is(func() error { _, err := ParseConfig([]string{"-h"}, env(nil), io.Discard); return err }(), ErrHelp) {
		t.Fatal("ParseConfig -h is not ErrHelp")
	}
}
